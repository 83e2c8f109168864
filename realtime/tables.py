"""The tables the hub reads as a bus (``realtime.bus.TableReader``), each in one class.

A ``TableSource`` says which stream topics a table carries, and reads it
two ways: ``fetch``, the rows after a position through SQLAlchemy (SQLite),
and ``fetch_pg``, the same rows and items as one plain statement on a raw
asyncpg connection (PostgreSQL), the two forms side by side; ``max_id`` and
``recent`` (a reconnecting client's history, read on demand) are SQLAlchemy
on both. The PostgreSQL form is raw because every scan of every door passes
through the scans reader on every process, and through an ``AsyncSession``
the reads took about a fifth of the server's CPU in a door rush.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.snapshots import admission_json, revocation_json
from realtime.topics import MESSAGE_TOPICS
from server.models import BusMessage, Revocation, Scan, Ticket, TokenRevocation


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
    #: A scan's columns by name (``server.features.scan_tally.ScanTallies.saw``).
    row: Any = None

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
    Scan.from_zone_id,
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
    " s.from_zone_id, s.to_zone_id, s.scanned_at, s.received_at, s.offline,"
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
                BusItem(
                    column["event_id"], column["id"], "admissions", None, _ADMITTED, make, column
                )
            )
        else:
            items.append(
                BusItem(column["event_id"], column["id"], None, None, ("gates",), None, column)
            )
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
