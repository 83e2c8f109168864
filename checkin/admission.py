"""Admitting people at the doors: the database around ``checkin.rules.decide``.

Three operations, each one transaction: ``admit`` (one online scan),
``replay_offline`` (a batch from a door that was offline) and ``annul``
(undo a recent scan).

Exactly once. The ticket row is locked (``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite every write transaction of the process already holds
``Database.write_lock``) before the decision is taken on its state, so two
doors scanning one ticket at the same instant are serialised and the second
sees the first's result. ``tests/checkin/test_admission_race.py`` turns
``LOCK_TICKETS`` off and watches tickets get admitted twice.

Idempotency. The scan log has a unique (event, nonce); the scan row is
inserted last with ``ON CONFLICT DO NOTHING``. When nothing was inserted, a
scan with that nonce already exists (a retry, or a twin request that won the
race): the transaction is rolled back, undoing whatever this attempt
changed, and the stored first answer is returned.

Capacity without a hot row. A zone's capacity is split over a few
``zone_shards`` rows whose caps sum to it; an admission increments one
shard with a conditional ``UPDATE … WHERE inside < cap``, starting at the
shard the ticket id picks and falling back to the others in turn, so
concurrent doors mostly touch different rows. ``zone_full`` is answered only
when no shard has room, so the bound is exact: a zone's inside count never
exceeds its capacity, and a place anywhere in the zone is found. Shard rows
are locked one zone at a time in zone-id order (and the ticket first), so
two scans cannot wait on each other in a cycle.

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

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from checkin.reconcile import OfflineScan, Reconciliation, TicketRecord, reconcile_offline_scans
from checkin.rules import ZONE_FULL, Decision, GateMove, TicketState, decide
from checkin.secrets import SecretError
from checkin.store import MOVE_TICKET, TICKET_FIELDS, CoreStore, Store, TicketRow, hot_path, writing
from server.alerts import raise_alert
from server.context import Muster
from server.db import Database
from server.errors import Conflict, Forbidden, InvalidRequest, NotFound
from server.models import Event, Gate, Scan, Ticket, TicketType, Zone, ZoneShard, utcnow
from server.serialize import iso

log = logging.getLogger("muster.checkin")

#: The protection the race test removes: lock the ticket row before deciding.
LOCK_TICKETS = True

#: How long a process trusts its copy of an event's gates, zones and types.
VENUE_CACHE_SECONDS = 2.0

#: After a zone alert was raised (or found raised), this process skips the
#: near-full/full checks of that zone for this long.
ZONE_ALERT_QUIET_SECONDS = 30.0

DIRECTIONS = ("in", "out")

TOPICS = ("headcount", "gates", "admissions")


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
    async with db.reading() as session:
        if await session.get(Event, event_id) is None:
            raise NotFound(f"No event {event_id}.")
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
        loaded_at=time.monotonic(),
    )


class VenueCache:
    """Each event's venue data, per process, for ``VENUE_CACHE_SECONDS``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._venues: dict[int, Venue] = {}
        #: (zone id, alert kind) -> monotonic time until which it is not checked.
        self.quiet_zones: dict[tuple[int, str], float] = {}

    async def get(self, event_id: int, *, fresh: bool = False) -> Venue:
        venue = self._venues.get(event_id)
        if fresh or venue is None or time.monotonic() - venue.loaded_at > VENUE_CACHE_SECONDS:
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


# --- SQL pieces -----------------------------------------------------------------

_tickets = cast(Table, Ticket.__table__)
_scans = cast(Table, Scan.__table__)
_shards = cast(Table, ZoneShard.__table__)

_TICKET_COLUMNS = tuple(_tickets.c[name] for name in TICKET_FIELDS)


def _lock(query: Any) -> Any:
    return query.with_for_update() if LOCK_TICKETS else query


def _insert_scans(dialect: str) -> Any:
    """INSERT INTO scans … ON CONFLICT (event_id, nonce) DO NOTHING RETURNING id."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(_scans)
        .on_conflict_do_nothing(index_elements=["event_id", "nonce"])
        .returning(_scans.c.id)
    )


class _Repeated(Exception):
    """A scan with this nonce exists: roll back, answer with the stored one."""


async def _stored_answer(db: Database, event_id: int, nonce: str) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        response = await conn.scalar(
            select(_scans.c.response).where(_scans.c.event_id == event_id, _scans.c.nonce == nonce)
        )
    if response is None:  # pragma: no cover - only if the row was deleted meanwhile
        raise Conflict("The scan with this nonce disappeared; send it again.")
    stored: dict[str, Any] = dict(response)
    return stored


# --- shards -----------------------------------------------------------------------


async def _enter(store: Store, zone: ZoneInfo, start: int) -> tuple[int, int | None] | None:
    """Take a place in ``zone``: (the shard's new inside, its cap), or None when full."""
    for step in range(zone.shards):
        taken = await store.enter_shard(zone.id, (start + step) % zone.shards)
        if taken is not None:
            return taken
    return None


async def _leave(store: Store, zone: ZoneInfo, start: int) -> None:
    for step in range(zone.shards):
        if await store.leave_shard(zone.id, (start + step) % zone.shards):
            return
    log.warning("zone %s: a ticket left but its shards count nobody inside", zone.id)


async def _force_into(store: Store, zone: ZoneInfo, start: int) -> None:
    """Count one more person in ``zone`` whatever its caps (undoing a departure)."""
    if zone.shards:
        await store.force_into_shard(zone.id, start % zone.shards)


async def move_between_zones(
    store: Store, venue: Venue, left: int | None, entered: int | None, start: int
) -> tuple[bool, tuple[int, int | None] | None]:
    """Move one person's count from ``left`` to ``entered`` (either may be None).

    Shards are touched in zone-id order (deadlock freedom). Returns whether
    it succeeded (False: ``entered`` is full; nothing changed) and the
    entered shard's (inside, cap).
    """
    if left == entered:
        return True, None
    steps = sorted(z for z in (left, entered) if z is not None and z in venue.zones)
    taken: tuple[int, int | None] | None = None
    left_done = False
    for zone_id in steps:
        zone = venue.zones[zone_id]
        if zone_id == entered:
            taken = await _enter(store, zone, start)
            if taken is None:
                if left_done and left is not None:
                    await _force_into(store, venue.zones[left], start)
                return False, None
        else:
            await _leave(store, zone, start)
            left_done = True
    return True, taken


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
    state = "full" if level.full else "nearly full"
    zone = level.zone
    alert = await raise_alert(
        session,
        event_id,
        kind,
        f"{zone.name} is {state} ({level.total}/{zone.capacity}).",
        severity="critical" if level.full else "warning",
        data={"zone": zone.id, "inside": level.total, "capacity": zone.capacity},
        dedupe_key=f"{kind}:{zone.id}",
    )
    return alert is not None


# --- one online scan ---------------------------------------------------------------


async def _verify(store: Store, ctx: Muster, event_id: int, secret: str) -> Verdict:
    """Find the ticket a secret belongs to (locked), or why the secret is refused."""
    text = secret.strip().upper()
    row = await store.ticket_by_secret(event_id, text, LOCK_TICKETS)
    if row is not None:
        return Verdict(row, row.generation, None)
    ring = await ctx.keys.ring(event_id)
    try:
        claims = ring.verify(text)
    except SecretError as exc:
        return Verdict(None, 0, exc.reason)
    row = await store.ticket_by_id(event_id, claims.ticket_id, LOCK_TICKETS)
    if row is None:
        return Verdict(None, 0, "invalid")
    return Verdict(row, claims.generation, None)


def _ticket_id(verdict: Verdict) -> int | None:
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


def _scan_row(
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

    Validity windows are judged at the server's clock, not the phone's.
    """
    received_at = utcnow()
    venue, gate = await venues(ctx).gate(event_id, scan.gate_id)
    move = GateMove(gate.from_zone, gate.to_zone, scan.direction)
    level: ZoneLevel | None = None
    try:
        async with hot_path(ctx.db) as store:
            verdict = await _verify(store, ctx, event_id, scan.secret)
            row = verdict.ticket
            if row is None:
                decision = Decision(False, verdict.reason or "invalid", None)
            else:
                state = ticket_state(row, venue)
                decision = decide(state, verdict.generation, move, received_at)
                if decision.ok and decision.zone_after != state.zone_id:
                    moved, taken = await move_between_zones(
                        store, venue, state.zone_id, decision.zone_after, row.id
                    )
                    if not moved:
                        decision = decide(state, verdict.generation, move, received_at, False)
                        assert decision.reason == ZONE_FULL
                    entered = venue.zones.get(move.entering or 0)
                    level = await _zone_level(store, ctx, entered, taken, not moved)
            first_in = received_at if decision.ok and scan.direction == "in" else None
            response = answer(scan, venue, gate, row, decision, received_at, first_in)
            values = _scan_row(
                event_id,
                scan,
                row.id if row is not None else None,
                decision,
                row.zone_id if row is not None else None,
                received_at,
                response,
            )
            ticket_move = (row.id, decision.zone_after, first_in) if row and decision.ok else None
            if await store.log_scan(values, ticket_move) is None:
                raise _Repeated
    except _Repeated:
        return await _stored_answer(ctx.db, event_id, scan.nonce)
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
                "Only the device that made a scan (or the command centre) may annul it."
            )
        if scan.annulled_at is not None:
            return _annul_answer(scan, scan.annulled_at, scan.annulled_by)
        if now - scan.received_at > window:
            raise Conflict(
                f"Scans can only be annulled within {window.total_seconds():.0f} seconds.",
                code="annul_window_passed",
            )
        if scan.status == "ok" and scan.ticket_id is not None:
            await _reverse_move(conn, venue, scan)
        await conn.execute(
            update(_scans)
            .where(_scans.c.id == scan.id)
            .values(annulled_at=now, annulled_by=account_id)
        )
    ctx.changed(event_id, *TOPICS)
    return _annul_answer(scan, now, account_id)


async def _reverse_move(conn: AsyncConnection, venue: Venue, scan: Row[Any]) -> None:
    ticket = (
        await conn.execute(
            select(*_TICKET_COLUMNS).where(_tickets.c.id == scan.ticket_id).with_for_update()
        )
    ).first()
    if ticket is None:
        raise NotFound(f"No ticket {scan.ticket_id}.")
    if ticket.zone_id != scan.to_zone_id:
        raise Conflict(
            "The ticket has been scanned again since; annul the later scan first.",
            code="superseded",
        )
    store = CoreStore(conn)
    moved, _taken = await move_between_zones(
        store, venue, scan.to_zone_id, scan.from_zone_id, ticket.id
    )
    if not moved and scan.from_zone_id is not None:
        # The way back is "full" now; the holder was counted there before
        # this scan, so they are counted there again.
        await move_between_zones(store, venue, scan.to_zone_id, None, ticket.id)
        await _force_into(store, venue.zones[scan.from_zone_id], ticket.id)
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


# --- an offline batch -----------------------------------------------------------------

#: Rows per IN (…) list: well under both databases' bound-parameter limits.
CHUNK = 1000


def _chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Retry(Exception):
    """A twin batch committed some of these nonces meanwhile: replay again."""


async def _allocate_scan_ids(conn: AsyncConnection, count: int) -> list[int]:
    """Ids for new scan rows, known before the insert so scans can point at each other."""
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = await conn.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('scans', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return [int(r[0]) for r in rows]
    # SQLite: this transaction holds the process's writer lock.
    top = int(await conn.scalar(select(func.coalesce(func.max(_scans.c.id), 0))) or 0)
    return list(range(top + 1, top + 1 + count))


async def replay_offline(ctx: Muster, event_id: int, scans: list[ScanRequest]) -> dict[str, Any]:
    """Replay a door's offline queue in scan-time order; one answer per scan.

    Idempotent by nonce (a nonce already logged answers as before; a nonce
    repeated in the batch answers as its first occurrence). A second
    admission of a ticket someone else admitted first is a conflict (see
    ``checkin.reconcile``), raised as a "conflict" alert.
    """
    for _attempt in range(3):
        try:
            return await _replay_once(ctx, event_id, scans)
        except _Retry:
            continue
    raise Conflict("The batch is being replayed by another request; send it again.")


async def _replay_once(ctx: Muster, event_id: int, scans: list[ScanRequest]) -> dict[str, Any]:
    received_at = utcnow()
    cache = venues(ctx)
    venue = await cache.get(event_id)
    if any(s.gate_id not in venue.gates for s in scans):
        venue = await cache.get(event_id, fresh=True)
    unknown = sorted({s.gate_id for s in scans if s.gate_id not in venue.gates})
    if unknown:
        raise InvalidRequest(
            f"No gate {unknown[0]} in this event.", {"gates": unknown}, code="unknown_gate"
        )
    firsts: dict[str, ScanRequest] = {}
    for scan in scans:
        firsts.setdefault(scan.nonce, scan)
    unique = list(firsts.values())
    alerted = False
    async with writing(ctx.db) as conn:
        stored = await _stored_answers(conn, event_id, list(firsts))
        fresh = [s for s in unique if s.nonce not in stored]
        verdicts, rows = await _verify_batch(conn, ctx, event_id, fresh)
        last_scans = await _last_ok_scans(conn, event_id, sorted(rows))
        zone_ids = sorted(
            {
                z
                for s in fresh
                for z in (venue.gates[s.gate_id].from_zone, venue.gates[s.gate_id].to_zone)
                if z is not None
            }
        )
        shards = await _locked_shards(conn, zone_ids)
        ids = await _allocate_scan_ids(conn, len(fresh))
        offline = [
            OfflineScan(
                index=i,
                scan_id=ids[i],
                ticket_id=_ticket_id(verdicts[i]),
                secret_generation=verdicts[i].generation,
                secret_error=verdicts[i].reason,
                move=GateMove(
                    venue.gates[s.gate_id].from_zone, venue.gates[s.gate_id].to_zone, s.direction
                ),
                scanned_at=s.scanned_at,
                local_ok=s.local_ok,
            )
            for i, s in enumerate(fresh)
        ]
        records = {
            tid: TicketRecord(ticket_state(row, venue), last_scans.get(tid))
            for tid, row in rows.items()
        }
        merged = reconcile_offline_scans(offline, records, _room(shards), received_at)
        answers: dict[str, dict[str, Any]] = {}
        values = []
        for outcome in merged.outcomes:
            scan = fresh[outcome.scan.index]
            row = rows.get(outcome.scan.ticket_id) if outcome.scan.ticket_id is not None else None
            first_in = merged.first_admitted.get(row.id) if row is not None else None
            response = answer(
                scan, venue, venue.gates[scan.gate_id], row, outcome.decision, received_at, first_in
            )
            response.update(
                offline=True, conflict=outcome.conflict, conflict_with=outcome.conflict_with
            )
            answers[scan.nonce] = response
            values.append(
                _scan_row(
                    event_id,
                    scan,
                    row.id if row is not None else None,
                    outcome.decision,
                    outcome.zone_before,
                    received_at,
                    response,
                    offline=True,
                    conflict_with=outcome.conflict_with,
                    scan_id=outcome.scan.scan_id,
                )
            )
        if values:
            inserted = await conn.execute(_insert_scans(conn.dialect.name), values)
            if len(inserted.all()) != len(values):
                raise _Retry
        await _write_tickets(conn, merged)
        await _write_shards(conn, shards, merged.zone_delta)
        alerted = await _batch_alerts(conn, venue, merged, shards, fresh)
    results = []
    for scan in scans:
        first = firsts[scan.nonce]
        if first.nonce in stored:
            results.append({**stored[first.nonce], "repeated": True})
        else:
            results.append(
                answers[first.nonce]
                if scan is first
                else {**answers[first.nonce], "repeated": True}
            )
    counts = {
        "ok": sum(1 for o in merged.outcomes if o.decision.ok),
        "error": sum(1 for o in merged.outcomes if not o.decision.ok),
        "conflict": sum(1 for o in merged.outcomes if o.conflict),
        "repeated": len(scans) - len(merged.outcomes),
    }
    if merged.outcomes:
        ctx.changed(event_id, *TOPICS, *(("alerts",) if alerted else ()))
    return {"server_time": iso(utcnow()), "results": results, "counts": counts}


async def _stored_answers(
    conn: AsyncConnection, event_id: int, nonces: list[str]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(nonces):
        rows = await conn.execute(
            select(_scans.c.nonce, _scans.c.response).where(
                _scans.c.event_id == event_id, _scans.c.nonce.in_(chunk)
            )
        )
        found.update((nonce, dict(response)) for nonce, response in rows)
    return found


async def _verify_batch(
    conn: AsyncConnection, ctx: Muster, event_id: int, scans: list[ScanRequest]
) -> tuple[list[Verdict], dict[int, Row[Any]]]:
    """Each scan's verdict, and the batch's tickets locked in id order.

    Secrets are matched against the stored ones first (no signature check
    needed for those); the rest are verified, each distinct secret once.
    """
    texts = sorted({s.secret.strip().upper() for s in scans})
    by_secret: dict[str, int] = {}
    for chunk in _chunks(texts):
        rows = await conn.execute(
            select(_tickets.c.secret, _tickets.c.id).where(
                _tickets.c.event_id == event_id, _tickets.c.secret.in_(chunk)
            )
        )
        by_secret.update((secret, int(tid)) for secret, tid in rows)
    claims: dict[str, tuple[int, int] | str] = {}
    ring = None
    for secret in texts:
        if secret in by_secret:
            continue
        ring = ring or await ctx.keys.ring(event_id)
        try:
            found = ring.verify(secret)
            claims[secret] = (found.ticket_id, found.generation)
        except SecretError as exc:
            claims[secret] = exc.reason
    wanted = sorted(
        set(by_secret.values()) | {c[0] for c in claims.values() if isinstance(c, tuple)}
    )
    rows_by_id: dict[int, Row[Any]] = {}
    for chunk in _chunks(wanted):
        query = (
            select(*_TICKET_COLUMNS, _tickets.c.secret.label("current_secret"))
            .where(_tickets.c.event_id == event_id, _tickets.c.id.in_(chunk))
            .order_by(_tickets.c.id)
        )
        rows_by_id.update((row.id, row) for row in await conn.execute(_lock(query)))
    verdicts = []
    for scan in scans:
        secret = scan.secret.strip().upper()
        claim = claims.get(secret)
        tid = by_secret.get(secret)
        if tid is not None:
            row = rows_by_id.get(tid)
            if row is not None and row.current_secret != secret:
                # Re-issued between the lookup and the lock: judge by signature.
                ring = ring or await ctx.keys.ring(event_id)
                claim = (tid, ring.verify(secret).generation)
            else:
                claim = (tid, row.generation) if row is not None else "invalid"
        if isinstance(claim, tuple) and claim[0] in rows_by_id:
            verdicts.append(Verdict(rows_by_id[claim[0]], claim[1], None))
        else:
            verdicts.append(Verdict(None, 0, claim if isinstance(claim, str) else "invalid"))
    return verdicts, rows_by_id


async def _last_ok_scans(
    conn: AsyncConnection, event_id: int, ticket_ids: list[int]
) -> dict[int, int]:
    found: dict[int, int] = {}
    for chunk in _chunks(ticket_ids):
        rows = await conn.execute(
            select(_scans.c.ticket_id, func.max(_scans.c.id))
            .where(
                _scans.c.event_id == event_id,
                _scans.c.ticket_id.in_(chunk),
                _scans.c.status == "ok",
                _scans.c.annulled_at.is_(None),
            )
            .group_by(_scans.c.ticket_id)
        )
        found.update((int(t), int(s)) for t, s in rows)
    return found


@dataclass
class _Shard:
    zone_id: int
    shard: int
    inside: int
    cap: int | None
    changed: bool = False


async def _locked_shards(conn: AsyncConnection, zone_ids: list[int]) -> dict[int, list[_Shard]]:
    """The shards of ``zone_ids``, locked in (zone, shard) order like every other writer."""
    shards: dict[int, list[_Shard]] = {z: [] for z in zone_ids}
    if zone_ids:
        query = (
            select(_shards.c.zone_id, _shards.c.shard, _shards.c.inside, _shards.c.cap)
            .where(_shards.c.zone_id.in_(zone_ids))
            .order_by(_shards.c.zone_id, _shards.c.shard)
            .with_for_update()
        )
        for row in await conn.execute(query):
            shards[row.zone_id].append(_Shard(row.zone_id, row.shard, row.inside, row.cap))
    return shards


def _room(shards: dict[int, list[_Shard]]) -> dict[int, int | None]:
    room: dict[int, int | None] = {}
    for zone_id, rows in shards.items():
        if not rows or any(s.cap is None for s in rows):
            room[zone_id] = None
        else:
            room[zone_id] = sum(max((s.cap or 0) - s.inside, 0) for s in rows)
    return room


def spread_delta(rows: list[_Shard], delta: int) -> None:
    """Add ``delta`` people to a zone's shards: into shards with room, out of shards with people."""
    while delta > 0:
        target = next((s for s in rows if s.cap is None or s.inside < s.cap), rows[0])
        target.inside += 1
        target.changed = True
        delta -= 1
    while delta < 0:
        source = next((s for s in rows if s.inside > 0), None)
        if source is None:
            log.warning("zone %s: more departures than people counted inside", rows[0].zone_id)
            return
        source.inside -= 1
        source.changed = True
        delta += 1


async def _write_shards(
    conn: AsyncConnection, shards: dict[int, list[_Shard]], delta: dict[int, int]
) -> None:
    changed: list[dict[str, int]] = []
    for zone_id, step in delta.items():
        rows = shards.get(zone_id)
        if rows and step:
            spread_delta(rows, step)
            changed.extend({"z": s.zone_id, "s": s.shard, "n": s.inside} for s in rows if s.changed)
    if changed:
        await conn.execute(
            update(_shards)
            .where(_shards.c.zone_id == bindparam("z"), _shards.c.shard == bindparam("s"))
            .values(inside=bindparam("n")),
            changed,
        )


async def _write_tickets(conn: AsyncConnection, merged: Reconciliation) -> None:
    if not merged.tickets:
        return
    await conn.execute(
        MOVE_TICKET,
        [
            {
                "ticket": tid,
                "zone_after": record.state.zone_id,
                "first_in": merged.first_admitted.get(tid),
            }
            for tid, record in merged.tickets.items()
        ],
    )


async def _batch_alerts(
    conn: AsyncConnection,
    venue: Venue,
    merged: Reconciliation,
    shards: dict[int, list[_Shard]],
    fresh: list[ScanRequest],
) -> bool:
    """A "conflict" alert per ticket admitted twice; zone alerts for zones the batch filled."""
    session = AsyncSession(bind=conn)
    raised = False
    try:
        for outcome in merged.outcomes:
            if not outcome.conflict:
                continue
            scan = outcome.scan
            request = fresh[scan.index]
            alert = await raise_alert(
                session,
                venue.event_id,
                "conflict",
                f"Ticket {scan.ticket_id} was admitted twice: offline scan {scan.scan_id}"
                f" conflicts with scan {outcome.conflict_with}.",
                data={
                    "ticket": scan.ticket_id,
                    "scan": scan.scan_id,
                    "nonce": request.nonce,
                    "conflict_with": outcome.conflict_with,
                    "gate": request.gate_id,
                    "device": request.device_id,
                    "scanned_at": iso(scan.scanned_at),
                },
                dedupe_key=f"conflict:{scan.ticket_id}",
            )
            raised = raised or alert is not None
        for zone_id, step in merged.zone_delta.items():
            zone = venue.zones.get(zone_id)
            if step <= 0 or zone is None or zone.capacity is None:
                continue
            total = sum(s.inside for s in shards.get(zone_id, []))
            if total < math.ceil(zone.capacity * zone.soft_warning):
                continue
            full = total >= zone.capacity
            level = ZoneLevel(zone, total, full)
            raised = await raise_zone_alert(session, venue.event_id, level) or raised
        await session.flush()
    finally:
        await session.close()
    return raised
