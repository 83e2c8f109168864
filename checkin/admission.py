"""Admitting people at the doors: the database around ``checkin.rules.decide``.

Two operations here: ``admit`` (one online scan; on PostgreSQL it joins
the door line, ``checkin.door_line``, which batches the scans arriving
together and falls back to ``admit_one``) and ``annul`` (undo a
recent scan); an offline door's batch is ``checkin.sync``. The venue data,
the answer's shape and the scan-log row they all share live here too.

Read, decide, apply. ``admit`` reads the ticket with no lock, decides with
the pure rule, and applies the outcome with one guarded statement that
moves the ticket only if it still holds what the decision saw (see
``checkin.store``); when another door moved it meanwhile, it reads and
decides again. So two doors scanning one ticket at the same instant admit
it once. ``tests/checkin/test_admission_race.py`` turns
``GUARD_TICKET_STATE`` off and watches tickets get admitted twice.

Idempotency. The scan log has a unique (event, nonce): the read returns the
answer stored for a nonce already logged, and the insert is ``ON CONFLICT
DO NOTHING``, so a twin request that loses the race writes nothing (its
ticket move is undone with it) and answers as the first.

Capacity without a hot row. A zone's capacity is split over a few
``zone_shards`` rows whose caps sum to it; an admission takes a place in
one shard with room (``inside < cap``, re-checked by the database), starting
at the shard the ticket id picks, so concurrent doors mostly touch
different rows. ``zone_full`` is answered only when no shard had room, and
the ticket is never moved without its place: a zone's inside count never
exceeds its capacity.

Authenticity at the speed of an index. The server stored every secret it
issued on the ticket row, so a secret found there (same event, current
generation) is genuine without checking its signature; only a secret not
found — forged, malformed, of another event, or of an older generation — is
verified with the event's keys, which then says why it is refused.

Venue data (gates, zones, ticket types) is cached per process for
``VENUE_CACHE_SECONDS``; an unknown gate or zone id reloads at once, but an
edit to an existing gate or ticket type takes up to that long to reach
other processes' door answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from checkin.rules import INVALID, ZONE_FULL, Decision, GateMove, TicketState, decide
from checkin.secrets import SecretError
from checkin.store import (
    APPLIED,
    FULL,
    TICKET_FIELDS,
    CoreShards,
    Move,
    ShardWalk,
    Store,
    TicketRow,
    hot_path,
    writing,
)
from server.alerts import raise_alert
from server.context import Muster
from server.db import Database
from server.errors import Conflict, Forbidden, InvalidRequest, NotFound
from server.fields import storable
from server.lookup import get_event
from server.models import BusMessage, Gate, Scan, Ticket, TicketType, Zone, ZoneShard, utcnow
from server.serialize import iso

log = logging.getLogger("muster.checkin")

#: The protection the race test removes: move a ticket only if it still
#: holds what the decision was taken on.
GUARD_TICKET_STATE = True

#: Reads and decisions one scan may take while other doors keep moving its
#: ticket (or taking a zone's last places) under it.
APPLY_ATTEMPTS = 20

#: How long a process trusts its copy of an event's gates, zones and types.
VENUE_CACHE_SECONDS = 2.0

#: After a zone alert was raised (or found raised), this process skips the
#: near-full/full checks of that zone for this long.
ZONE_ALERT_QUIET_SECONDS = 30.0

DIRECTIONS = ("in", "out")

TOPICS = ("headcount", "gates", "admissions")

_tickets = cast(Table, Ticket.__table__)
_scans = cast(Table, Scan.__table__)

TICKET_COLUMNS = tuple(_tickets.c[name] for name in TICKET_FIELDS)


# --- venue data ---------------------------------------------------------------


@dataclass(frozen=True)
class GateInfo:
    id: int
    name: str
    from_zone: int | None
    to_zone: int


@dataclass(frozen=True)
class ZoneInfo:
    id: int
    name: str
    capacity: int | None
    soft_warning: float
    shards: int


@dataclass(frozen=True)
class TypeInfo:
    id: int
    name: str
    zones: frozenset[int] | None
    reentry: bool


@dataclass(frozen=True)
class Venue:
    event_id: int
    gates: dict[int, GateInfo]
    zones: dict[int, ZoneInfo]
    types: dict[int, TypeInfo]
    loaded_at: float

    def gate(self, gate_id: int) -> GateInfo | None:
        return self.gates.get(gate_id)


async def load_venue(db: Database, event_id: int) -> Venue:
    started = time.monotonic()
    async with db.reading() as session:
        await get_event(session, event_id)
        gates = (await session.scalars(select(Gate).where(Gate.event_id == event_id))).all()
        zones = (await session.scalars(select(Zone).where(Zone.event_id == event_id))).all()
        types = (
            await session.scalars(select(TicketType).where(TicketType.event_id == event_id))
        ).all()
        counted = await session.execute(
            select(ZoneShard.zone_id, func.count())
            .join(Zone, Zone.id == ZoneShard.zone_id)
            .where(Zone.event_id == event_id)
            .group_by(ZoneShard.zone_id)
        )
        shard_counts = {int(zone_id): int(n) for zone_id, n in counted}
    return Venue(
        event_id=event_id,
        gates={g.id: GateInfo(g.id, g.name, g.from_zone_id, g.to_zone_id) for g in gates},
        zones={
            z.id: ZoneInfo(z.id, z.name, z.capacity, z.soft_warning, int(shard_counts.get(z.id, 0)))
            for z in zones
        },
        types={
            t.id: TypeInfo(
                t.id,
                t.name,
                None if t.zone_ids is None else frozenset(int(z) for z in t.zone_ids),
                t.reentry,
            )
            for t in types
        },
        loaded_at=started,
    )


class VenueCache:
    """Each event's venue data, per process, for ``VENUE_CACHE_SECONDS``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._venues: dict[int, Venue] = {}
        self._loading: dict[int, asyncio.Lock] = {}
        #: (zone id, alert kind) -> monotonic time until which it is not checked.
        self.quiet_zones: dict[tuple[int, str], float] = {}

    async def get(self, event_id: int, *, fresh: bool = False) -> Venue:
        asked = time.monotonic()
        venue = self._venues.get(event_id)
        if not fresh and venue is not None and asked - venue.loaded_at <= VENUE_CACHE_SECONDS:
            return venue
        # One load at a time per event: when the copy expires in a rush, the
        # 64 scans waiting on it take the one reload instead of making 64.
        async with self._loading.setdefault(event_id, asyncio.Lock()):
            venue = self._venues.get(event_id)
            if venue is not None and (
                venue.loaded_at >= asked
                or (not fresh and time.monotonic() - venue.loaded_at <= VENUE_CACHE_SECONDS)
            ):
                return venue
            venue = await load_venue(self.db, event_id)
            self._venues[event_id] = venue
        return venue

    async def gate(self, event_id: int, gate_id: int) -> tuple[Venue, GateInfo]:
        venue = await self.get(event_id)
        gate = venue.gate(gate_id)
        if gate is None:
            venue = await self.get(event_id, fresh=True)
            gate = venue.gate(gate_id)
        if gate is None:
            raise InvalidRequest(f"No gate {gate_id} in this event.", code="unknown_gate")
        return venue, gate

    def forget(self, event_id: int | None = None) -> None:
        if event_id is None:
            self._venues.clear()
        else:
            self._venues.pop(event_id, None)


def venues(ctx: Muster) -> VenueCache:
    cache = ctx.parts.get("checkin.venues")
    if not isinstance(cache, VenueCache) or cache.db is not ctx.db:
        cache = ctx.parts["checkin.venues"] = VenueCache(ctx.db)
    return cache


# --- requests and answers -------------------------------------------------------


@dataclass(frozen=True)
class ScanRequest:
    secret: str
    gate_id: int
    direction: str
    nonce: str
    scanned_at: datetime
    #: The scanning account (``Principal.account_id``).
    device_id: int | None
    #: Offline scans only: did the phone let the person through?
    local_ok: bool = True
    #: Offline scans only: the phone's reason when it refused.
    local_reason: str | None = None


#: A ticket's hot-path columns: from the store, or a Core row at sync.
AnyTicket = TicketRow | Row[Any]


@dataclass(frozen=True)
class Verdict:
    """A verified secret's ticket (or the reason the secret was refused)."""

    ticket: AnyTicket | None
    generation: int
    reason: str | None


def _ticket_json(
    row: AnyTicket | None, venue: Venue, zone_after: int | None
) -> dict[str, Any] | None:
    if row is None:
        return None
    ticket_type = venue.types.get(row.type_id)
    return {
        "id": row.id,
        "holder_name": row.holder_name,
        "code": row.code,
        "ticket_type": {"id": row.type_id, "name": ticket_type.name if ticket_type else None},
        "zone": zone_after,
        "checked_in_at": iso(row.checked_in_at),
    }


def _zone_json(venue: Venue, zone_id: int | None) -> dict[str, Any] | None:
    if zone_id is None:
        return None
    zone = venue.zones.get(zone_id)
    return {"id": zone_id, "name": zone.name if zone else None}


def answer(
    scan: ScanRequest,
    venue: Venue,
    gate: GateInfo,
    ticket: AnyTicket | None,
    decision: Decision,
    received_at: datetime,
    first_admitted_at: datetime | None = None,
) -> dict[str, Any]:
    """The answer to a scan, as returned and stored in ``scans.response``.

    ``zone`` is the zone the scan leads into (None: out of the venue);
    ``ticket.zone`` is where the holder is after the scan.
    """
    move = GateMove(gate.from_zone, gate.to_zone, scan.direction)
    body = _ticket_json(ticket, venue, decision.zone_after)
    if body is not None and first_admitted_at is not None and body["checked_in_at"] is None:
        body["checked_in_at"] = iso(first_admitted_at)
    return {
        "status": "ok" if decision.ok else "error",
        "reason": decision.reason,
        "nonce": scan.nonce,
        "gate": gate.id,
        "direction": scan.direction,
        "ticket": body,
        "zone": _zone_json(venue, move.entering),
        "scanned_at": iso(scan.scanned_at),
        "received_at": iso(received_at),
    }


# --- alerts ----------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneLevel:
    zone: ZoneInfo
    total: int
    full: bool


async def _zone_level(
    store: Store,
    ctx: Muster,
    zone: ZoneInfo | None,
    taken: tuple[int, int | None] | None,
    refused_full: bool,
) -> ZoneLevel | None:
    """Whether a zone just reached its "near full" or "full" level (alert it after commit).

    Cheap on the common path: the zone's total is summed only when the
    shard just used is itself past its slice of the warning level (when the
    zone total crosses a level, at least one shard has crossed its slice),
    and not again in this process for ``ZONE_ALERT_QUIET_SECONDS``.
    """
    if zone is None or zone.capacity is None:
        return None
    quiet = venues(ctx).quiet_zones
    now = time.monotonic()
    kinds = ("zone_full",) if refused_full else ("zone_near_full", "zone_full")
    if all(quiet.get((zone.id, kind), 0.0) > now for kind in kinds):
        return None
    if not refused_full:
        cap = taken[1] if taken is not None else None
        if taken is None or cap is None or taken[0] < math.ceil(cap * zone.soft_warning):
            return None
    total = await store.zone_total(zone.id)
    full = refused_full or total >= zone.capacity
    if not full and total < math.ceil(zone.capacity * zone.soft_warning):
        return None
    kind = "zone_full" if full else "zone_near_full"
    if quiet.get((zone.id, kind), 0.0) > now:
        return None
    quiet[(zone.id, kind)] = now + ZONE_ALERT_QUIET_SECONDS
    return ZoneLevel(zone, total, full)


async def raise_zone_alert(session: AsyncSession, event_id: int, level: ZoneLevel) -> bool:
    """Raise a zone's "zone_full" or "zone_near_full" alert (once while unacknowledged)."""
    kind = "zone_full" if level.full else "zone_near_full"
    zone = level.zone
    alert = await raise_alert(
        session,
        event_id,
        kind,
        severity="critical" if level.full else "warning",
        data={
            "zone": zone.id,
            "name": zone.name,
            "inside": level.total,
            "capacity": zone.capacity,
        },
        dedupe_key=f"{kind}:{zone.id}",
    )
    return alert is not None


# --- one online scan ---------------------------------------------------------------


def shard_walk(venue: Venue, zone_id: int | None, ticket_id: int) -> ShardWalk | None:
    """The counters of a zone, walked from the ticket's own shard (None: outside)."""
    if zone_id is None:
        return None
    zone = venue.zones.get(zone_id)
    if zone is None:
        return None
    # A zone without shard rows has no place to give: it answers zone_full.
    return ShardWalk(zone_id, ticket_id, max(zone.shards, 1))


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
    ring = await ctx.keys.ring(event_id)
    try:
        claims = ring.verify(secret)
    except SecretError as exc:
        return Verdict(None, 0, exc.reason), None
    seen = await store.read(event_id, nonce, ticket_id=claims.ticket_id)
    if seen.ticket is None:
        return Verdict(None, 0, "invalid"), seen.stored
    return Verdict(seen.ticket, claims.generation, None), seen.stored


def ticket_id_of(verdict: Verdict) -> int | None:
    return None if verdict.ticket is None else int(verdict.ticket.id)


def ticket_state(row: AnyTicket, venue: Venue) -> TicketState:
    ticket_type = venue.types.get(row.type_id)
    return TicketState(
        status=row.status,
        generation=row.generation,
        allowed_zones=ticket_type.zones if ticket_type else None,
        reentry=ticket_type.reentry if ticket_type else True,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        zone_id=row.zone_id,
        checked_in=row.checked_in_at is not None,
    )


def scan_row(
    event_id: int,
    scan: ScanRequest,
    ticket_id: int | None,
    decision: Decision,
    zone_before: int | None,
    received_at: datetime,
    response: dict[str, Any],
    *,
    offline: bool = False,
    conflict_with: int | None = None,
    scan_id: int | None = None,
) -> dict[str, Any]:
    """The scan log's row: from_zone_id is where the holder was, to_zone_id where they are."""
    row = {
        "event_id": event_id,
        "ticket_id": ticket_id,
        "gate_id": scan.gate_id,
        "device_id": scan.device_id,
        "direction": scan.direction,
        "nonce": scan.nonce,
        "scanned_at": scan.scanned_at,
        "received_at": received_at,
        "status": "ok" if decision.ok else "error",
        "reason": decision.reason,
        "from_zone_id": zone_before,
        "to_zone_id": decision.zone_after if decision.ok else zone_before,
        "offline": offline,
        "conflict_with": conflict_with,
        "annulled_at": None,
        "annulled_by": None,
        "response": response,
    }
    if scan_id is not None:
        row["id"] = scan_id
    return row


async def admit(ctx: Muster, event_id: int, scan: ScanRequest) -> dict[str, Any]:
    """Decide one online scan and apply it, exactly once per nonce.

    On PostgreSQL the scan joins this process's door line
    (``checkin.door_line``), which writes the scans arriving together in one
    batch and hands any it cannot write whole to ``admit_one``; SQLite has
    one writer anyway and takes ``admit_one`` straight.

    A scan the database could not hold never joins a batch, where it would
    fail everyone's statement: a secret with a NUL byte takes the single
    path (logged as ``invalid``), and a nonce with one is answered
    ``invalid`` at once, logged nowhere (no column can hold it; it is
    answered the same every time anyway).
    """
    if not storable(scan.nonce):
        venue, gate = await venues(ctx).gate(event_id, scan.gate_id)
        return answer(scan, venue, gate, None, Decision(False, INVALID, None), utcnow())
    if ctx.db.is_sqlite or not storable(scan.secret):
        return await admit_one(ctx, event_id, scan)
    from checkin.door_line import door_line  # it builds on this module

    return await door_line(ctx, event_id).admit(scan)


async def admit_one(ctx: Muster, event_id: int, scan: ScanRequest) -> dict[str, Any]:
    """Decide one online scan on its own and apply it, exactly once per nonce.

    Validity windows are judged at the server's clock, not the phone's.
    """
    received_at = utcnow()
    venue, gate = await venues(ctx).gate(event_id, scan.gate_id)
    move = GateMove(gate.from_zone, gate.to_zone, scan.direction)
    secret = scan.secret.strip().upper()
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
                ticket_id_of(verdict),
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
                GUARD_TICKET_STATE,
            )
            entered = venue.zones.get(move.entering or 0)
            if applied.outcome == APPLIED:
                level = await _zone_level(store, ctx, entered, applied.taken, False)
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
                level = await _zone_level(store, ctx, entered, None, True)
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


# --- annul -------------------------------------------------------------------------


async def annul(
    ctx: Muster, event_id: int, nonce: str, account_id: int, may_annul_any: bool
) -> dict[str, Any]:
    """Undo a scan by its nonce, within ``MUSTER_ANNUL_WINDOW_SECONDS``.

    The scanning device may annul its own scans; ``may_annul_any`` (command
    and organiser roles) any scan. An accepted scan's move is reversed —
    the ticket goes back where it was and the zone counts with it — provided
    the ticket has not moved since (else ``superseded``). The scan stays in
    the log, marked annulled. Annulling twice answers the same.
    """
    window = timedelta(seconds=ctx.settings.annul_window_seconds)
    venue = await venues(ctx).get(event_id)
    now = utcnow()
    async with writing(ctx.db) as conn:
        scan = (
            await conn.execute(
                select(_scans)
                .where(_scans.c.event_id == event_id, _scans.c.nonce == nonce)
                .with_for_update()
            )
        ).first()
        if scan is None:
            raise NotFound(f"No scan with nonce {nonce!r} in this event.")
        if scan.device_id != account_id and not may_annul_any:
            raise Forbidden(
                "Only the device that made a scan (or the command centre) may annul it.",
                code="not_own_scan",
            )
        if scan.annulled_at is not None:
            return _annul_answer(scan, scan.annulled_at, scan.annulled_by)
        if now - scan.received_at > window:
            raise Conflict(
                f"Scans can only be annulled within {window.total_seconds():.0f} seconds.",
                code="annul_window_passed",
            )
        moved = scan.status == "ok" and scan.ticket_id is not None
        if moved:
            checked_in = await _reverse_move(conn, venue, scan)
            # On the ``annulments`` topic (``realtime.outbox.STREAM_TOPICS``), in
            # this transaction: the door phones drop the admission at once.
            message = annulment_json(scan.id, scan.ticket_id, scan.from_zone_id, checked_in, now)
            await conn.execute(
                insert(BusMessage).values(
                    event_id=event_id, topic="annulments", payload=message, created_at=now
                )
            )
        await conn.execute(
            update(_scans)
            .where(_scans.c.id == scan.id)
            .values(annulled_at=now, annulled_by=account_id)
        )
    ctx.changed(event_id, *TOPICS, *(("annulments",) if moved else ()))
    return _annul_answer(scan, now, account_id)


def annulment_json(
    scan: int, ticket: int, zone: int | None, checked_in: bool, annulled_at: datetime
) -> dict[str, Any]:
    """An ``annulments`` message: scan ``scan`` of ``ticket`` was undone and its
    holder is now in ``zone`` (None: outside), checked in or not.

    Door phones drop the admission at once: before this topic they learnt it
    at their next offline-bundle sync, and refused the holder as already
    inside meanwhile if the network went.
    """
    return {
        "scan": scan,
        "ticket": ticket,
        "zone": zone,
        "checked_in": checked_in,
        "annulled_at": iso(annulled_at),
    }


async def _reverse_move(conn: AsyncConnection, venue: Venue, scan: Row[Any]) -> bool:
    """Put the ticket back where the scan found it; whether it is still checked in."""
    ticket = (
        await conn.execute(
            select(*TICKET_COLUMNS).where(_tickets.c.id == scan.ticket_id).with_for_update()
        )
    ).first()
    if ticket is None:
        raise NotFound(f"No ticket {scan.ticket_id}.")
    if ticket.zone_id != scan.to_zone_id:
        raise Conflict(
            "The ticket has been scanned again since; annul the later scan first.",
            code="superseded",
        )
    shards = CoreShards(conn)
    back = shard_walk(venue, scan.from_zone_id, ticket.id)
    # Touch the two zones' counters in zone-id order, like the sync's locks.
    for zone_id in sorted(z for z in (scan.to_zone_id, scan.from_zone_id) if z is not None):
        if zone_id == scan.to_zone_id and (gone := shard_walk(venue, zone_id, ticket.id)):
            if not await shards.leave(gone):
                log.warning("zone %s: an annul left it, but its shards count nobody", zone_id)
        elif back is not None and await shards.enter(back) is None:
            # The way back is "full" now; the holder was counted there
            # before this scan, so they are counted there again.
            await shards.force_into(back)
    # The first admission is whatever accepted entry from outside is left.
    first_in = await conn.scalar(
        select(func.min(_scans.c.received_at)).where(
            _scans.c.event_id == scan.event_id,
            _scans.c.ticket_id == ticket.id,
            _scans.c.id != scan.id,
            _scans.c.status == "ok",
            _scans.c.direction == "in",
            _scans.c.annulled_at.is_(None),
        )
    )
    if isinstance(first_in, str):  # an aggregate on SQLite loses the column type
        first_in = datetime.fromisoformat(first_in).replace(tzinfo=utcnow().tzinfo)
    await conn.execute(
        update(_tickets)
        .where(_tickets.c.id == ticket.id)
        .values(zone_id=scan.from_zone_id, checked_in_at=first_in)
    )
    return first_in is not None


def _annul_answer(scan: Row[Any], annulled_at: datetime, annulled_by: int | None) -> dict[str, Any]:
    return {
        "nonce": scan.nonce,
        "annulled_at": iso(annulled_at),
        "annulled_by": annulled_by,
        "scan": scan.response,
        "ticket": None
        if scan.ticket_id is None
        else {
            "id": scan.ticket_id,
            "zone": scan.from_zone_id if scan.status == "ok" else scan.to_zone_id,
        },
    }
