"""Merging an offline door's queue of scans into the server's state: pure.

A door phone that lost the network kept scanning: it checked signatures
itself, let people through on its own judgement, and queued every scan with
its nonce and the time it was made. When it is back, the server replays the
queue in scan-time order through the same decision as online scans
(``checkin.rules.decide``), on the state the database holds now.

Every divergence between what the door did and what the server decides is
stored as a *conflict* and raised to the command centre; nothing is lost and
nothing is silently merged, and a conflict never moves the ticket or the
count:

- the phone let the holder in and the server refuses the scan: a ticket
  another door had already admitted (a copied code, two offline doors) points
  at the scan that admitted it first; any other refusal (the zone was full, a
  revocation the phone had not heard of) points at the scan itself;
- the phone turned the holder away and the server would have let them in
  (the phone's knowledge was stale): the holder is not inside, so the scan is
  logged refused with the phone's reason and points at itself.

Scans where both refused keep the server's reason; that is no conflict, nor
is a code that is no ticket of the event (``invalid``, ``wrong_event``).

This module is functions of plain data; ``checkin/sync.py`` loads the
inputs (under row locks) and writes the outcome in one transaction: the
merge (``reconcile_offline_scans``), the room it starts from (``room_left``)
and how a zone's net change is spread over its counters (``spread_delta``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from checkin.rules import ALREADY_INSIDE, INVALID, REASONS, Decision, GateMove, TicketState, decide


@dataclass(frozen=True)
class OfflineScan:
    #: Position in the batch; ties in ``scanned_at`` keep the batch order.
    index: int
    #: The id the scan will have in the log (allocated before the replay, so
    #: a later scan of the batch can point at an earlier one).
    scan_id: int
    ticket_id: int | None
    #: The generation signed into the secret.
    secret_generation: int
    #: A reason when the secret itself was refused (``invalid``,
    #: ``wrong_event``); the scan is then refused with it, touching nothing.
    secret_error: str | None
    move: GateMove
    scanned_at: datetime
    #: Whether the phone let the person through when it scanned.
    local_ok: bool = True
    #: The phone's reason when it refused (a reason code), if it said.
    local_reason: str | None = None


@dataclass(frozen=True)
class TicketRecord:
    state: TicketState
    #: The ok scan that last moved the ticket (what a conflict points at).
    last_scan_id: int | None


@dataclass(frozen=True)
class Outcome:
    scan: OfflineScan
    decision: Decision
    #: Where the holder was before this scan (None: outside).
    zone_before: int | None
    #: For a conflict: the scan that admitted the ticket first, or (a
    #: divergence over this scan alone) the scan's own id.
    conflict_with: int | None = None

    @property
    def conflict(self) -> bool:
        return self.conflict_with is not None


@dataclass
class Reconciliation:
    #: One per scan, in replay (scan-time) order.
    outcomes: list[Outcome] = field(default_factory=list)
    #: Final state of every ticket the batch moved.
    tickets: dict[int, TicketRecord] = field(default_factory=dict)
    #: Tickets admitted for the first time, with the scan time of that admission.
    first_admitted: dict[int, datetime] = field(default_factory=dict)
    #: Net change of each zone's inside count.
    zone_delta: dict[int, int] = field(default_factory=dict)


def reconcile_offline_scans(
    scans: Iterable[OfflineScan],
    tickets: Mapping[int, TicketRecord],
    room: Mapping[int, int | None],
    now: datetime,
) -> Reconciliation:
    """Replay ``scans`` in scan-time order on ``tickets``.

    ``room`` is how many more people each zone can take now (None: no
    limit; a zone missing from it has no limit). Validity windows are judged
    at the scan time, but never later than ``now``: a phone whose clock runs
    ahead cannot make an expired ticket valid, nor a valid one expired.
    Tickets missing from ``tickets`` are refused as ``invalid``.
    """
    result = Reconciliation()
    current = dict(tickets)
    places = dict(room)
    for scan in sorted(scans, key=lambda s: (s.scanned_at, s.index)):
        ticket_id = scan.ticket_id
        record = current.get(ticket_id) if ticket_id is not None else None
        if scan.secret_error is not None or ticket_id is None or record is None:
            # No ticket of this event: refused, and no conflict to raise about
            # a ticket (a phone checks signatures; one that let such a code
            # through is a client fault the log keeps).
            reason = scan.secret_error or INVALID
            result.outcomes.append(Outcome(scan, Decision(False, reason, None), None))
            continue
        state = record.state
        decision = decide(
            state,
            scan.secret_generation,
            scan.move,
            min(scan.scanned_at, now),
            _has_room(places, scan.move.entering),
        )
        if decision.ok and not scan.local_ok:
            # The door turned the holder away: they are not inside.
            reason = scan.local_reason if scan.local_reason in REASONS else INVALID
            refused = Decision(False, reason, state.zone_id)
            result.outcomes.append(Outcome(scan, refused, state.zone_id, scan.scan_id))
            continue
        conflict_with = None
        if not decision.ok and scan.local_ok:
            first = decision.reason == ALREADY_INSIDE and record.last_scan_id is not None
            conflict_with = record.last_scan_id if first else scan.scan_id
        result.outcomes.append(Outcome(scan, decision, state.zone_id, conflict_with))
        if not decision.ok:
            continue
        _move(places, result.zone_delta, state.zone_id, decision.zone_after)
        admitted = scan.move.direction == "in" and not state.checked_in
        if admitted and ticket_id not in result.first_admitted:
            result.first_admitted[ticket_id] = scan.scanned_at
        moved = TicketRecord(
            replace(state, zone_id=decision.zone_after, checked_in=state.checked_in or admitted),
            scan.scan_id,
        )
        current[ticket_id] = moved
        result.tickets[ticket_id] = moved
    return result


def _has_room(places: Mapping[int, int | None], zone: int | None) -> bool:
    if zone is None:
        return True
    left = places.get(zone)
    return left is None or left > 0


def _move(
    places: dict[int, int | None], delta: dict[int, int], left: int | None, entered: int | None
) -> None:
    if left == entered:
        return
    for zone, step in ((left, -1), (entered, +1)):
        if zone is None:
            continue
        delta[zone] = delta.get(zone, 0) + step
        free = places.get(zone)
        if free is not None:
            places[zone] = free - step


@dataclass
class ShardCount:
    """One zone counter as an offline replay read it (locked) and changes it."""

    zone_id: int
    shard: int
    inside: int
    cap: int | None
    changed: bool = False


def room_left(shards: Mapping[int, list[ShardCount]]) -> dict[int, int | None]:
    """How many more people each zone can take (None: no limit), from its counters."""
    room: dict[int, int | None] = {}
    for zone_id, rows in shards.items():
        if not rows or any(s.cap is None for s in rows):
            room[zone_id] = None
        else:
            room[zone_id] = sum(max((s.cap or 0) - s.inside, 0) for s in rows)
    return room


def spread_delta(rows: list[ShardCount], delta: int) -> bool:
    """Add ``delta`` people to a zone's counters: into shards with room (the
    first one when none has room left: they are inside anyway), out of shards
    with people. False when more left than were counted (the rest is dropped)."""
    while delta > 0:
        target = next((s for s in rows if s.cap is None or s.inside < s.cap), rows[0])
        target.inside += 1
        target.changed = True
        delta -= 1
    while delta < 0:
        source = next((s for s in rows if s.inside > 0), None)
        if source is None:
            return False
        source.inside -= 1
        source.changed = True
        delta += 1
    return True
