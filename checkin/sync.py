"""Replaying an offline door's queue: the database around ``checkin.reconcile``.

``replay_offline`` takes a batch of up to 5,000 scans in one transaction:
it reads everything the batch touches in a few set-wise queries (stored
answers of its nonces, its tickets locked in id order, their last accepted
scans, the zones' counters locked in (zone, shard) order like every other
writer), decides every scan in Python with the pure
``reconcile_offline_scans``, and writes the outcome with a handful of
multi-row statements. A nonce already logged answers as before.

On PostgreSQL the set-wise statements go straight to asyncpg on the
transaction's own connection, each with whole arrays as parameters
(``= ANY($1)``, ``unnest``): one round trip and no SQL compilation for
5,000 rows, where SQLAlchemy would expand an IN list per chunk and encode
each row's JSON with the standard library. SQLite runs the same steps as
Core statements (under the process's writer lock).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import orjson
from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from checkin.answers import TOPICS, ScanRequest, Verdict, answer, scan_row, ticket_state
from checkin.capacity import ZoneLevel, raise_zone_alert
from checkin.reconcile import OfflineScan, Reconciliation, TicketRecord, reconcile_offline_scans
from checkin.rules import INVALID, Decision, GateMove
from checkin.secrets import SecretError
from checkin.store import MOVE_TICKET, SCAN_FIELDS, SCAN_TYPES, TICKET_FIELDS, TicketRow, writing
from checkin.venue import Venue, venues
from server.alerts import raise_alert
from server.context import Muster
from server.db import connection_lost
from server.errors import Conflict
from server.fields import storable
from server.models import Gate, Scan, Ticket, ZoneShard, utcnow
from server.serialize import iso

log = logging.getLogger("muster.checkin")

_tickets = cast(Table, Ticket.__table__)
_scans = cast(Table, Scan.__table__)
_shards = cast(Table, ZoneShard.__table__)
_TICKET_COLUMNS = tuple(_tickets.c[name] for name in TICKET_FIELDS)


#: Rows per IN (…) list: well under both databases' bound-parameter limits.
CHUNK = 1000


def _chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Retry(Exception):
    """A twin batch committed some of these nonces meanwhile: replay again."""


async def _driver(conn: AsyncConnection) -> asyncpg.Connection | None:
    """The asyncpg connection under ``conn`` (None on SQLite), inside its transaction.

    SQLAlchemy's asyncpg adapter opens the transaction lazily, with the
    first statement it runs: run one, so that what is sent straight to the
    driver afterwards is inside it.

    Every lookup of a batch finds its rows by a key (a nonce, a secret, a
    ticket id), through an index led by that key, with the event checked
    after a fence. Sequential scans are priced out for the transaction: for
    a lookup of 5,000 keys a planner without fresh statistics (a scan log
    that grew during the rush) would read the whole table instead, or walk
    the event through an index on event_id — 17–28 ms a lookup at 130,000
    rows and growing, against 4–7 ms by the keys.
    """
    if conn.dialect.name != "postgresql":
        return None
    await conn.execute(text("SET LOCAL enable_seqscan = off"))
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    return cast(asyncpg.Connection, raw)


async def _allocate_scan_ids(
    conn: AsyncConnection, raw: asyncpg.Connection | None, count: int
) -> list[int]:
    """Ids for new scan rows, known before the insert so scans can point at each other."""
    if count == 0:
        return []
    if raw is not None:
        rows = await raw.fetch(
            "SELECT nextval(pg_get_serial_sequence('scans', 'id')) FROM generate_series(1, $1)",
            count,
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

    One bad scan harms no one. A nonce no column can hold (a NUL byte) is
    answered ``invalid`` and logged nowhere; a secret no column can hold is
    refused ``invalid`` without being looked up. Should the batch's
    statements fail anyway, its scans are replayed one by one in scan-time
    order, each in a transaction of its own, and a scan that fails alone is
    left out of the answer (``counts.failed``): the phone keeps it queued.
    """
    venue = await venues(ctx).with_gates(event_id, {s.gate_id for s in scans})
    received_at = utcnow()
    firsts: dict[str, ScanRequest] = {}
    for scan in scans:
        if storable(scan.nonce):
            firsts.setdefault(scan.nonce, scan)
    unique = list(firsts.values())
    replayed = Replayed()
    try:
        replayed = await _replay_whole(ctx, event_id, venue, unique)
    except Exception as exc:
        if len(unique) <= 1 or connection_lost(exc):
            raise
        log.info("offline sync: a batch of %d failed (%r); one by one", len(unique), exc)
        in_order = sorted(enumerate(unique), key=lambda pair: (pair[1].scanned_at, pair[0]))
        for _index, scan in in_order:
            try:
                replayed.add(await _replay_whole(ctx, event_id, venue, [scan]))
            except Exception as exc:
                if connection_lost(exc):
                    raise
                log.warning("offline sync: scan %r failed alone (%r)", scan.nonce, exc)
                replayed.failed.add(scan.nonce)
    results = []
    counts = {"ok": replayed.ok, "error": replayed.error, "conflict": replayed.conflict}
    counts["repeated"] = 0
    for scan in scans:
        first = firsts.get(scan.nonce)
        if first is None:  # the nonce itself cannot be stored
            refused = Decision(False, INVALID, None)
            gate = venue.gates[scan.gate_id]
            results.append(answer(scan, venue, gate, None, refused, received_at))
            counts["error"] += 1
        elif scan.nonce in replayed.failed:
            continue
        elif scan.nonce in replayed.stored or scan is not first:
            results.append({**replayed.answers[scan.nonce], "repeated": True})
            counts["repeated"] += 1
        else:
            results.append(replayed.answers[scan.nonce])
    if replayed.failed:
        counts["failed"] = len(replayed.failed)
    return {"server_time": iso(utcnow()), "results": results, "counts": counts}


@dataclass
class Replayed:
    """What replaying some unique nonces gave: an answer per nonce, and the counts."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Nonces answered from the log (seen before this request).
    stored: set[str] = field(default_factory=set)
    #: Nonces whose replay failed on its own.
    failed: set[str] = field(default_factory=set)
    ok: int = 0
    error: int = 0
    conflict: int = 0

    def add(self, other: Replayed) -> None:
        self.answers.update(other.answers)
        self.stored |= other.stored
        self.failed |= other.failed
        self.ok += other.ok
        self.error += other.error
        self.conflict += other.conflict


async def _replay_whole(
    ctx: Muster, event_id: int, venue: Venue, unique: list[ScanRequest]
) -> Replayed:
    """Replay scans of distinct nonces in one transaction (again when a twin raced it)."""
    for _attempt in range(3):
        try:
            return await _replay_once(ctx, event_id, venue, unique)
        except _Retry:
            continue
    raise Conflict("The batch is being replayed by another request; send it again.")


async def _replay_once(
    ctx: Muster, event_id: int, venue: Venue, unique: list[ScanRequest]
) -> Replayed:
    received_at = utcnow()
    alerted = False
    async with writing(ctx.db) as conn:
        raw = await _driver(conn)
        stored = await _stored_answers(conn, raw, event_id, [s.nonce for s in unique])
        fresh = [s for s in unique if s.nonce not in stored]
        diverged = [
            (s, stored[s.nonce])
            for s in unique
            if s.nonce in stored and _diverges(s, stored[s.nonce])
        ]
        if diverged:
            await _mark_divergences(conn, [logged for _s, logged in diverged])
        verdicts, rows = await _verify_batch(conn, raw, ctx, event_id, fresh)
        last_scans = await _last_ok_scans(conn, raw, event_id, sorted(rows))
        zone_ids = sorted(
            {
                z
                for s in fresh
                for z in (venue.gates[s.gate_id].from_zone, venue.gates[s.gate_id].to_zone)
                if z is not None
            }
        )
        shards = await _locked_shards(conn, zone_ids)
        ids = await _allocate_scan_ids(conn, raw, len(fresh))
        offline = [
            OfflineScan(
                index=i,
                scan_id=ids[i],
                ticket_id=verdicts[i].ticket_id,
                secret_generation=verdicts[i].generation,
                secret_error=verdicts[i].reason,
                move=GateMove(
                    venue.gates[s.gate_id].from_zone, venue.gates[s.gate_id].to_zone, s.direction
                ),
                scanned_at=s.scanned_at,
                local_ok=s.local_ok,
                local_reason=s.local_reason,
            )
            for i, s in enumerate(fresh)
        ]
        records = {
            tid: TicketRecord(ticket_state(row, venue), last_scans.get(tid))
            for tid, row in rows.items()
        }
        merged = reconcile_offline_scans(offline, records, _room(shards), received_at)
        replayed = Replayed(
            answers={nonce: logged.answer for nonce, logged in stored.items()},
            stored=set(stored),
            conflict=len(diverged),
        )
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
            replayed.answers[scan.nonce] = response
            values.append(
                scan_row(
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
            replayed.ok += outcome.decision.ok
            replayed.error += not outcome.decision.ok
            replayed.conflict += outcome.conflict
        if values and await _insert_scans(conn, raw, values) != len(values):
            raise _Retry
        await _write_tickets(conn, raw, merged)
        await _write_shards(conn, shards, merged.zone_delta)
        alerted = await _batch_alerts(conn, venue, merged, shards, fresh, diverged)
    if merged.outcomes or alerted:
        # Offline scans may prove someone inside (or gone) at the start of a
        # running evacuation: its topic reads them in (server.evacuations.catch_up).
        moved = (*TOPICS, "evacuation") if merged.outcomes else ()
        ctx.changed(event_id, *moved, *(("alerts",) if alerted else ()))
    return replayed


def _json(value: Any) -> dict[str, Any]:
    # SQLAlchemy's dialect installs a json decoder on the connections it owns.
    return dict(orjson.loads(value) if isinstance(value, str | bytes) else value)


@dataclass
class _Logged:
    """A scan already in the log (its nonce came before: online, or in an earlier batch)."""

    id: int
    ticket_id: int | None
    conflict_with: int | None
    answer: dict[str, Any]


def _diverges(scan: ScanRequest, logged: _Logged) -> bool:
    """An online answer the phone never showed, against what the phone did instead.

    The phone asked the server and, when no answer came within its budget,
    showed its own (``pwa/app/verdict.js``); the request may still have
    arrived and been decided. A verdict that differs from the phone's is a
    divergence, marked once: a scan already marked (a conflict stored by an
    earlier batch) is not marked again.
    """
    return logged.conflict_with is None and (logged.answer.get("status") == "ok") != scan.local_ok


async def _mark_divergences(conn: AsyncConnection, logged: list[_Logged]) -> None:
    """Mark logged scans as conflicts with themselves (the door and the server disagreed)."""
    await conn.execute(
        update(_scans)
        .where(_scans.c.id == bindparam("scan"), _scans.c.conflict_with.is_(None))
        .values(conflict_with=bindparam("scan")),
        [{"scan": scan.id} for scan in logged],
    )
    for scan in logged:
        scan.conflict_with = scan.id
        scan.answer = {**scan.answer, "conflict": True, "conflict_with": scan.id}


async def _stored_answers(
    conn: AsyncConnection, raw: asyncpg.Connection | None, event_id: int, nonces: list[str]
) -> dict[str, _Logged]:
    if raw is not None:
        rows = await raw.fetch(
            # By nonce alone, the event checked after the fence: no plan can
            # walk the event's log instead (see migration 0006).
            "SELECT nonce, id, ticket_id, conflict_with, response FROM (SELECT nonce, id,"
            " ticket_id, conflict_with, response, event_id FROM scans"
            " WHERE nonce = ANY($2::text[]) OFFSET 0) s WHERE event_id = $1",
            event_id,
            nonces,
        )
        return {
            row["nonce"]: _Logged(
                row["id"], row["ticket_id"], row["conflict_with"], _json(row["response"])
            )
            for row in rows
        }
    found: dict[str, _Logged] = {}
    for chunk in _chunks(nonces):
        result = await conn.execute(
            select(
                _scans.c.nonce,
                _scans.c.id,
                _scans.c.ticket_id,
                _scans.c.conflict_with,
                _scans.c.response,
            ).where(_scans.c.event_id == event_id, _scans.c.nonce.in_(chunk))
        )
        found.update(
            (nonce, _Logged(scan_id, ticket_id, conflict_with, dict(response)))
            for nonce, scan_id, ticket_id, conflict_with, response in result
        )
    return found


async def _ids_by_secret(
    conn: AsyncConnection, raw: asyncpg.Connection | None, event_id: int, secrets: list[str]
) -> dict[str, int]:
    if raw is not None:
        rows = await raw.fetch(
            # By secret alone (its unique index), the event checked after the fence.
            "SELECT secret, id FROM (SELECT secret, id, event_id FROM tickets"
            " WHERE secret = ANY($2::text[]) OFFSET 0) t WHERE event_id = $1",
            event_id,
            secrets,
        )
        return {row["secret"]: int(row["id"]) for row in rows}
    found: dict[str, int] = {}
    for chunk in _chunks(secrets):
        result = await conn.execute(
            select(_tickets.c.secret, _tickets.c.id).where(
                _tickets.c.event_id == event_id, _tickets.c.secret.in_(chunk)
            )
        )
        found.update((secret, int(tid)) for secret, tid in result)
    return found


#: By id alone (the primary key), the event checked after the fence: with
#: the event in the same condition, a planner without fresh statistics
#: walked every ticket of the event through an index on event_id.
_PG_LOCK_TICKETS = (
    f"SELECT {', '.join(c.name for c in _TICKET_COLUMNS)}, secret FROM (SELECT * FROM tickets"
    " WHERE id = ANY($2::bigint[]) OFFSET 0) t WHERE event_id = $1 ORDER BY id FOR UPDATE"
)


async def _locked_tickets(
    conn: AsyncConnection, raw: asyncpg.Connection | None, event_id: int, ids: list[int]
) -> dict[int, tuple[TicketRow, str]]:
    """The tickets, locked in id order (as every batch locks them), with their current secret."""
    if raw is not None:
        rows = await raw.fetch(_PG_LOCK_TICKETS, event_id, ids)
        return {int(r["id"]): (TicketRow(*tuple(r)[:-1]), r["secret"]) for r in rows}
    found: dict[int, tuple[TicketRow, str]] = {}
    for chunk in _chunks(ids):
        query = (
            select(*_TICKET_COLUMNS, _tickets.c.secret.label("current_secret"))
            .where(_tickets.c.event_id == event_id, _tickets.c.id.in_(chunk))
            .order_by(_tickets.c.id)
            .with_for_update()
        )
        for row in await conn.execute(query):
            fields = {c.name: row._mapping[c.name] for c in _TICKET_COLUMNS}
            found[int(row.id)] = (TicketRow(**fields), row.current_secret)
    return found


async def _verify_batch(
    conn: AsyncConnection,
    raw: asyncpg.Connection | None,
    ctx: Muster,
    event_id: int,
    scans: list[ScanRequest],
) -> tuple[list[Verdict], dict[int, TicketRow]]:
    """Each scan's verdict, and the batch's tickets locked in id order.

    Secrets are matched against the stored ones first (no signature check
    needed for those); the rest are verified, each distinct secret once.
    """
    texts = sorted({s.secret.strip().upper() for s in scans})
    # A secret no column can hold is no ticket's: its signature says invalid.
    by_secret = await _ids_by_secret(conn, raw, event_id, [t for t in texts if storable(t)])
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
    locked = await _locked_tickets(conn, raw, event_id, wanted)
    rows_by_id = {tid: row for tid, (row, _secret) in locked.items()}
    verdicts = []
    for scan in scans:
        secret = scan.secret.strip().upper()
        claim = claims.get(secret)
        tid = by_secret.get(secret)
        if tid is not None:
            row, current = locked.get(tid, (None, None))
            if row is not None and current != secret:
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
    conn: AsyncConnection, raw: asyncpg.Connection | None, event_id: int, ticket_ids: list[int]
) -> dict[int, int]:
    """The accepted scan that last moved each ticket (what a conflict points at)."""
    if raw is not None:
        rows = await raw.fetch(
            # By ticket alone (ids are unique across events, ``ix_scans_ticket``),
            # the rest checked after the fence.
            "SELECT ticket_id, max(id) FROM (SELECT ticket_id, id, event_id, status,"
            " annulled_at FROM scans WHERE ticket_id = ANY($2::bigint[]) OFFSET 0) s"
            " WHERE event_id = $1 AND status = 'ok' AND annulled_at IS NULL GROUP BY ticket_id",
            event_id,
            ticket_ids,
        )
        return {int(r[0]): int(r[1]) for r in rows}
    found: dict[int, int] = {}
    for chunk in _chunks(ticket_ids):
        result = await conn.execute(
            select(_scans.c.ticket_id, func.max(_scans.c.id))
            .where(
                _scans.c.event_id == event_id,
                _scans.c.ticket_id.in_(chunk),
                _scans.c.status == "ok",
                _scans.c.annulled_at.is_(None),
            )
            .group_by(_scans.c.ticket_id)
        )
        found.update((int(t), int(s)) for t, s in result)
    return found


_BATCH_COLUMNS = ("id", *SCAN_FIELDS)
_PG_INSERT_SCANS = (
    f"WITH logged AS (INSERT INTO scans ({', '.join(_BATCH_COLUMNS)})"
    f" SELECT {', '.join(c + '::json' if c == 'response' else c for c in _BATCH_COLUMNS)}"
    " FROM unnest("
    + ", ".join(f"${i + 1}::{SCAN_TYPES[c]}[]" for i, c in enumerate(_BATCH_COLUMNS))
    + f") AS batch({', '.join(_BATCH_COLUMNS)})"
    " ON CONFLICT (event_id, nonce) DO NOTHING RETURNING 1)"
    " SELECT count(*) FROM logged"
)


async def _insert_scans(
    conn: AsyncConnection, raw: asyncpg.Connection | None, values: list[dict[str, Any]]
) -> int:
    """Log the batch's scans (nonces already logged are skipped): how many were new."""
    if raw is not None:
        columns: list[list[Any]] = [[row[c] for row in values] for c in _BATCH_COLUMNS]
        columns[-1] = [orjson.dumps(response).decode() for response in columns[-1]]
        return int(await raw.fetchval(_PG_INSERT_SCANS, *columns))
    statement = (
        sqlite.insert(_scans)
        .on_conflict_do_nothing(index_elements=["event_id", "nonce"])
        .returning(_scans.c.id)
    )
    return len((await conn.execute(statement, values)).all())


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


_PG_MOVE_TICKETS = (
    "UPDATE tickets AS t SET zone_id = moved.zone_id,"
    " checked_in_at = coalesce(t.checked_in_at, moved.first_in)"
    " FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS moved(id, zone_id, first_in)"
    " WHERE t.id = moved.id"
)


async def _write_tickets(
    conn: AsyncConnection, raw: asyncpg.Connection | None, merged: Reconciliation
) -> None:
    if not merged.tickets:
        return
    moves = [
        (tid, record.state.zone_id, merged.first_admitted.get(tid))
        for tid, record in merged.tickets.items()
    ]
    if raw is not None:
        await raw.execute(_PG_MOVE_TICKETS, *(list(column) for column in zip(*moves, strict=True)))
        return
    await conn.execute(
        MOVE_TICKET,
        [{"ticket": tid, "zone_after": zone, "first_in": first} for tid, zone, first in moves],
    )


async def _conflict_alert(
    session: AsyncSession,
    event_id: int,
    request: ScanRequest,
    ticket: int | None,
    scan: int,
    conflict_with: int,
    answer: dict[str, Any],
) -> bool:
    """One "conflict" alert: a ticket admitted twice, or the door and the server disagreeing.

    ``data.divergence`` says which: ``admitted_twice`` (it points at the
    first admission), ``door_admitted`` (the door let the holder in, the
    server refused: ``data.reason``) or ``door_refused`` (the door turned
    them away, the server would have admitted them).
    """
    if conflict_with != scan:
        divergence = "admitted_twice"
    else:
        divergence = "door_admitted" if request.local_ok else "door_refused"
    # The printed code and the gate's name, for the sentence each page says
    # (conflicts are rare: two small reads).
    code = await session.scalar(select(Ticket.code).where(Ticket.id == ticket)) if ticket else None
    gate_name = await session.scalar(select(Gate.name).where(Gate.id == request.gate_id))
    alert = await raise_alert(
        session,
        event_id,
        "conflict",
        data={
            "ticket": ticket,
            "code": code,
            "gate_name": gate_name,
            "scan": scan,
            "nonce": request.nonce,
            "conflict_with": conflict_with,
            "divergence": divergence,
            "local_status": "ok" if request.local_ok else "error",
            "status": answer.get("status"),
            "reason": answer.get("reason"),
            "gate": request.gate_id,
            "device": request.device_id,
            "scanned_at": iso(request.scanned_at),
        },
        dedupe_key=f"conflict:{ticket}" if ticket is not None else f"conflict:scan:{scan}",
    )
    return alert is not None


async def _batch_alerts(
    conn: AsyncConnection,
    venue: Venue,
    merged: Reconciliation,
    shards: dict[int, list[_Shard]],
    fresh: list[ScanRequest],
    diverged: list[tuple[ScanRequest, _Logged]],
) -> bool:
    """A "conflict" alert per conflict (the batch's and the logged scans it
    diverged from); zone alerts for zones the batch filled."""
    session = AsyncSession(bind=conn)
    raised = False
    try:
        for outcome in merged.outcomes:
            if outcome.conflict_with is None:
                continue
            scan = outcome.scan
            request = fresh[scan.index]
            answer: dict[str, Any] = {
                "status": "ok" if outcome.decision.ok else "error",
                "reason": outcome.decision.reason,
            }
            raised = (
                await _conflict_alert(
                    session,
                    venue.event_id,
                    request,
                    scan.ticket_id,
                    scan.scan_id,
                    outcome.conflict_with,
                    answer,
                )
                or raised
            )
        for request, logged in diverged:
            raised = (
                await _conflict_alert(
                    session,
                    venue.event_id,
                    request,
                    logged.ticket_id,
                    logged.id,
                    logged.id,
                    logged.answer,
                )
                or raised
            )
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
