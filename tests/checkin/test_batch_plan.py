"""``checkin.batch_plan``: a door-line batch decided in arrival order, as pure data."""

from __future__ import annotations

from datetime import UTC, datetime

from checkin.answers import ScanRequest
from checkin.batch_plan import FALLBACK, plan_batch, zone_steps
from checkin.store import TicketRow, ZoneStep
from checkin.venue import GateInfo, TypeInfo, Venue, ZoneInfo

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
EVENT, HALL, VIP, TYPE = 1, 10, 11, 5
VENUE = Venue(
    EVENT,
    gates={1: GateInfo(1, "North", None, HALL), 2: GateInfo(2, "VIP", HALL, VIP)},
    zones={HALL: ZoneInfo(HALL, "Hall", 100, 0.9, 4), VIP: ZoneInfo(VIP, "VIP", 10, 0.9, 2)},
    types={TYPE: TypeInfo(TYPE, "Standard", None, True)},
    loaded_at=0.0,
)


def ticket(ticket_id: int, zone_id: int | None = None) -> TicketRow:
    checked_in = NOW if zone_id is not None else None
    return TicketRow(
        ticket_id, TYPE, "王伟", f"C{ticket_id}", "valid", 1, None, None, zone_id, checked_in
    )


def scan(
    gate: int, direction: str = "in", nonce: str = ""
) -> tuple[ScanRequest, Venue, GateInfo, datetime]:
    request = ScanRequest("S", gate, direction, nonce or f"n{id(object())}", NOW, None)
    return request, VENUE, VENUE.gates[gate], NOW


def test_a_tickets_later_scans_see_what_its_earlier_ones_left() -> None:
    first, second = ticket(7), ticket(8)
    plan = plan_batch(
        EVENT,
        [scan(1), scan(1), scan(1), scan(1, "out")],
        [first, second, first, second],
        [None, None, None, None],
    )
    answers = [a if isinstance(a, str) else (a["status"], a["reason"]) for a in plan.answers]
    assert answers == [("ok", None), ("ok", None), ("error", "already_inside"), ("ok", None)]
    assert plan.decided == [0, 1, 2, 3]
    assert [row["status"] for row in plan.logged] == ["ok", "ok", "error", "ok"]
    # Ticket 8 went in and out: moved from what was read to outside, checked in.
    read, after = plan.moves[8]
    assert (read.zone_id, after.zone_id, after.checked_in_at) == (None, None, NOW)
    assert plan.moves[7][1].zone_id == HALL
    assert (plan.enters, plan.leaves) == ({HALL: 2}, {HALL: 1})


def test_stored_answers_and_unknown_secrets_are_not_decided_here() -> None:
    stored = {"status": "ok", "nonce": "seen"}
    plan = plan_batch(EVENT, [scan(1), scan(1)], [ticket(7), None], [stored, None])
    assert plan.answers == [stored, FALLBACK]
    assert (plan.decided, plan.logged, plan.moves) == ([], [], {})


def test_zone_steps_walk_each_zone_from_its_first_tickets_shard_in_id_order() -> None:
    plan = plan_batch(EVENT, [scan(2), scan(1)], [ticket(9, HALL), ticket(6)], [None, None])
    assert zone_steps(plan, VENUE) == [
        ZoneStep(HALL, enters=1, leaves=1, start=9 % 4, count=4),
        ZoneStep(VIP, enters=1, leaves=0, start=9 % 2, count=2),
    ]
