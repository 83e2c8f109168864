"""The database as the bus between server processes.

Every change the hub shows is in a table, written in the business
transaction: stream messages in ``bus_messages`` (``realtime.outbox``),
admissions in ``scans``, revocations in ``revocations``, revoked tokens in
``token_revocations``. Each process runs one ``TableReader`` per table
that reads ``id > position`` and hands new rows to the hub, so every process
delivers the same messages with the same offsets (the ids).

Wake-ups only make this fast; they carry nothing that matters:

- in this process, ``Muster.changed`` after a commit wakes the readers at once;
- on PostgreSQL, ``PgSignal`` sends ``NOTIFY muster`` at most every
  ``MUSTER_BUS_NOTIFY_INTERVAL`` (batched, never one per scan: NOTIFY takes
  a global lock at commit) and LISTENs on a connection of its own; the
  payload is a hint of which state topics changed (stock, gate health), so
  they need not wait for the next poll;
- every ``MUSTER_BUS_POLL_INTERVAL`` the readers read anyway, and the hub
  recomputes every watched state topic, so a lost notification costs at
  most that long.

What each table reads as (its rows as ``BusItem``, in a SQLite and a
PostgreSQL form side by side) is ``realtime.tables``; the reader picks the
form. On PostgreSQL a read is three plain statements on the raw asyncpg pool
(``Database.raw_pool``): xmin, the table's rows, xmax (``SequenceCursor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from realtime.core import SequenceCursor
from realtime.tables import BusItem, TableSource
from server.availability import DependencyHealth
from server.db import Database, asyncpg_dsn

log = logging.getLogger("muster.realtime")

CHANNEL = "muster"
#: Rows read at most per query; a reader that gets a full batch reads again at once.
BATCH = 2000
#: While a reader holds at a gap, it re-reads this often.
GAP_RETRY = 0.05


_XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
_XMAX = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"


class TableReader:
    """Reads one table from where it left off: new rows go to ``touch`` at once
    (the state topics they change) and to ``deliver`` in id order.

    The position lives in a ``SequenceCursor``, which holds back at a gap of
    ids until the gap fills or is proved empty (see there).
    """

    def __init__(
        self,
        db: Database,
        source: TableSource,
        deliver: Callable[[list[BusItem]], None],
        touch: Callable[[list[BusItem]], None],
        poll_interval: float,
        min_interval: float = 0.0,
    ) -> None:
        self.db = db
        self.source = source
        self.deliver = deliver
        self.touch = touch
        self._marked_upto = 0
        self.poll_interval = poll_interval
        #: Least seconds between two reads: in a rush every batch of door
        #: scans wakes the reader, and a read per batch would cost more
        #: than the batch's own statements. Wake-ups meanwhile are kept.
        self.min_interval = min_interval
        self.cursor = SequenceCursor(position=0)
        self.woken = asyncio.Event()
        self.reads = 0

    async def start(self) -> None:
        """Begin at the table's current end: history before it is loaded on demand."""
        async with self.db.reading() as session:
            self.cursor.position = await self.source.max_id(session)
        self._marked_upto = self.cursor.position

    @property
    def position(self) -> int:
        return self.cursor.position

    def wake(self) -> None:
        self.woken.set()

    async def read(self) -> bool:
        """Read once; True when there may be more to read right away."""
        xmin = xmax = None
        if self.db.is_sqlite:
            async with self.db.reading() as session:
                items = await self.source.fetch(session, self.cursor.position, BATCH)
        else:
            # Three statements in autocommit, each its own READ COMMITTED
            # snapshot: xmin before the fetch, xmax after (see SequenceCursor).
            async with self.db.raw_connection() as conn:
                xmin = int(await conn.fetchval(_XMIN) or 0)
                items = await self.source.fetch_pg(conn, self.cursor.position, BATCH)
                xmax = int(await conn.fetchval(_XMAX) or 0)
        self.reads += 1
        # What the rows change is marked at once, even past a gap the
        # stream must wait at: a state topic has no order to keep.
        fresh = [item for item in items if item.offset > self._marked_upto and item.dirty]
        if fresh:
            self._marked_upto = max(item.offset for item in fresh)
            self.touch(fresh)
        by_id = {item.offset: item for item in items}
        ready = self.cursor.advance(sorted(by_id), time.monotonic(), xmin, xmax)
        if self.cursor.skipped:
            for first, last in self.cursor.skipped:
                log.info("%s: ids %d..%d never committed; moving on", self.source.name, first, last)
            self.cursor.skipped.clear()
        if ready:
            self.deliver([by_id[i] for i in ready])
        return len(items) >= BATCH and len(ready) == len(items)

    async def run(self) -> None:
        while True:
            timeout = GAP_RETRY if self.cursor.holding else self.poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), timeout)
            self.woken.clear()
            try:
                while await self.read():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # cancelled while the driver raised its own error: stop
                if not self.db.health.absorb(exc):  # an outage is logged once, there
                    log.exception("reading %s failed; retrying", self.source.name)
                await asyncio.sleep(self.poll_interval)
            if self.min_interval:
                await asyncio.sleep(self.min_interval)


# --- PostgreSQL wake-ups ----------------------------------------------------------


def encode_hint(origin: str, marks: dict[int, set[str]]) -> str:
    """The NOTIFY payload: who sent it and which topics of which events changed.

    Only a hint: a lost or truncated one costs latency, never correctness.
    """
    body = ";".join(f"{event_id}:{','.join(sorted(topics))}" for event_id, topics in marks.items())
    payload = f"{origin}|{body}"
    # NOTIFY payloads must stay under 8000 bytes.
    return payload if len(payload) < 7900 else f"{origin}|*"


def decode_hint(payload: str) -> tuple[str, dict[int, set[str]] | None]:
    """(origin, marks); marks None means "anything may have changed"."""
    origin, _, body = payload.partition("|")
    if body == "*":
        return origin, None
    marks: dict[int, set[str]] = {}
    try:
        for part in filter(None, body.split(";")):
            event_id, _, topics = part.partition(":")
            marks[int(event_id)] = set(filter(None, topics.split(",")))
    except ValueError:
        return origin, None
    return origin, marks


class PgSignal:
    """Batched NOTIFY out, LISTEN in, on one dedicated asyncpg connection.

    ``mark`` is cheap and synchronous; the sender wakes, sends one NOTIFY for
    everything marked since the last one, and sleeps the notify interval.
    The connection is re-opened after a failure; meanwhile polling covers.
    """

    def __init__(
        self,
        url: str,
        origin: str,
        notify_interval: float,
        on_hint: Callable[[dict[int, set[str]] | None], None],
        health: DependencyHealth | None = None,
    ) -> None:
        self.dsn = asyncpg_dsn(url)
        #: Where an unreachable database is reported (logged once per outage).
        self.health = health
        self.origin = origin
        self.notify_interval = notify_interval
        self.on_hint = on_hint
        self._marks: dict[int, set[str]] = {}
        self._pending = asyncio.Event()
        self.sent = 0
        self.connected = asyncio.Event()

    def mark(self, event_id: int, topics: tuple[str, ...]) -> None:
        self._marks.setdefault(event_id, set()).update(topics)
        self._pending.set()

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        origin, marks = decode_hint(payload)
        if origin != self.origin:
            self.on_hint(marks)

    def _lost(self, exc: BaseException, what: str) -> None:
        if self.health is None or not self.health.absorb(exc):
            log.warning("realtime: %s (%s); retrying", what, exc)

    async def run(self) -> None:
        while True:
            try:
                conn = await asyncpg.connect(self.dsn, timeout=10)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._lost(exc, "cannot LISTEN")
                await asyncio.sleep(1.0)
                continue
            try:
                await conn.add_listener(CHANNEL, self._received)
                self.connected.set()
                # Whatever happened while not listening: look at everything.
                self.on_hint(None)
                await self._send_loop(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._lost(exc, "LISTEN connection lost")
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)

    async def _send_loop(self, conn: asyncpg.Connection) -> None:
        # A connection closed by a database restart must be noticed at
        # once, not at the next NOTIFY this process sends: meanwhile it
        # would hear nothing from the other processes.
        conn.add_termination_listener(lambda _conn: self._pending.set())
        while True:
            await self._pending.wait()
            if conn.is_closed():
                raise asyncpg.InterfaceError("connection is closed")
            self._pending.clear()
            marks, self._marks = self._marks, {}
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, encode_hint(self.origin, marks))
            self.sent += 1
            await asyncio.sleep(self.notify_interval)
