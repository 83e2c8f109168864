"""Replaying an offline door's queue: the database around ``checkin.reconcile``.

``replay_offline`` takes a batch of up to 5,000 scans in one transaction:
it reads everything the batch touches in a few set-wise queries (stored
answers of its nonces, its tickets locked in id order, their last accepted
scans, the zones' counters locked in (zone, shard) order like every other
writer), decides every scan in Python with the pure
``reconcile_offline_scans``, and writes the outcome with a handful of
multi-row statements (``checkin.store.Replay``: on PostgreSQL straight to
asyncpg with whole arrays as parameters, on SQLite as Core statements under
the process's writer lock). A nonce already logged answers as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.answers import TOPICS, ScanRequest, Verdict, answer, scan_row, ticket_state
from checkin.capacity import ZoneLevel, raise_zone_alert
from checkin.reconcile import (
    OfflineScan,
    Reconciliation,
    ShardCount,
    TicketRecord,
    reconcile_offline_scans,
    room_left,
    spread_delta,
)
from checkin.rules import INVALID, Decision, GateMove, zone_level
from checkin.secrets import SecretError, secret_text
from checkin.store import Logged, Replay, TicketMove, TicketRow, replaying
from checkin.venue import Venue, venues
from server.context import Muster
from server.db import connection_lost
from server.errors import Conflict
from server.features.alerts import raise_alert
from server.features.keys import key_store
from server.fields import storable
from server.models import Gate, Ticket, utcnow
from server.serialize import iso

log = logging.getLogger("muster.checkin")


class _Retry(Exception):
    """A twin batch committed some of these nonces meanwhile: replay again."""


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
    async with replaying(ctx.db) as store:
        stored = await store.stored_answers(event_id, [s.nonce for s in unique])
        fresh = [s for s in unique if s.nonce not in stored]
        diverged = [
            (s, stored[s.nonce])
            for s in unique
            if s.nonce in stored and _diverges(s, stored[s.nonce])
        ]
        if diverged:
            await _mark_divergences(store, [logged for _s, logged in diverged])
        verdicts, rows = await _verify_batch(store, ctx, event_id, fresh)
        last_scans = await store.last_ok_scans(event_id, sorted(rows))
        zone_ids = sorted(
            {
                z
                for s in fresh
                for z in (venue.gates[s.gate_id].from_zone, venue.gates[s.gate_id].to_zone)
                if z is not None
            }
        )
        shards = await store.locked_shards(zone_ids)
        ids = await store.allocate_scan_ids(len(fresh))
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
        merged = reconcile_offline_scans(offline, records, room_left(shards), received_at)
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
        if values and await store.insert_scans(values) != len(values):
            raise _Retry
        await store.write_tickets(_ticket_moves(merged))
        await store.write_shards(_counted(shards, merged.zone_delta))
        alerted = await _batch_alerts(store, venue, merged, shards, fresh, diverged)
    if merged.outcomes or alerted:
        # Offline scans may prove someone inside (or gone) at the start of a
        # running evacuation: its topic reads them in (server.features.evacuations.catch_up).
        moved = (*TOPICS, "evacuation") if merged.outcomes else ()
        ctx.changed(event_id, *moved, *(("alerts",) if alerted else ()))
    return replayed


def _diverges(scan: ScanRequest, logged: Logged) -> bool:
    """An online answer the phone never showed, against what the phone did instead.

    The phone asked the server and, when no answer came within its budget,
    showed its own (``pwa/app/verdict.js``); the request may still have
    arrived and been decided. A verdict that differs from the phone's is a
    divergence, marked once: a scan already marked (a conflict stored by an
    earlier batch) is not marked again.
    """
    return logged.conflict_with is None and (logged.answer.get("status") == "ok") != scan.local_ok


async def _mark_divergences(store: Replay, logged: list[Logged]) -> None:
    """Mark logged scans as conflicts with themselves (the door and the server disagreed)."""
    await store.mark_divergences(logged)
    for scan in logged:
        scan.conflict_with = scan.id
        scan.answer = {**scan.answer, "conflict": True, "conflict_with": scan.id}


async def _verify_batch(
    store: Replay,
    ctx: Muster,
    event_id: int,
    scans: list[ScanRequest],
) -> tuple[list[Verdict], dict[int, TicketRow]]:
    """Each scan's verdict, and the batch's tickets locked in id order.

    Secrets are matched against the stored ones first (no signature check
    needed for those); the rest are verified, each distinct secret once.
    """
    texts = sorted({secret_text(s.secret) for s in scans})
    # A secret no column can hold is no ticket's: its signature says invalid.
    by_secret = await store.ids_by_secret(event_id, [t for t in texts if storable(t)])
    claims: dict[str, tuple[int, int] | str] = {}
    ring = None
    for secret in texts:
        if secret in by_secret:
            continue
        ring = ring or await key_store(ctx).ring(event_id)
        try:
            found = ring.verify(secret)
            claims[secret] = (found.ticket_id, found.generation)
        except SecretError as exc:
            claims[secret] = exc.reason
    wanted = sorted(
        set(by_secret.values()) | {c[0] for c in claims.values() if isinstance(c, tuple)}
    )
    locked = await store.locked_tickets(event_id, wanted)
    rows_by_id = {tid: row for tid, (row, _secret) in locked.items()}
    verdicts = []
    for scan in scans:
        secret = secret_text(scan.secret)
        claim = claims.get(secret)
        tid = by_secret.get(secret)
        if tid is not None:
            row, current = locked.get(tid, (None, None))
            if row is not None and current != secret:
                # Re-issued between the lookup and the lock: judge by signature.
                ring = ring or await key_store(ctx).ring(event_id)
                claim = (tid, ring.verify(secret).generation)
            else:
                claim = (tid, row.generation) if row is not None else "invalid"
        if isinstance(claim, tuple) and claim[0] in rows_by_id:
            verdicts.append(Verdict(rows_by_id[claim[0]], claim[1], None))
        else:
            verdicts.append(Verdict(None, 0, claim if isinstance(claim, str) else "invalid"))
    return verdicts, rows_by_id


def _ticket_moves(merged: Reconciliation) -> list[TicketMove]:
    return [
        TicketMove(tid, record.state.zone_id, merged.first_admitted.get(tid))
        for tid, record in merged.tickets.items()
    ]


def _counted(shards: dict[int, list[ShardCount]], delta: dict[int, int]) -> list[ShardCount]:
    """The zones' counters after the batch's moves (``spread_delta``): those changed."""
    changed: list[ShardCount] = []
    for zone_id, step in delta.items():
        rows = shards.get(zone_id)
        if rows and step:
            if not spread_delta(rows, step):
                log.warning("zone %s: more departures than people counted inside", zone_id)
            changed.extend(s for s in rows if s.changed)
    return changed


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
    store: Replay,
    venue: Venue,
    merged: Reconciliation,
    shards: dict[int, list[ShardCount]],
    fresh: list[ScanRequest],
    diverged: list[tuple[ScanRequest, Logged]],
) -> bool:
    """A "conflict" alert per conflict (the batch's and the logged scans it
    diverged from); zone alerts for zones the batch filled."""
    session = AsyncSession(bind=store.conn)
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
            reached = zone_level(total, zone.capacity, zone.soft_warning)
            if reached == "ok":
                continue
            level = ZoneLevel(zone, total, reached == "full")
            raised = await raise_zone_alert(session, venue.event_id, level) or raised
        await session.flush()
    finally:
        await session.close()
    return raised
