"""Replaying an offline door's queue: the database around ``checkin.reconcile``.

``replay_offline`` takes a batch of up to 5,000 scans in one transaction:
it reads everything the batch touches in a few set-wise queries (stored
answers of its nonces, its tickets locked in id order, their last accepted
scans, the zones' counters locked in (zone, shard) order like every other
writer), decides every scan in Python with the pure
``reconcile_offline_scans``, and writes the outcome with a handful of
multi-row statements. A nonce already logged answers as before.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from checkin.admission import (
    TICKET_COLUMNS,
    TOPICS,
    ScanRequest,
    Venue,
    Verdict,
    ZoneLevel,
    answer,
    raise_zone_alert,
    scan_row,
    ticket_id_of,
    ticket_state,
    venues,
)
from checkin.reconcile import OfflineScan, Reconciliation, TicketRecord, reconcile_offline_scans
from checkin.rules import GateMove
from checkin.secrets import SecretError
from checkin.store import MOVE_TICKET, writing
from server.alerts import raise_alert
from server.context import Muster
from server.errors import Conflict, InvalidRequest
from server.models import Scan, Ticket, ZoneShard, utcnow
from server.serialize import iso

log = logging.getLogger("muster.checkin")

_tickets = cast(Table, Ticket.__table__)
_scans = cast(Table, Scan.__table__)
_shards = cast(Table, ZoneShard.__table__)


def _insert_scans(dialect: str) -> Any:
    """INSERT INTO scans … ON CONFLICT (event_id, nonce) DO NOTHING RETURNING id."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(_scans)
        .on_conflict_do_nothing(index_elements=["event_id", "nonce"])
        .returning(_scans.c.id)
    )


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
                ticket_id=ticket_id_of(verdicts[i]),
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
            select(*TICKET_COLUMNS, _tickets.c.secret.label("current_secret"))
            .where(_tickets.c.event_id == event_id, _tickets.c.id.in_(chunk))
            .order_by(_tickets.c.id)
        )
        for row in await conn.execute(query.with_for_update()):
            rows_by_id[int(row.id)] = row
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
