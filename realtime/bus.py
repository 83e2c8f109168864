"""The database as the bus between server processes.

Every change the hub shows is in a table, written in the business
transaction: stream messages in ``bus_messages`` (``realtime.outbox``),
admissions in ``scans``, revocations in ``revocations``, revoked tokens in
``token_revocations``. Each process runs
one ``TableReader`` per table that reads ``id > position`` and hands new
rows to the hub, so every process delivers the same messages with the same
offsets (the ids).

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

On PostgreSQL a read is three plain statements on the raw asyncpg pool
(``Database.raw_pool``), not SQLAlchemy: every scan of every door passes
through the scans reader on every process, and through an ``AsyncSession``
the reads took about a fifth of the server's CPU in a door rush.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.core import SequenceCursor
from realtime.snapshots import admission_json, revocation_json
from realtime.topics import MESSAGE_TOPICS
from server.availability import DependencyHealth
from server.db import Database, asyncpg_dsn
from server.models import BusMessage, Revocation, Scan, Ticket, TokenRevocation

log = logging.getLogger("muster.realtime")

CHANNEL = "muster"
#: Rows read at most per query; a reader that gets a full batch reads again at once.
BATCH = 2000
#: While a reader holds at a gap, it re-reads this often.
GAP_RETRY = 0.05


@dataclass(slots=True)
class BusItem:
    """One row read from a table: maybe a stream message, maybe state topics it changes.

    ``data`` is the message, or None when ``make`` builds it on demand: the
    hub asks only when someone on this process watches the topic, so a door
    rush nobody watches as ``admissions`` costs no per-scan JSON.
    """

    event_id: int
    offset: int
    topic: str | None
    data: dict[str, Any] | None
    dirty: tuple[str, ...] = ()
    make: Callable[[], dict[str, Any]] | None = None

    def message(self) -> dict[str, Any]:
        if self.data is not None:
            return self.data
        return self.make() if self.make is not None else {}


class TableSource(Protocol):
    """How to read one table as a bus."""

    name: str
    #: The stream topics whose messages come from this table.
    topics: tuple[str, ...]

    async def max_id(self, session: AsyncSession) -> int: ...

    async def fetch(self, session: AsyncSession, after: int, limit: int) -> list[BusItem]:
        """Rows with ``id > after``, ascending, at most ``limit``; one item per row."""
        ...

    async def fetch_pg(self, conn: asyncpg.Connection, after: int, limit: int) -> list[BusItem]:
        """``fetch`` as one raw statement on PostgreSQL, the same items."""
        ...

    async def recent(
        self, session: AsyncSession, event_id: int, topic: str, upto: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        """The newest ``limit`` messages of a topic with offsets ``<= upto``, ascending."""
        ...


class _Row(asyncpg.Record):
    """An asyncpg row whose columns also read as attributes, as
    ``admission_json`` and ``revocation_json`` read a model."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class BusMessages:
    """``bus_messages``: incidents, alerts, broadcasts, annulments and tasks, written by
    ``realtime.outbox`` (annulments by ``checkin.admission.annul``)."""

    name: str = "bus_messages"
    topics: tuple[str, ...] = MESSAGE_TOPICS

    async def max_id(self, session: AsyncSession) -> int:
        return int(await session.scalar(select(func.coalesce(func.max(BusMessage.id), 0))) or 0)

    async def fetch(self, session: AsyncSession, after: int, limit: int) -> list[BusItem]:
        rows = await session.execute(
            select(BusMessage.id, BusMessage.event_id, BusMessage.topic, BusMessage.payload)
            .where(BusMessage.id > after)
            .order_by(BusMessage.id)
            .limit(limit)
        )
        return [
            BusItem(event_id, row_id, topic, payload) for row_id, event_id, topic, payload in rows
        ]

    async def fetch_pg(self, conn: asyncpg.Connection, after: int, limit: int) -> list[BusItem]:
        rows = await conn.fetch(_PG_BUS_MESSAGES, after, limit)
        # The raw pool has no JSON codec: the payload comes as text.
        return [
            BusItem(event_id, row_id, topic, orjson.loads(payload))
            for row_id, event_id, topic, payload in rows
        ]

    async def recent(
        self, session: AsyncSession, event_id: int, topic: str, upto: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        rows = await session.execute(
            select(BusMessage.id, BusMessage.payload)
            .where(
                BusMessage.event_id == event_id, BusMessage.topic == topic, BusMessage.id <= upto
            )
            .order_by(BusMessage.id.desc())
            .limit(limit)
        )
        return [(row_id, payload) for row_id, payload in reversed(rows.all())]


_SCAN_COLUMNS = (
    Scan.id,
    Scan.event_id,
    Scan.status,
    Scan.ticket_id,
    Scan.gate_id,
    Scan.device_id,
    Scan.direction,
    Scan.to_zone_id,
    Scan.scanned_at,
    Scan.received_at,
    Scan.offline,
)
_ADMITTED = ("headcount", "gates")

# The raw statements of ``fetch_pg``: the same columns as the SQLAlchemy ones.
_PG_BUS_MESSAGES = (
    "SELECT id, event_id, topic, payload FROM bus_messages WHERE id > $1 ORDER BY id LIMIT $2"
)
#: The generation by one index lookup per new scan: a join let the planner
#: hash the whole tickets table on every read (3 ms a read at 70,000 tickets).
_PG_SCANS = (
    "SELECT s.id, s.event_id, s.status, s.ticket_id, s.gate_id, s.device_id, s.direction,"
    " s.to_zone_id, s.scanned_at, s.received_at, s.offline,"
    " (SELECT t.generation FROM tickets t WHERE t.id = s.ticket_id) AS generation"
    " FROM scans s WHERE s.id > $1 ORDER BY s.id LIMIT $2"
)
_PG_REVOCATIONS = (
    "SELECT id, event_id, ticket_id, generation, reason, revoked_at"
    " FROM revocations WHERE id > $1 ORDER BY id LIMIT $2"
)


class Scans:
    """``scans``: every accepted scan is an ``admissions`` message; any scan changes
    the gates' picture, an accepted one the headcount."""

    name: str = "scans"
    topics: tuple[str, ...] = ("admissions",)

    async def max_id(self, session: AsyncSession) -> int:
        return int(await session.scalar(select(func.coalesce(func.max(Scan.id), 0))) or 0)

    def _query(self) -> Any:
        return select(Scan, Ticket.generation).outerjoin(Ticket, Ticket.id == Scan.ticket_id)

    async def fetch(self, session: AsyncSession, after: int, limit: int) -> list[BusItem]:
        # Plain rows of the columns used, not ORM objects (which would also
        # load and JSON-decode each scan's stored answer): every scan of
        # every door passes here, 2,000 a second in a rush, on every process.
        rows = await session.execute(
            select(*_SCAN_COLUMNS, Ticket.generation)
            .outerjoin(Ticket, Ticket.id == Scan.ticket_id)
            .where(Scan.id > after)
            .order_by(Scan.id)
            .limit(limit)
        )
        return _scan_items(rows, lambda row: row._mapping)

    async def fetch_pg(self, conn: asyncpg.Connection, after: int, limit: int) -> list[BusItem]:
        return _scan_items(await conn.fetch(_PG_SCANS, after, limit, record_class=_Row))

    async def recent(
        self, session: AsyncSession, event_id: int, topic: str, upto: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        rows = await session.execute(
            self._query()
            .where(Scan.event_id == event_id, Scan.status == "ok", Scan.id <= upto)
            .order_by(Scan.id.desc())
            .limit(limit)
        )
        return [(scan.id, admission_json(scan, gen)) for scan, gen in reversed(rows.all())]


def _scan_items(rows: Any, columns: Callable[[Any], Any] = lambda row: row) -> list[BusItem]:
    """One item per scan row; ``columns(row)`` reads the row's columns by name.

    Every scan of every door passes here: columns by key, not by attribute
    (``_Row.__getattr__`` is a Python call per column).
    """
    items = []
    for row in rows:
        column = columns(row)
        if column["status"] == "ok":
            make = functools.partial(admission_json, row, column["generation"])
            items.append(
                BusItem(column["event_id"], column["id"], "admissions", None, _ADMITTED, make)
            )
        else:
            items.append(BusItem(column["event_id"], column["id"], None, None, ("gates",)))
    return items


class Revocations:
    """``revocations``: the list door phones must refuse, live."""

    name: str = "revocations"
    topics: tuple[str, ...] = ("revocations",)

    async def max_id(self, session: AsyncSession) -> int:
        return int(await session.scalar(select(func.coalesce(func.max(Revocation.id), 0))) or 0)

    async def fetch(self, session: AsyncSession, after: int, limit: int) -> list[BusItem]:
        rows = await session.scalars(
            select(Revocation).where(Revocation.id > after).order_by(Revocation.id).limit(limit)
        )
        return [
            BusItem(r.event_id, r.id, "revocations", revocation_json(r), ("headcount",))
            for r in rows
        ]

    async def fetch_pg(self, conn: asyncpg.Connection, after: int, limit: int) -> list[BusItem]:
        rows = await conn.fetch(_PG_REVOCATIONS, after, limit, record_class=_Row)
        return [
            BusItem(r.event_id, r.id, "revocations", revocation_json(r), ("headcount",))
            for r in rows
        ]

    async def recent(
        self, session: AsyncSession, event_id: int, topic: str, upto: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        rows = await session.scalars(
            select(Revocation)
            .where(Revocation.event_id == event_id, Revocation.id <= upto)
            .order_by(Revocation.id.desc())
            .limit(limit)
        )
        return [(r.id, revocation_json(r)) for r in reversed(rows.all())]


SOURCES: tuple[TableSource, ...] = (BusMessages(), Scans(), Revocations())

_PG_TOKEN_REVOCATIONS = (
    "SELECT id, account_id FROM token_revocations WHERE id > $1 ORDER BY id LIMIT $2"
)


class TokenRevocations:
    """``token_revocations``: tokens revoked (``server.features.tokens``), one item per
    token with ``data = {"account": id}``. Not a client topic: the hub reads
    it to refuse those tokens and close their sockets (``Hub.on_revoked``)."""

    name: str = "token_revocations"
    #: What wakes its reader (``server.features.tokens.TOKENS_TOPIC``); nobody watches it.
    topics: tuple[str, ...] = ("tokens",)

    async def max_id(self, session: AsyncSession) -> int:
        found = await session.scalar(select(func.coalesce(func.max(TokenRevocation.id), 0)))
        return int(found or 0)

    async def fetch(self, session: AsyncSession, after: int, limit: int) -> list[BusItem]:
        rows = await session.execute(
            select(TokenRevocation.id, TokenRevocation.account_id)
            .where(TokenRevocation.id > after)
            .order_by(TokenRevocation.id)
            .limit(limit)
        )
        return [BusItem(0, row_id, None, {"account": account}) for row_id, account in rows]

    async def fetch_pg(self, conn: asyncpg.Connection, after: int, limit: int) -> list[BusItem]:
        rows = await conn.fetch(_PG_TOKEN_REVOCATIONS, after, limit)
        return [BusItem(0, row_id, None, {"account": account}) for row_id, account in rows]

    async def recent(
        self, session: AsyncSession, event_id: int, topic: str, upto: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        return []  # no history: a revocation matters once, when it happens


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
