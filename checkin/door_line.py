"""The door line: online scans that arrive together share their round trips.

At the entry rush 64 doors post at once, and a scan's cost is mostly the
steps of ``checkin.admission.admit_one`` — on the server's CPU (asyncpg, or
the hand-offs to the SQLite scan thread and a commit each) and on the
database's. The door line is a group commit: each
process keeps, per event, the scans waiting for the database. The first
scan goes at once (no timer); those that arrive while batches are in flight
(``LANES`` of them at most; one on SQLite) form the next batch. A batch is:

1. ONE read of all its tickets (by secret) and its nonces' stored answers;
2. ``checkin.batch_plan.plan_batch`` (pure): every scan decided with
   ``checkin.rules.decide`` in arrival order, a ticket's later scans on the
   state its earlier ones left, as if they had come one after another;
3. ONE statement over the batch's rows: the tickets moved (each only if it
   still holds what the batch read — the guard of ``admit_one``,
   ``checkin.store.guard``), the zone counters and the scan-log rows.

Both are the store's ``read_batch`` and ``apply_batch``: on PostgreSQL two
statements (``checkin.store.postgres``), on SQLite two trips to the scan
thread, the write one transaction under the writer lock
(``checkin.store.sqlite``).

That write is all or nothing. When another process moved one of the
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
from typing import Any, cast

from checkin.answers import TOPICS, ScanRequest
from checkin.batch_plan import FALLBACK, plan_batch, zone_steps
from checkin.capacity import ZoneLevel, raise_zone_alert, zone_alert_level
from checkin.secrets import secret_text
from checkin.store import batch_path
from checkin.venue import GateInfo, Venue, venues
from server.context import Muster
from server.db import connection_lost
from server.models import utcnow

log = logging.getLogger("muster.checkin")

#: Most scans in one batch (the rest wait for the next).
MAX_BATCH = 256

#: Batches of one event in flight at once in a process (PostgreSQL). With
#: one, the database idles while this process answers a batch and reads the
#: next requests, and this process idles while the database writes; with
#: two, each works while the other does. A second batch meets the first as a
#: batch of another process would (guards, row locks, fallback).
LANES = 2
#: On SQLite the database is this process's own scan thread: nothing works
#: while a second lane waits for it, and a second lane only splits the scans
#: waiting into smaller batches (bench.sqlite at 16 doors: rounds with
#: batches of one or two cost the single path's ~1.1 ms of CPU a scan).
SQLITE_LANES = 1


@dataclass(eq=False)
class Waiting:
    """A scan in the line and the request waiting for its answer."""

    scan: ScanRequest
    secret: str
    venue: Venue
    gate: GateInfo
    received_at: datetime
    answered: asyncio.Future[dict[str, Any] | str]


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
        #: The lanes writing batches now (at most ``most_lanes``).
        self.lanes: set[asyncio.Task[None]] = set()
        #: Batches written whole, batches handed to the single path because
        #: they were rolled back, and because a statement failed (for tests).
        self.batches = 0
        self.fallbacks = 0
        self.failures = 0
        self.most_lanes = SQLITE_LANES if ctx.db.is_sqlite else LANES

    async def admit(self, scan: ScanRequest) -> dict[str, Any]:
        received_at = utcnow()
        venue, gate = await venues(self.ctx).gate(self.event_id, scan.gate_id)
        loop = asyncio.get_running_loop()
        waiting = Waiting(
            scan, secret_text(scan.secret), venue, gate, received_at, loop.create_future()
        )
        self.waiting.append(waiting)
        if len(self.lanes) < self.most_lanes:
            self.lanes.add(loop.create_task(self._drain()))
        result = await waiting.answered
        if isinstance(result, str):  # FALLBACK
            return await self.single(self.ctx, self.event_id, scan)
        return result

    async def _drain(self) -> None:
        try:
            await self._drain_waiting()
        finally:
            # Gone from the lanes in the same step as it found no scan
            # waiting: a scan that arrives next starts a lane (a done
            # callback would run later, and a scan arriving in between
            # would wait for a lane that is gone: with one lane, forever).
            self.lanes.discard(cast(asyncio.Task[None], asyncio.current_task()))

    async def _drain_waiting(self) -> None:
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
        async with batch_path(ctx.db) as store:
            seen = await store.read_batch(
                event_id, [w.secret for w in batch], [w.scan.nonce for w in batch]
            )
            plan = plan_batch(
                event_id,
                [(w.scan, w.venue, w.gate, w.received_at) for w in batch],
                [s.ticket for s in seen],
                [s.stored for s in seen],
            )
            if plan.logged:
                taken = await store.apply_batch(
                    list(plan.moves.values()), zone_steps(plan, venue), plan.logged
                )
                for zone_id, inside, cap in taken or ():
                    level = await zone_alert_level(
                        store, cache, venue.zones.get(zone_id), (inside, cap), False
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
