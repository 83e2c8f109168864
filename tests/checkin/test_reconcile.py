"""The offline merge, as pure data: order, conflicts, capacity, first admissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from checkin.reconcile import (
    OfflineScan,
    ShardCount,
    TicketRecord,
    reconcile_offline_scans,
    room_left,
    spread_delta,
)
from checkin.rules import GateMove, TicketState

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
HALL = 1
IN, OUT = GateMove(None, HALL, "in"), GateMove(None, HALL, "out")


def state(zone: int | None = None, checked_in: bool = False) -> TicketState:
    return TicketState("valid", 1, None, True, None, None, zone, checked_in)


def offline(
    i: int, ticket: int | None, move: GateMove, minutes: float, local_ok: bool = True
) -> OfflineScan:
    return OfflineScan(
        i, 100 + i, ticket, 1, None, move, NOW - timedelta(minutes=minutes), local_ok
    )


def test_replays_in_scan_time_order() -> None:
    scans = [offline(0, 7, OUT, 5), offline(1, 7, IN, 9), offline(2, 7, IN, 1)]
    result = reconcile_offline_scans(scans, {7: TicketRecord(state(), None)}, {HALL: None}, NOW)
    assert [o.scan.index for o in result.outcomes] == [1, 0, 2]
    assert all(o.decision.ok for o in result.outcomes)
    assert result.tickets[7].state.zone_id == HALL and result.tickets[7].last_scan_id == 102
    assert result.first_admitted == {7: NOW - timedelta(minutes=9)}
    assert result.zone_delta == {HALL: 1}


def test_conflict_points_at_first_admission() -> None:
    tickets = {7: TicketRecord(state(HALL, True), 55)}
    result = reconcile_offline_scans(
        [offline(0, 7, IN, 3), offline(1, 7, IN, 2, local_ok=False)], tickets, {}, NOW
    )
    first, second = result.outcomes
    assert (first.decision.reason, first.conflict_with, first.conflict) == (
        "already_inside",
        55,
        True,
    )
    assert (second.decision.reason, second.conflict) == ("already_inside", False)
    assert result.tickets == {} and result.zone_delta == {}


def test_conflict_within_the_batch() -> None:
    result = reconcile_offline_scans(
        [offline(0, 7, IN, 3), offline(1, 7, IN, 2)], {7: TicketRecord(state(), None)}, {}, NOW
    )
    assert result.outcomes[1].conflict_with == 100


def test_capacity_and_unknown_tickets() -> None:
    tickets = {t: TicketRecord(state(), None) for t in (1, 2, 3)}
    scans = [
        offline(0, 1, IN, 5),
        offline(1, 2, IN, 4),
        offline(2, 1, OUT, 3),
        offline(3, 3, IN, 2),
        offline(4, 9, IN, 1),
    ]
    scans.append(OfflineScan(5, 200, None, 0, "wrong_event", IN, NOW, True))
    result = reconcile_offline_scans(scans, tickets, {HALL: 1}, NOW)
    reasons = [o.decision.reason for o in result.outcomes]
    assert reasons == [None, "zone_full", None, None, "invalid", "wrong_event"]
    assert result.zone_delta == {HALL: 1}


def test_clock_ahead_cannot_pass_validity() -> None:
    expiring = TicketState("valid", 1, None, True, None, NOW + timedelta(minutes=1), None, False)
    ahead = OfflineScan(0, 1, 7, 1, None, IN, NOW + timedelta(hours=1), True)
    result = reconcile_offline_scans([ahead], {7: TicketRecord(expiring, None)}, {}, NOW)
    assert result.outcomes[0].decision.ok  # judged at NOW, not at the phone's future


def test_every_divergence_is_a_conflict() -> None:
    tickets = {t: TicketRecord(state(), None) for t in (1, 2, 3)}
    at = NOW - timedelta(minutes=3)
    refused_here = OfflineScan(0, 100, 1, 1, None, IN, at, False, "already_inside")
    takes_the_place = offline(2, 3, IN, 2)
    let_in_full = offline(1, 2, IN, 1)
    result = reconcile_offline_scans(
        [refused_here, let_in_full, takes_the_place], tickets, {HALL: 1}, NOW
    )
    first, second, third = sorted(result.outcomes, key=lambda o: o.scan.index)
    # The door turned the holder away (its knowledge was stale): not inside,
    # refused with the door's reason, a conflict with itself.
    assert (first.decision.ok, first.decision.reason, first.conflict_with) == (
        False,
        "already_inside",
        100,
    )
    # The door let the holder into a full zone: refused, a conflict with itself.
    assert (second.decision.reason, second.conflict_with) == ("zone_full", 101)
    assert third.decision.ok and not third.conflict
    assert list(result.tickets) == [3] and result.zone_delta == {HALL: 1}


def test_no_conflict_when_both_refuse_or_both_admit() -> None:
    tickets = {1: TicketRecord(state(HALL, True), 55), 2: TicketRecord(state(), None)}
    both_refuse = OfflineScan(0, 100, 1, 1, None, IN, NOW, False, "already_inside")
    both_admit = offline(1, 2, IN, 1)
    result = reconcile_offline_scans([both_refuse, both_admit], tickets, {}, NOW)
    assert [o.conflict for o in result.outcomes] == [False, False]
    assert result.tickets[2].state.zone_id == HALL


def shards(*counts: tuple[int, int | None]) -> list[ShardCount]:
    return [ShardCount(7, i, inside, cap) for i, (inside, cap) in enumerate(counts)]


def test_room_left_sums_the_shards_or_has_no_limit() -> None:
    assert room_left({7: shards((3, 5), (5, 5), (6, 5))}) == {7: 2}  # over a cap: no room there
    assert room_left({7: shards((3, 5), (0, None))}) == {7: None}
    assert room_left({7: []}) == {7: None}


def test_spread_delta_fills_shards_with_room_then_the_first() -> None:
    rows = shards((4, 5), (5, 5), (1, 5))
    assert spread_delta(rows, 3)
    assert [s.inside for s in rows] == [5, 5, 3]
    assert [s.changed for s in rows] == [True, False, True]
    full = shards((5, 5), (5, 5))
    assert spread_delta(full, 1)  # inside anyway: counted in the first shard
    assert [s.inside for s in full] == [6, 5]


def test_spread_delta_takes_people_out_where_there_are_some() -> None:
    rows = shards((0, 5), (2, 5), (1, 5))
    assert spread_delta(rows, -3)
    assert [s.inside for s in rows] == [0, 0, 0]
    assert [s.changed for s in rows] == [False, True, True]
    assert not spread_delta(shards((1, 5)), -2)  # one more left than was counted
