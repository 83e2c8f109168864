"""Admitting people at the doors: the database around ``checkin.rules.decide``.

``admit`` takes one online scan. It joins this process's door line
(``checkin.door_line``), which batches the scans arriving together and
hands any it cannot write whole to ``admit_one``. The undo is ``checkin.annul``, an offline door's
batch ``checkin.sync``; the venue copy, the answer's shape and the zone
counters are ``checkin.venue``, ``checkin.answers`` and ``checkin.capacity``.

Read, decide, apply. ``admit_one`` reads the ticket with no lock, decides
with the pure rule, and applies the outcome with one guarded statement that
moves the ticket only if it still holds what the decision saw (see
``checkin.store``); when another door moved it meanwhile, it reads and
decides again. So two doors scanning one ticket at the same instant admit
it once. ``tests/checkin/test_admission_race.py`` turns
``checkin.store.guard.GUARD_TICKET_STATE`` off and watches tickets get admitted
twice.

Idempotency. The scan log has a unique (event, nonce): the read returns the
answer stored for a nonce already logged, and the insert is ``ON CONFLICT
DO NOTHING``, so a twin request that loses the race writes nothing (its
ticket move is undone with it) and answers as the first.

Authenticity at the speed of an index. The server stored every secret it
issued on the ticket row, so a secret found there (same event, current
generation) is genuine without checking its signature; only a secret not
found — forged, malformed, of another event, or of an older generation — is
verified with the event's keys, which then says why it is refused.
"""

from __future__ import annotations

from typing import Any, cast

from checkin.answers import TOPICS, ScanRequest, Verdict, answer, scan_row, ticket_state
from checkin.capacity import ZoneLevel, raise_zone_alert, shard_walk, zone_alert_level
from checkin.door_line import DoorLine
from checkin.rules import INVALID, ZONE_FULL, Decision, GateMove, decide
from checkin.secrets import SecretError, secret_text
from checkin.store import APPLIED, FULL, Move, Store, TicketRow, hot_path
from checkin.venue import venues
from server.context import Muster, Slot
from server.errors import Conflict
from server.features.keys import key_store
from server.fields import storable
from server.models import utcnow

#: Reads and decisions one scan may take while other doors keep moving its
#: ticket (or taking a zone's last places) under it.
APPLY_ATTEMPTS = 20


async def admit(ctx: Muster, event_id: int, scan: ScanRequest) -> dict[str, Any]:
    """Decide one online scan and apply it, exactly once per nonce.

    The scan joins this process's door line (``checkin.door_line``), which
    writes the scans arriving together in one batch and hands any it cannot
    write whole to ``admit_one``.

    A scan the database could not hold never joins a batch, where it would
    fail everyone's statement: a secret with a NUL byte takes the single
    path (logged as ``invalid``), and a nonce with one is answered
    ``invalid`` at once, logged nowhere (no column can hold it; it is
    answered the same every time anyway).
    """
    if not storable(scan.nonce):
        venue, gate = await venues(ctx).gate(event_id, scan.gate_id)
        return answer(scan, venue, gate, None, Decision(False, INVALID, None), utcnow())
    if not storable(scan.secret):
        return await admit_one(ctx, event_id, scan)
    return await door_line(ctx, event_id).admit(scan)


#: This process's door lines in ``Muster.parts``, by event (made on first use).
DOOR_LINES: Slot[dict[int, DoorLine]] = Slot("checkin.door_lines")


def door_line(ctx: Muster, event_id: int) -> DoorLine:
    """This process's line for an event, falling back to ``admit_one``."""
    lines = ctx.part(DOOR_LINES)
    if lines is None:
        lines = ctx.keep(DOOR_LINES, {})
    line = lines.get(event_id)
    if line is None:
        line = lines[event_id] = DoorLine(ctx, event_id, admit_one)
    return line


async def _verify(
    store: Store, ctx: Muster, event_id: int, secret: str, nonce: str
) -> tuple[Verdict, dict[str, Any] | None]:
    """The ticket a secret belongs to (or why it is refused), and the nonce's stored answer."""
    if not storable(secret):  # no ticket has it, and the database cannot look for it
        seen = await store.read(event_id, nonce)
        return Verdict(None, 0, INVALID), seen.stored
    seen = await store.read(event_id, nonce, secret=secret)
    if seen.stored is not None or seen.ticket is not None:
        row = seen.ticket
        return Verdict(row, row.generation if row else 0, None), seen.stored
    ring = await key_store(ctx).ring(event_id)
    try:
        claims = ring.verify(secret)
    except SecretError as exc:
        return Verdict(None, 0, exc.reason), None
    seen = await store.read(event_id, nonce, ticket_id=claims.ticket_id)
    if seen.ticket is None:
        return Verdict(None, 0, "invalid"), seen.stored
    return Verdict(seen.ticket, claims.generation, None), seen.stored


async def admit_one(ctx: Muster, event_id: int, scan: ScanRequest) -> dict[str, Any]:
    """Decide one online scan on its own and apply it, exactly once per nonce.

    Validity windows are judged at the server's clock, not the phone's.
    """
    received_at = utcnow()
    cache = venues(ctx)
    venue, gate = await cache.gate(event_id, scan.gate_id)
    move = GateMove(gate.from_zone, gate.to_zone, scan.direction)
    secret = secret_text(scan.secret)
    level: ZoneLevel | None = None
    async with hot_path(ctx.db) as store:
        for _attempt in range(APPLY_ATTEMPTS):
            verdict, stored = await _verify(store, ctx, event_id, secret, scan.nonce)
            if stored is not None:
                return stored
            row = cast(TicketRow | None, verdict.ticket)  # the store's rows, not Core's
            state = None if row is None else ticket_state(row, venue)
            if row is None or state is None:
                decision = Decision(False, verdict.reason or "invalid", None)
            else:
                decision = decide(state, verdict.generation, move, received_at)
            first_in = received_at if decision.ok and scan.direction == "in" else None
            response = answer(scan, venue, gate, row, decision, received_at, first_in)
            values = scan_row(
                event_id,
                scan,
                verdict.ticket_id,
                decision,
                row.zone_id if row is not None else None,
                received_at,
                response,
            )
            if row is None or state is None or not decision.ok:
                if await store.log(values) is None:
                    continue  # a twin request logged the nonce: the next read answers
                break
            moving = decision.zone_after != row.zone_id
            applied = await store.apply(
                values,
                Move(
                    seen=row,
                    zone_after=decision.zone_after,
                    first_in=first_in,
                    enter=shard_walk(venue, decision.zone_after, row.id) if moving else None,
                    leave=shard_walk(venue, row.zone_id, row.id) if moving else None,
                ),
            )
            entered = venue.zones.get(move.entering or 0)
            if applied.outcome == APPLIED:
                level = await zone_alert_level(store, cache, entered, applied.taken, False)
                break
            if applied.outcome == FULL:
                decision = decide(state, verdict.generation, move, received_at, False)
                assert decision.reason == ZONE_FULL
                response = answer(scan, venue, gate, row, decision, received_at)
                values = scan_row(
                    event_id, scan, row.id, decision, row.zone_id, received_at, response
                )
                if await store.log(values) is None:
                    continue
                level = await zone_alert_level(store, cache, entered, None, True)
                break
            # STALE (another door moved the ticket) or REPEATED: read again.
        else:
            raise Conflict("This ticket is being scanned at other doors; send the scan again.")
    alerted = False
    if level is not None:
        async with ctx.db.writing() as session:
            alerted = await raise_zone_alert(session, event_id, level)
    ctx.changed(event_id, *TOPICS, *(("alerts",) if alerted else ()))
    return response
