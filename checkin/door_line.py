"""The door line: online scans that arrive together share their round trips (PostgreSQL).

At the entry rush 64 doors post at once, and a scan's cost is mostly the
two statements of ``checkin.admission.admit_one`` — on the server's CPU
(asyncpg) and on the database's. The door line is a group commit: each
process keeps, per event, the scans waiting for the database. The first
scan goes at once (no timer); those that arrive while a batch is in flight
form the next batch. A batch is:

1. ONE read of all its tickets (by secret) and its nonces' stored answers;
2. ``plan_batch``: every scan decided with ``checkin.rules.decide`` in
   arrival order, a ticket's later scans on the state its earlier ones
   left (in then in: ``already_inside``; in then out: both accepted), as
   if they had come one after another;
3. ONE statement over arrays: the tickets moved (each only if it still
   holds what the batch read — the same guard as ``admit_one``), the zone
   counters and the scan-log rows.

That statement is all or nothing. When another process moved one of the
tickets meanwhile, when a zone's counter shard has no room for the batch's
entries, or when a twin request logged one of the nonces, it rolls itself
back whole and every scan of the batch takes the single-scan path
(``admit_one``) on its own request's task, which decides on a fresh read,
answers ``zone_full`` exactly, and returns a stored answer. So exactly-once,
the capacity bound and nonce idempotency are the single path's, and the
batch only saves work when nothing disagrees — the usual case.

A scan whose secret is not found on a ticket (forged, of another event or
generation: its signature says why) also takes the single path, and so does
a nonce repeated within a batch (in the next batch it is read as stored).
SQLite keeps the single path: it has one writer anyway.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import asyncpg
import orjson

from checkin import admission
from checkin.admission import (
    TOPICS,
    GateInfo,
    ScanRequest,
    Venue,
    ZoneLevel,
    answer,
    raise_zone_alert,
    scan_row,
    ticket_state,
    venues,
)
from checkin.admission import _zone_level as zone_level
from checkin.rules import GateMove, decide
from checkin.store import _NOT_WHOLE, SCAN_FIELDS, TICKET_FIELDS, PgStore, TicketRow
from checkin.sync import _SCAN_TYPES
from server.context import Muster
from server.models import utcnow

log = logging.getLogger("muster.checkin")

#: Most scans in one batch (the rest wait for the next).
MAX_BATCH = 256

#: What a waiting scan is told when the batch could not take it.
FALLBACK = "fallback"


@dataclass(eq=False)
class Waiting:
    """A scan in the line and the request waiting for its answer."""

    scan: ScanRequest
    secret: str
    venue: Venue
    gate: GateInfo
    received_at: datetime
    answered: asyncio.Future[dict[str, Any] | str]


# --- the pure part: decide a batch in arrival order ---------------------------------------


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
        after = dataclasses.replace(
            row, zone_id=decision.zone_after, checked_in_at=row.checked_in_at or first_in
        )
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


# --- the statements -------------------------------------------------------------------------

#: Each ticket and each nonce by its own index lookup (the raw pool plans
#: every execution afresh: see ``server.db.Database.raw_pool``).
_READ = (
    "SELECT (SELECT s.response FROM scans s WHERE s.event_id = $1 AND s.nonce = b.nonce)"
    f" AS stored, {', '.join(f't.{name}' for name in TICKET_FIELDS)}"
    " FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS b(secret, nonce, i)"
    f" LEFT JOIN LATERAL (SELECT {', '.join(TICKET_FIELDS)} FROM tickets"
    " WHERE event_id = $1 AND secret = b.secret LIMIT 1) t ON true ORDER BY b.i"
)

_M = 7  # the move arrays
_Z = 5  # the zone arrays
_GUARD = (
    " AND t.zone_id IS NOT DISTINCT FROM m.seen_zone"
    " AND t.checked_in_at IS NOT DISTINCT FROM m.seen_checked_in"
    " AND t.generation = m.generation AND t.type_id = m.type_id AND t.status = 'valid'"
)


def _apply_sql(guarded: bool) -> str:
    scans = ", ".join(
        f"${_M + _Z + i + 1}::{_SCAN_TYPES[name]}[]" for i, name in enumerate(SCAN_FIELDS)
    )
    columns = ", ".join(SCAN_FIELDS)
    values = ", ".join(f"{c}::json" if c == "response" else c for c in SCAN_FIELDS)
    return f"""
WITH m AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::integer[],
                         $5::bigint[], $6::bigint[], $7::timestamptz[])
        AS m(id, seen_zone, seen_checked_in, generation, type_id, zone_after, first_in)
), moved AS (
    UPDATE tickets t
    SET zone_id = m.zone_after, checked_in_at = coalesce(t.checked_in_at, m.first_in)
    FROM m WHERE t.id = m.id{_GUARD if guarded else ""}
    RETURNING t.id
), z AS (
    SELECT * FROM unnest($8::bigint[], $9::integer[], $10::integer[], $11::integer[],
                         $12::integer[]) AS z(zone_id, enters, leaves, start, n)
), pick AS (
    -- per zone, one shard with room for all the batch's entries, the walk's first
    SELECT DISTINCT ON (z.zone_id) z.zone_id, s.shard, z.enters, z.enters - z.leaves AS delta
    FROM z JOIN zone_shards s ON s.zone_id = z.zone_id
        AND (s.cap IS NULL OR s.inside + z.enters <= s.cap) AND s.inside + z.enters >= z.leaves
    ORDER BY z.zone_id, (s.shard + z.n - z.start) % z.n
), counted AS (
    -- re-checked on the newest row version when a racing writer changed it
    UPDATE zone_shards s SET inside = s.inside + pick.delta
    FROM pick
    WHERE s.zone_id = pick.zone_id AND s.shard = pick.shard
      AND (s.cap IS NULL OR s.inside + pick.enters <= s.cap) AND s.inside + pick.delta >= 0
    RETURNING s.zone_id, s.inside, s.cap
), logged AS (
    INSERT INTO scans ({columns})
    SELECT {values} FROM unnest({scans}) AS b({columns})
    ON CONFLICT (event_id, nonce) DO NOTHING
    RETURNING 1
), whole AS (
    -- all or nothing: when a ticket's guard, a zone's room or a nonce
    -- failed, fail the cast, which rolls the whole statement back (see
    -- checkin.store: built from "moved", so that it is not folded).
    SELECT CASE WHEN (SELECT count(*) FROM moved) <> cardinality($1::bigint[])
        OR (SELECT count(*) FROM counted) <> cardinality($8::bigint[])
        OR (SELECT count(*) FROM logged) <> cardinality(${_M + _Z + 1}::bigint[])
    THEN CAST((SELECT '{_NOT_WHOLE} ' || count(*) FROM moved) AS integer) END AS failed
)
SELECT whole.failed, counted.zone_id, counted.inside, counted.cap
FROM whole LEFT JOIN counted ON true
"""


_APPLY = {guarded: _apply_sql(guarded) for guarded in (True, False)}


def _apply_args(plan: BatchPlan, venue: Venue) -> list[Any]:
    moves = [plan.moves[tid] for tid in sorted(plan.moves)]  # lock order: ticket id
    zones = sorted(set(plan.enters) | set(plan.leaves))
    counts = [max(venue.zones[z].shards if z in venue.zones else 1, 1) for z in zones]
    scans: list[list[Any]] = [[row[c] for row in plan.logged] for c in SCAN_FIELDS]
    scans[-1] = [orjson.dumps(response).decode() for response in scans[-1]]
    return [
        [seen.id for seen, _ in moves],
        [seen.zone_id for seen, _ in moves],
        [seen.checked_in_at for seen, _ in moves],
        [seen.generation for seen, _ in moves],
        [seen.type_id for seen, _ in moves],
        [after.zone_id for _, after in moves],
        [after.checked_in_at for _, after in moves],
        zones,
        [plan.enters.get(z, 0) for z in zones],
        [plan.leaves.get(z, 0) for z in zones],
        [plan.starts[z] % n for z, n in zip(zones, counts, strict=True)],
        counts,
        *scans,
    ]


async def apply_batch(
    conn: asyncpg.Connection, plan: BatchPlan, venue: Venue, guarded: bool
) -> list[tuple[int, int, int | None]] | None:
    """Write a batch whole: the entered shards' (zone, inside, cap), or None when rolled back."""
    try:
        rows = await conn.fetch(_APPLY[guarded], *_apply_args(plan, venue))
    except asyncpg.InvalidTextRepresentationError as exc:
        if _NOT_WHOLE not in str(exc):
            raise
        return None
    except asyncpg.DeadlockDetectedError:
        return None  # another process's batch locked the same rows in another order
    return [(r["zone_id"], r["inside"], r["cap"]) for r in rows if r["zone_id"] is not None]


# --- the line ----------------------------------------------------------------------------------


class DoorLine:
    """One event's online scans in this process, written in batches (group commit)."""

    def __init__(self, ctx: Muster, event_id: int) -> None:
        self.ctx = ctx
        self.event_id = event_id
        self.waiting: list[Waiting] = []
        self.draining: asyncio.Task[None] | None = None
        #: Batches written whole, and batches handed to the single path (for tests).
        self.batches = 0
        self.fallbacks = 0

    async def admit(self, scan: ScanRequest) -> dict[str, Any]:
        received_at = utcnow()
        venue, gate = await venues(self.ctx).gate(self.event_id, scan.gate_id)
        loop = asyncio.get_running_loop()
        waiting = Waiting(
            scan, scan.secret.strip().upper(), venue, gate, received_at, loop.create_future()
        )
        self.waiting.append(waiting)
        if self.draining is None:
            self.draining = loop.create_task(self._drain())
        result = await waiting.answered
        if isinstance(result, str):  # FALLBACK
            return await admission.admit_one(self.ctx, self.event_id, scan)
        return result

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch: list[Waiting] = []
                later: list[Waiting] = []
                nonces: set[str] = set()
                for waiting in self.waiting:
                    if len(batch) >= MAX_BATCH or waiting.scan.nonce in nonces:
                        later.append(waiting)
                    else:
                        batch.append(waiting)
                        nonces.add(waiting.scan.nonce)
                self.waiting = later
                try:
                    await self._write(batch)
                except Exception as exc:
                    for waiting in batch:
                        if not waiting.answered.done():
                            waiting.answered.set_exception(exc)
        finally:
            self.draining = None

    async def _write(self, batch: list[Waiting]) -> None:
        ctx, event_id = self.ctx, self.event_id
        pool = await ctx.db.raw_pool()
        levels: list[ZoneLevel] = []
        async with pool.acquire() as conn:
            records = await conn.fetch(
                _READ, event_id, [w.secret for w in batch], [w.scan.nonce for w in batch]
            )
            plan = plan_batch(
                event_id,
                [(w.scan, w.venue, w.gate, w.received_at) for w in batch],
                [None if r["id"] is None else TicketRow(*tuple(r)[1:]) for r in records],
                [None if r["stored"] is None else orjson.loads(r["stored"]) for r in records],
            )
            venue = batch[-1].venue  # the newest copy: it has every zone the others had
            taken: list[tuple[int, int, int | None]] | None = []
            if plan.logged:
                taken = await apply_batch(conn, plan, venue, admission.GUARD_TICKET_STATE)
            if taken is None:
                self.fallbacks += 1
                for i in plan.decided:
                    plan.answers[i] = FALLBACK
            else:
                self.batches += 1
                store = PgStore(conn)
                for zone_id, inside, cap in taken:
                    level = await zone_level(
                        store, ctx, venue.zones.get(zone_id), (inside, cap), False
                    )
                    if level is not None:
                        levels.append(level)
        alerted = False
        for level in levels:
            async with ctx.db.writing() as session:
                alerted = await raise_zone_alert(session, event_id, level) or alerted
        if taken is not None and plan.logged:
            ctx.changed(event_id, *TOPICS, *(("alerts",) if alerted else ()))
        for waiting, result in zip(batch, plan.answers, strict=True):
            if not waiting.answered.done():
                waiting.answered.set_result(result)


def door_line(ctx: Muster, event_id: int) -> DoorLine:
    """This process's line for an event."""
    lines = cast(dict[int, DoorLine] | None, ctx.parts.get("checkin.door_lines"))
    if lines is None:
        lines = ctx.parts["checkin.door_lines"] = {}
    line = lines.get(event_id)
    if line is None:
        line = lines[event_id] = DoorLine(ctx, event_id)
    return line
