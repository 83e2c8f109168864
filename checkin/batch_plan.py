"""Deciding a door-line batch in arrival order: pure (``checkin.door_line`` writes it).

The scans that arrive together at one process are read together; each is
then decided with ``checkin.rules.decide`` in arrival order, a ticket's
later scans on the state its earlier ones left (in then in:
``already_inside``; in then out: both accepted), as if they had come one
after another. No zone is refused here: the places are taken by the write,
and when there are not enough of them the whole batch takes the single
path, which answers ``zone_full``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checkin.answers import ScanRequest, answer, scan_row, ticket_state
from checkin.rules import GateMove, decide
from checkin.store import TicketRow, ZoneStep
from checkin.venue import GateInfo, Venue

#: What a scan is told when the batch could not take it: the single path decides it.
FALLBACK = "fallback"


@dataclass
class BatchPlan:
    """What a batch writes and answers (``plan_batch``)."""

    #: Per scan, in order: its answer, or FALLBACK.
    answers: list[dict[str, Any] | str]
    #: The scans decided here (not stored answers, not FALLBACK), by index.
    decided: list[int]
    #: Scan-log rows, in arrival order.
    logged: list[dict[str, Any]]
    #: Per ticket moved: (what was read, what it is after the batch).
    moves: dict[int, tuple[TicketRow, TicketRow]]
    #: Per zone: people entering and leaving it.
    enters: dict[int, int]
    leaves: dict[int, int]
    #: Per zone: the ticket whose shard the walk starts at.
    starts: dict[int, int]


def plan_batch(
    event_id: int,
    items: list[tuple[ScanRequest, Venue, GateInfo, datetime]],
    tickets: list[TicketRow | None],
    stored: list[dict[str, Any] | None],
) -> BatchPlan:
    """Decide every scan of a batch in arrival order, as if one after another.

    ``tickets[i]`` is the ticket scan ``i``'s secret names as read (None:
    not found, the single path verifies it); ``stored[i]`` the answer
    stored for its nonce. Each scan is decided on its ticket's state after
    the batch's earlier scans of it. No zone is refused here: the places are
    taken by the write, and when there are not enough of them the whole
    batch takes the single path, which answers ``zone_full``.
    """
    plan = BatchPlan([], [], [], {}, {}, {}, {})
    now: dict[int, TicketRow] = {}
    for (scan, venue, gate, received_at), read, found in zip(items, tickets, stored, strict=True):
        if found is not None:
            plan.answers.append(found)
            continue
        if read is None:
            plan.answers.append(FALLBACK)
            continue
        row = now.setdefault(read.id, read)
        move = GateMove(gate.from_zone, gate.to_zone, scan.direction)
        decision = decide(ticket_state(row, venue), row.generation, move, received_at)
        first_in = received_at if decision.ok and scan.direction == "in" else None
        response = answer(scan, venue, gate, row, decision, received_at, first_in)
        plan.decided.append(len(plan.answers))
        plan.answers.append(response)
        plan.logged.append(
            scan_row(event_id, scan, row.id, decision, row.zone_id, received_at, response)
        )
        if not decision.ok:
            continue
        after = row.moved(decision.zone_after, row.checked_in_at or first_in)
        now[row.id] = after
        plan.moves[row.id] = (plan.moves.get(row.id, (read, read))[0], after)
        if decision.zone_after != row.zone_id:
            if decision.zone_after in venue.zones:
                plan.enters[decision.zone_after] = plan.enters.get(decision.zone_after, 0) + 1
                plan.starts.setdefault(decision.zone_after, row.id)
            if row.zone_id in venue.zones:
                plan.leaves[row.zone_id] = plan.leaves.get(row.zone_id, 0) + 1
                plan.starts.setdefault(row.zone_id, row.id)
    return plan


def zone_steps(plan: BatchPlan, venue: Venue) -> list[ZoneStep]:
    """Each zone the batch moves people into or out of, in id order (the lock order)."""
    zones = sorted(set(plan.enters) | set(plan.leaves))
    steps = []
    for zone_id in zones:
        info = venue.zones.get(zone_id)
        count = max(info.shards if info is not None else 1, 1)
        steps.append(
            ZoneStep(
                zone_id,
                plan.enters.get(zone_id, 0),
                plan.leaves.get(zone_id, 0),
                plan.starts[zone_id] % count,
                count,
            )
        )
    return steps
