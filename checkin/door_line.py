"""The door line: online scans that arrive together share their round trips (PostgreSQL).

At the entry rush 64 doors post at once, and a scan's cost is mostly the
two statements of ``checkin.admission.admit_one`` — on the server's CPU
(asyncpg) and on the database's. The door line is a group commit: each
process keeps, per event, the scans waiting for the database. The first
scan goes at once (no timer); those that arrive while batches are in flight
(``LANES`` of them at most) form the next batch. A batch is:

1. ONE read of all its tickets (by secret) and its nonces' stored answers;
2. ``plan_batch``: every scan decided with ``checkin.rules.decide`` in
   arrival order, a ticket's later scans on the state its earlier ones
   left (in then in: ``already_inside``; in then out: both accepted), as
   if they had come one after another;
3. ONE statement over the batch's rows (sent as JSON): the tickets moved
   (each only if it still holds what the batch read — the same guard as
   ``admit_one``), the zone counters and the scan-log rows.

That statement is all or nothing. When another process moved one of the
tickets meanwhile, when a zone's counter shard has no room for the batch's
entries, or when a twin request logged one of the nonces, it rolls itself
back whole and every scan of the batch takes the single-scan path
(``admit_one``) on its own request's task, which decides on a fresh read,
answers ``zone_full`` exactly, and returns a stored answer. So exactly-once,
the capacity bound and nonce idempotency are the single path's, and the
batch only saves work when nothing disagrees — the usual case. Two batches
of one process in flight at once meet as batches of two processes do.

A scan whose secret is not found on a ticket (forged, of another event or
generation: its signature says why) also takes the single path, and so does
a nonce repeated within a batch (in the next batch it is read as stored).
SQLite keeps the single path: it has one writer anyway.

One bad scan harms no one: what the database could not hold is refused
before it joins a batch (``checkin.admission.admit``), and should a batch's
statement fail anyway, every scan of it takes the single path on its own,
where only the culprit fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from checkin import store
from checkin.answers import TOPICS, ScanRequest, answer, scan_row, ticket_state
from checkin.capacity import ZoneLevel, raise_zone_alert, zone_alert_level
from checkin.rules import GateMove, decide
from checkin.store import NOT_WHOLE, SCAN_FIELDS, SCAN_TYPES, TICKET_FIELDS, PgStore, TicketRow
from checkin.venue import GateInfo, Venue, venues
from server.context import Muster
from server.db import connection_lost
from server.models import utcnow

log = logging.getLogger("muster.checkin")

#: Most scans in one batch (the rest wait for the next).
MAX_BATCH = 256

#: Batches of one event in flight at once in a process. With one, the
#: database idles while this process answers a batch and reads the next
#: requests, and this process idles while the database writes; with two,
#: each works while the other does. A second batch meets the first as a
#: batch of another process would (guards, row locks, fallback).
LANES = 2

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


# --- the statements -------------------------------------------------------------------------

#: Each ticket and each nonce by its own index lookup. The plan is kept
#: (``Database.raw_pool``), so each lookup names only the column that leads
#: its index and the event is checked after a fence (``OFFSET 0``): a plan
#: made while the tables were small can then take no other index, whatever
#: they grow to (the nonce through ``uq_scans_nonce_event``, migration
#: 0006; the secret through its unique index).
_T = ", ".join(TICKET_FIELDS)
_READ = (
    "SELECT (SELECT s.response FROM (SELECT response, event_id FROM scans"
    " WHERE nonce = b.nonce OFFSET 0) s WHERE s.event_id = $1) AS stored,"
    f" {', '.join(f't.{name}' for name in TICKET_FIELDS)}"
    " FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS b(secret, nonce, i)"
    f" LEFT JOIN LATERAL (SELECT {_T} FROM (SELECT {_T}, event_id FROM tickets"
    " WHERE secret = b.secret OFFSET 0) x WHERE x.event_id = $1 LIMIT 1) t ON true"
    " ORDER BY b.i"
)

_GUARD = (
    " AND t.zone_id IS NOT DISTINCT FROM m.seen_zone"
    " AND t.checked_in_at IS NOT DISTINCT FROM m.seen_checked_in"
    " AND t.generation = m.generation AND t.type_id = m.type_id AND t.status = 'valid'"
)

#: The moves and the scan-log rows go as two JSON documents, not as an
#: array per column: asyncpg encodes arrays element by element (8–11 µs of
#: this process's CPU a scan over the 17 log columns), orjson a batch at once
#: (4–6 µs a scan, the statement's round trip included).
_MOVE_COLUMNS = (
    "id bigint, seen_zone bigint, seen_checked_in timestamptz, generation integer,"
    " type_id bigint, zone_after bigint, first_in timestamptz"
)
_SCAN_COLUMNS = ", ".join(
    f"{name} {'json' if name == 'response' else SCAN_TYPES[name]}" for name in SCAN_FIELDS
)


def _apply_sql(guarded: bool) -> str:
    columns = ", ".join(SCAN_FIELDS)
    return f"""
WITH m AS (
    SELECT * FROM json_to_recordset($1::json) AS m({_MOVE_COLUMNS})
), moved AS (
    UPDATE tickets t
    SET zone_id = m.zone_after, checked_in_at = coalesce(t.checked_in_at, m.first_in)
    FROM m WHERE t.id = m.id{_GUARD if guarded else ""}
    RETURNING t.id
), z AS (
    SELECT * FROM unnest($3::bigint[], $4::integer[], $5::integer[], $6::integer[],
                         $7::integer[]) AS z(zone_id, enters, leaves, start, n)
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
    SELECT {columns} FROM json_to_recordset($8::json) AS b({_SCAN_COLUMNS})
    ON CONFLICT (event_id, nonce) DO NOTHING
    RETURNING 1
), whole AS (
    -- all or nothing: when a ticket's guard, a zone's room or a nonce
    -- failed, fail the cast, which rolls the whole statement back (see
    -- checkin.store: built from "moved", so that it is not folded).
    SELECT CASE WHEN (SELECT count(*) FROM moved) <> $2::integer
        OR (SELECT count(*) FROM counted) <> cardinality($3::bigint[])
        OR (SELECT count(*) FROM logged) <> $9::integer
    THEN CAST((SELECT '{NOT_WHOLE} ' || count(*) FROM moved) AS integer) END AS failed
)
SELECT whole.failed, counted.zone_id, counted.inside, counted.cap
FROM whole LEFT JOIN counted ON true
"""


_APPLY = {guarded: _apply_sql(guarded) for guarded in (True, False)}


def _apply_args(plan: BatchPlan, venue: Venue) -> list[Any]:
    moves = [
        {
            "id": seen.id,
            "seen_zone": seen.zone_id,
            "seen_checked_in": seen.checked_in_at,
            "generation": seen.generation,
            "type_id": seen.type_id,
            "zone_after": after.zone_id,
            "first_in": after.checked_in_at,
        }
        for seen, after in (plan.moves[tid] for tid in sorted(plan.moves))  # lock order: id
    ]
    zones = sorted(set(plan.enters) | set(plan.leaves))
    counts = [max(venue.zones[z].shards if z in venue.zones else 1, 1) for z in zones]
    return [
        orjson.dumps(moves).decode(),
        len(moves),
        zones,
        [plan.enters.get(z, 0) for z in zones],
        [plan.leaves.get(z, 0) for z in zones],
        [plan.starts[z] % n for z, n in zip(zones, counts, strict=True)],
        counts,
        orjson.dumps(plan.logged).decode(),
        len(plan.logged),
    ]


async def apply_batch(
    conn: asyncpg.Connection, plan: BatchPlan, venue: Venue, guarded: bool
) -> list[tuple[int, int, int | None]] | None:
    """Write a batch whole: the entered shards' (zone, inside, cap), or None when rolled back."""
    try:
        rows = await conn.fetch(_APPLY[guarded], *_apply_args(plan, venue))
    except asyncpg.InvalidTextRepresentationError as exc:
        if NOT_WHOLE not in str(exc):
            raise
        return None
    except asyncpg.DeadlockDetectedError:
        return None  # another process's batch locked the same rows in another order
    return [(r["zone_id"], r["inside"], r["cap"]) for r in rows if r["zone_id"] is not None]


# --- the line ----------------------------------------------------------------------------------


#: ``admit_one(ctx, event_id, scan)``.
SinglePath = Callable[[Muster, int, ScanRequest], Awaitable[dict[str, Any]]]


class DoorLine:
    """One event's online scans in this process, written in batches (group commit)."""

    def __init__(self, ctx: Muster, event_id: int, single: SinglePath) -> None:
        self.ctx = ctx
        self.event_id = event_id
        #: The single-scan path (``checkin.admission.admit_one``), for the
        #: scans a batch could not take.
        self.single = single
        self.waiting: list[Waiting] = []
        #: The lanes writing batches now (at most LANES).
        self.lanes: set[asyncio.Task[None]] = set()
        #: Batches written whole, batches handed to the single path because
        #: they were rolled back, and because a statement failed (for tests).
        self.batches = 0
        self.fallbacks = 0
        self.failures = 0

    async def admit(self, scan: ScanRequest) -> dict[str, Any]:
        received_at = utcnow()
        venue, gate = await venues(self.ctx).gate(self.event_id, scan.gate_id)
        loop = asyncio.get_running_loop()
        waiting = Waiting(
            scan, scan.secret.strip().upper(), venue, gate, received_at, loop.create_future()
        )
        self.waiting.append(waiting)
        if len(self.lanes) < LANES:
            lane = loop.create_task(self._drain())
            self.lanes.add(lane)
            lane.add_done_callback(self.lanes.discard)
        result = await waiting.answered
        if isinstance(result, str):  # FALLBACK
            return await self.single(self.ctx, self.event_id, scan)
        return result

    async def _drain(self) -> None:
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
                if connection_lost(exc):
                    # The database is away: one by one would fail each in
                    # turn; every scan of the batch gets the 503 at once.
                    for waiting in batch:
                        if not waiting.answered.done():
                            waiting.answered.set_exception(exc)
                    continue
                # One scan's fault (a row the database refuses) must not be
                # everyone's: each takes the single path on its own, where
                # only the culprit fails. What the batch wrote before it
                # failed, if anything, answers there as stored.
                self.failures += 1
                log.info("door line: a batch of %d failed (%r); one by one", len(batch), exc)
                for waiting in batch:
                    if not waiting.answered.done():
                        waiting.answered.set_result(FALLBACK)

    async def _write(self, batch: list[Waiting]) -> None:
        ctx, event_id = self.ctx, self.event_id
        cache = venues(ctx)
        venue = batch[-1].venue  # the newest copy: it has every zone the others had
        levels: list[ZoneLevel] = []
        taken: list[tuple[int, int, int | None]] | None = []
        # Both statements find every row by a key and keep their plans.
        async with ctx.db.raw_connection(cached_plans=True) as conn:
            records = await conn.fetch(
                _READ, event_id, [w.secret for w in batch], [w.scan.nonce for w in batch]
            )
            plan = plan_batch(
                event_id,
                [(w.scan, w.venue, w.gate, w.received_at) for w in batch],
                [None if r["id"] is None else TicketRow(*tuple(r)[1:]) for r in records],
                [None if r["stored"] is None else orjson.loads(r["stored"]) for r in records],
            )
            if plan.logged:
                taken = await apply_batch(conn, plan, venue, store.GUARD_TICKET_STATE)
                pg = PgStore(conn)
                for zone_id, inside, cap in taken or ():
                    level = await zone_alert_level(
                        pg, cache, venue.zones.get(zone_id), (inside, cap), False
                    )
                    if level is not None:
                        levels.append(level)
        if taken is None:
            self.fallbacks += 1
            for i in plan.decided:
                plan.answers[i] = FALLBACK
        else:
            self.batches += 1
        alerted = False
        for level in levels:
            async with ctx.db.writing() as session:
                alerted = await raise_zone_alert(session, event_id, level) or alerted
        if taken is not None and plan.logged:
            ctx.changed(event_id, *TOPICS, *(("alerts",) if alerted else ()))
        for waiting, result in zip(batch, plan.answers, strict=True):
            if not waiting.answered.done():
                waiting.answered.set_result(result)
