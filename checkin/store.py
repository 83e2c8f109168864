"""The statements of the scan hot path, on each database.

``checkin.admission.admit`` runs a handful of statements per scan: lock the
ticket, move a shard counter, move the ticket and log the scan. Building and
compiling SQLAlchemy statements costs several times what the statements
themselves cost the database, and the door rush is CPU-bound in Python, so
on PostgreSQL these go straight to asyncpg (its per-connection prepared
statement cache, and the ticket move folded into the scan-log insert as one
statement). SQLite runs the same operations through SQLAlchemy Core.

Both stores have the same methods and semantics; the check-in tests run on
both databases.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db import Database
from server.models import Scan, Ticket, ZoneShard

_tickets = cast(Table, Ticket.__table__)
_scans = cast(Table, Scan.__table__)
_shards = cast(Table, ZoneShard.__table__)

TICKET_FIELDS = (
    "id",
    "type_id",
    "holder_name",
    "code",
    "status",
    "generation",
    "valid_from",
    "valid_until",
    "zone_id",
    "checked_in_at",
)

SCAN_FIELDS = (
    "event_id",
    "ticket_id",
    "gate_id",
    "device_id",
    "direction",
    "nonce",
    "scanned_at",
    "received_at",
    "status",
    "reason",
    "from_zone_id",
    "to_zone_id",
    "offline",
    "conflict_with",
    "annulled_at",
    "annulled_by",
    "response",
)


@dataclass(frozen=True)
class TicketRow:
    id: int
    type_id: int
    holder_name: str
    code: str
    status: str
    generation: int
    valid_from: datetime | None
    valid_until: datetime | None
    zone_id: int | None
    checked_in_at: datetime | None


class Store(Protocol):
    """One transaction's worth of hot-path statements."""

    async def ticket_by_secret(
        self, event_id: int, secret: str, lock: bool
    ) -> TicketRow | None: ...

    async def ticket_by_id(self, event_id: int, ticket_id: int, lock: bool) -> TicketRow | None: ...

    async def enter_shard(self, zone_id: int, shard: int) -> tuple[int, int | None] | None:
        """Take a place in one shard if it has room: (its new inside, its cap)."""

    async def leave_shard(self, zone_id: int, shard: int) -> bool:
        """Give back a place in one shard if it counts anyone."""

    async def force_into_shard(self, zone_id: int, shard: int) -> None: ...

    async def zone_total(self, zone_id: int) -> int: ...

    async def log_scan(
        self, values: dict[str, Any], move: tuple[int, int | None, datetime | None] | None
    ) -> int | None:
        """Insert the scan (and apply ``move`` = (ticket, zone after, first admission)
        to the ticket); the new scan id, or None when the nonce was already logged."""


# --- PostgreSQL: asyncpg ------------------------------------------------------------

_PG_TICKET = f"SELECT {', '.join(TICKET_FIELDS)} FROM tickets WHERE event_id = $1 AND {{key}} = $2"
_PG_BY_SECRET = _PG_TICKET.format(key="secret")
_PG_BY_ID = _PG_TICKET.format(key="id")
_PG_ENTER = (
    "UPDATE zone_shards SET inside = inside + 1 WHERE zone_id = $1 AND shard = $2"
    " AND (cap IS NULL OR inside < cap) RETURNING inside, cap"
)
_PG_LEAVE = (
    "UPDATE zone_shards SET inside = inside - 1 WHERE zone_id = $1 AND shard = $2"
    " AND inside > 0 RETURNING inside"
)
_PG_FORCE = "UPDATE zone_shards SET inside = inside + 1 WHERE zone_id = $1 AND shard = $2"
_PG_TOTAL = "SELECT coalesce(sum(inside), 0) FROM zone_shards WHERE zone_id = $1"
_N = len(SCAN_FIELDS)
# The ticket move rides along with the scan-log insert: one round trip. A
# data-modifying CTE always runs; when the insert finds the nonce taken the
# caller rolls the whole transaction back.
_PG_LOG_SCAN = (
    "WITH moved AS (UPDATE tickets SET zone_id = ${z}, checked_in_at = coalesce(checked_in_at, ${f})"
    " WHERE id = ${t} AND ${m}::boolean RETURNING id)"
    " INSERT INTO scans ({cols}) VALUES ({vals})"
    " ON CONFLICT (event_id, nonce) DO NOTHING RETURNING id"
).format(
    z=_N + 1,
    f=_N + 2,
    t=_N + 3,
    m=_N + 4,
    cols=", ".join(SCAN_FIELDS),
    vals=", ".join(f"${i + 1}" for i in range(_N)),
)


class PgStore:
    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def _ticket(self, sql: str, event_id: int, key: Any, lock: bool) -> TicketRow | None:
        record = await self.raw.fetchrow(sql + (" FOR UPDATE" if lock else ""), event_id, key)
        return None if record is None else TicketRow(**dict(record))

    async def ticket_by_secret(self, event_id: int, secret: str, lock: bool) -> TicketRow | None:
        return await self._ticket(_PG_BY_SECRET, event_id, secret, lock)

    async def ticket_by_id(self, event_id: int, ticket_id: int, lock: bool) -> TicketRow | None:
        return await self._ticket(_PG_BY_ID, event_id, ticket_id, lock)

    async def enter_shard(self, zone_id: int, shard: int) -> tuple[int, int | None] | None:
        record = await self.raw.fetchrow(_PG_ENTER, zone_id, shard)
        return None if record is None else (int(record["inside"]), record["cap"])

    async def leave_shard(self, zone_id: int, shard: int) -> bool:
        return await self.raw.fetchrow(_PG_LEAVE, zone_id, shard) is not None

    async def force_into_shard(self, zone_id: int, shard: int) -> None:
        await self.raw.execute(_PG_FORCE, zone_id, shard)

    async def zone_total(self, zone_id: int) -> int:
        return int(await self.raw.fetchval(_PG_TOTAL, zone_id))

    async def log_scan(
        self, values: dict[str, Any], move: tuple[int, int | None, datetime | None] | None
    ) -> int | None:
        args = [values[name] for name in SCAN_FIELDS]
        args[-1] = orjson.dumps(args[-1]).decode()  # a json column: asyncpg takes text
        ticket, zone_after, first_in = move if move is not None else (0, None, None)
        scan_id = await self.raw.fetchval(
            _PG_LOG_SCAN, *args, zone_after, first_in, ticket, move is not None
        )
        return None if scan_id is None else int(scan_id)


# --- SQLite (and anything else): SQLAlchemy Core ---------------------------------------

_CORE_TICKET = select(*(_tickets.c[name] for name in TICKET_FIELDS))
_CORE_ENTER = (
    update(_shards)
    .where(
        _shards.c.zone_id == bindparam("b_zone"),
        _shards.c.shard == bindparam("b_shard"),
        or_(_shards.c.cap.is_(None), _shards.c.inside < _shards.c.cap),
    )
    .values(inside=_shards.c.inside + 1)
    .returning(_shards.c.inside, _shards.c.cap)
)
_CORE_LEAVE = (
    update(_shards)
    .where(
        _shards.c.zone_id == bindparam("b_zone"),
        _shards.c.shard == bindparam("b_shard"),
        _shards.c.inside > 0,
    )
    .values(inside=_shards.c.inside - 1)
    .returning(_shards.c.inside)
)
_CORE_FORCE = (
    update(_shards)
    .where(_shards.c.zone_id == bindparam("b_zone"), _shards.c.shard == bindparam("b_shard"))
    .values(inside=_shards.c.inside + 1)
)
MOVE_TICKET = (
    update(_tickets)
    .where(_tickets.c.id == bindparam("ticket"))
    .values(
        zone_id=bindparam("zone_after"),
        checked_in_at=func.coalesce(_tickets.c.checked_in_at, bindparam("first_in")),
    )
)
_CORE_LOG_SCAN = (
    sqlite.insert(_scans)
    .on_conflict_do_nothing(index_elements=["event_id", "nonce"])
    .returning(_scans.c.id)
)


class CoreStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def _ticket(self, condition: Any, event_id: int, lock: bool) -> TicketRow | None:
        query = _CORE_TICKET.where(_tickets.c.event_id == event_id, condition)
        row = (await self.conn.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else TicketRow(**row._mapping)

    async def ticket_by_secret(self, event_id: int, secret: str, lock: bool) -> TicketRow | None:
        return await self._ticket(_tickets.c.secret == secret, event_id, lock)

    async def ticket_by_id(self, event_id: int, ticket_id: int, lock: bool) -> TicketRow | None:
        return await self._ticket(_tickets.c.id == ticket_id, event_id, lock)

    async def enter_shard(self, zone_id: int, shard: int) -> tuple[int, int | None] | None:
        row = (await self.conn.execute(_CORE_ENTER, {"b_zone": zone_id, "b_shard": shard})).first()
        return None if row is None else (int(row.inside), row.cap)

    async def leave_shard(self, zone_id: int, shard: int) -> bool:
        result = await self.conn.execute(_CORE_LEAVE, {"b_zone": zone_id, "b_shard": shard})
        return result.first() is not None

    async def force_into_shard(self, zone_id: int, shard: int) -> None:
        await self.conn.execute(_CORE_FORCE, {"b_zone": zone_id, "b_shard": shard})

    async def zone_total(self, zone_id: int) -> int:
        total = await self.conn.scalar(
            select(func.coalesce(func.sum(_shards.c.inside), 0)).where(_shards.c.zone_id == zone_id)
        )
        return int(total or 0)

    async def log_scan(
        self, values: dict[str, Any], move: tuple[int, int | None, datetime | None] | None
    ) -> int | None:
        if move is not None:
            ticket, zone_after, first_in = move
            await self.conn.execute(
                MOVE_TICKET, {"ticket": ticket, "zone_after": zone_after, "first_in": first_in}
            )
        scan_id = await self.conn.scalar(_CORE_LOG_SCAN.values(values))
        return None if scan_id is None else int(scan_id)


@contextlib.asynccontextmanager
async def writing(db: Database) -> AsyncIterator[AsyncConnection]:
    """A Core connection in a transaction, under the SQLite writer lock."""
    lock = db.write_lock if db.is_sqlite else contextlib.nullcontext()
    async with lock, db.engine.begin() as conn:
        yield conn


@contextlib.asynccontextmanager
async def hot_path(db: Database) -> AsyncIterator[Store]:
    """A store in a transaction: committed on success, rolled back on any exception."""
    if db.is_sqlite:
        async with writing(db) as conn:
            yield CoreStore(conn)
        return
    async with db.engine.connect() as conn:
        adapted = await conn.get_raw_connection()
        raw = adapted.driver_connection
        assert raw is not None
        async with raw.transaction():
            yield PgStore(raw)
