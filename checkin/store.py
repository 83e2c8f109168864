"""The statements of the scan hot path, on each database.

A scan is read, decided, applied (``checkin.admission.admit_one``; the
batched door line, ``checkin.door_line``, has its own array statements):

1. ``read``: the ticket a secret names, and the stored answer of the nonce
   if it was seen before — one query, no lock.
2. ``checkin.rules.decide`` on that row, in Python.
3. ``log`` (a refusal: the scan-log insert alone) or ``apply`` (an
   admission or exit: move the ticket, the zone counters and log the scan,
   all or nothing).

Exactly once rests on ``apply``'s condition, not on a row lock: the ticket
is moved only if it still holds what the decision was taken on (zone,
first admission, generation, status, type). When another door moved it
meanwhile, nothing is written and the caller decides again on a fresh read.
PostgreSQL re-checks the condition on the newest row version after waiting
for a concurrent writer (READ COMMITTED), so of two doors racing on one
ticket exactly one moves it. ``tests/checkin/test_admission_race.py``
removes the condition (``guarded=False``) and watches tickets get in twice.

On PostgreSQL each step is ONE statement in autocommit on a raw asyncpg
connection (``Database.raw_pool``): no BEGIN/COMMIT round trips, no
SQLAlchemy compilation (several times the cost of the statement itself on
a CPU-bound door rush), asyncpg's prepared-statement cache. ``apply`` is a
chain of data-modifying CTEs; as CTEs cannot undo each other, the final
SELECT raises when the pieces disagree (the ticket moved but its zone
counter or its log row did not follow), which rolls the whole statement
back, and the caller reads and decides again.

On SQLite every write already goes through the process's one writer lock;
``apply`` runs the same guarded steps as Core statements in a transaction
under it, and rolls back when one of them finds nothing to change. Each
step is one trip to the process's SQLite scan thread (a plain ``sqlite3``
connection, ``Database.on_sqlite_thread``) rather than ~4 trips a statement
through aiosqlite (~22 a scan), its statements compiled once and run on
that connection's own cursor (``_Sql``): at 16 doors 180 → ~1,100 scans/s
on the 2-core machine (``bench/sqlite.py``; bench/README.md has the runs).

Capacity without a hot row: a zone's capacity is split over ``zone_shards``
rows whose caps sum to it; entering takes a place in one shard with room
(starting at the shard the ticket id picks, so concurrent doors mostly
touch different rows) with a conditional ``inside < cap``, so a zone's
count never exceeds its capacity.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

import asyncpg
import orjson
from sqlalchemy import Connection, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db import Database
from server.models import Scan, Ticket, ZoneShard

#: The protection the race test removes (``tests/checkin/test_admission_race.py``):
#: move a ticket only if it still holds what the decision was taken on.
GUARD_TICKET_STATE = True

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


#: Each scan-log column's PostgreSQL type, for ``unnest`` of one array per column.
SCAN_TYPES = {
    "id": "bigint",
    "event_id": "bigint",
    "ticket_id": "bigint",
    "gate_id": "bigint",
    "device_id": "bigint",
    "direction": "text",
    "nonce": "text",
    "scanned_at": "timestamptz",
    "received_at": "timestamptz",
    "status": "text",
    "reason": "text",
    "from_zone_id": "bigint",
    "to_zone_id": "bigint",
    "offline": "boolean",
    "conflict_with": "bigint",
    "annulled_at": "timestamptz",
    "annulled_by": "bigint",
    "response": "text",  # cast to json below: asyncpg takes JSON as text
}


@dataclass(frozen=True, slots=True)
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

    def moved(self, zone_id: int | None, checked_in_at: datetime | None) -> TicketRow:
        """The same ticket after a move (``dataclasses.replace`` costs ~3× as much)."""
        return TicketRow(
            self.id,
            self.type_id,
            self.holder_name,
            self.code,
            self.status,
            self.generation,
            self.valid_from,
            self.valid_until,
            zone_id,
            checked_in_at,
        )


@dataclass(frozen=True, slots=True)
class Seen:
    """What ``read`` found: the ticket (None: no such secret or id) and the
    answer stored for the nonce (None: a new nonce)."""

    ticket: TicketRow | None
    stored: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ShardWalk:
    """The shards of one zone, walked from ``start`` (the ticket's own shard)."""

    zone_id: int
    start: int
    count: int


@dataclass(frozen=True, slots=True)
class Move:
    """An accepted scan's change: the ticket from ``seen.zone_id`` to ``zone_after``."""

    seen: TicketRow
    zone_after: int | None
    #: The first admission's time, when this scan may be it.
    first_in: datetime | None
    #: The zone counters to take a place in and to give one back to.
    enter: ShardWalk | None
    leave: ShardWalk | None


#: ``apply`` outcomes.
APPLIED = "applied"
#: The ticket no longer holds what the decision was taken on: read again.
STALE = "stale"
#: No shard of the zone entered has room.
FULL = "full"
#: The nonce was logged meanwhile (a twin request): answer with the stored one.
REPEATED = "repeated"


@dataclass(frozen=True, slots=True)
class Applied:
    outcome: str
    scan_id: int | None = None
    #: The entered shard's (inside, cap) after the move.
    taken: tuple[int, int | None] | None = None


class Store(Protocol):
    """The hot-path operations; the same semantics on both databases."""

    async def read(
        self, event_id: int, nonce: str, *, secret: str | None = None, ticket_id: int | None = None
    ) -> Seen: ...

    async def log(self, values: dict[str, Any]) -> int | None:
        """Log a refused scan: its id, or None when the nonce was already logged."""

    async def apply(self, values: dict[str, Any], move: Move) -> Applied:
        """Move the ticket and the zone counters and log the scan, all or nothing
        (guarded by ``GUARD_TICKET_STATE``)."""

    async def zone_total(self, zone_id: int) -> int: ...


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# --- PostgreSQL: asyncpg ------------------------------------------------------------

_N = len(SCAN_FIELDS)
_T = ", ".join(f"t.{name}" for name in TICKET_FIELDS)
_PG_READ = (
    f"SELECT (SELECT response FROM scans WHERE event_id = $1 AND nonce = $3) AS stored, {_T}"
    " FROM (SELECT 1) AS one LEFT JOIN tickets t ON t.event_id = $1 AND t.{key} = $2"
)
_PG_READ_BY_SECRET = _PG_READ.format(key="secret")
_PG_READ_BY_ID = _PG_READ.format(key="id")
_PG_LOG = (
    f"INSERT INTO scans ({', '.join(SCAN_FIELDS)})"
    f" VALUES ({', '.join(f'${i + 1}' for i in range(_N))})"
    " ON CONFLICT (event_id, nonce) DO NOTHING RETURNING id"
)
_PG_TOTAL = "SELECT coalesce(sum(inside), 0) FROM zone_shards WHERE zone_id = $1"

# The parameters after the scan's own: the ticket and what was seen of it,
# where it goes, and the two shard walks (zone, start, count).
_P = {
    name: f"${_N + i + 1}"
    for i, name in enumerate(
        (
            "ticket",
            "seen_zone",
            "seen_checked_in",
            "generation",
            "type",
            "zone_after",
            "first_in",
            "enter_zone",
            "enter_start",
            "enter_count",
            "leave_zone",
            "leave_start",
            "leave_count",
        )
    )
}

#: THE exactly-once condition: the ticket still holds what was decided on.
_PG_GUARD = (
    " AND zone_id IS NOT DISTINCT FROM {seen_zone}::bigint"
    " AND checked_in_at IS NOT DISTINCT FROM {seen_checked_in}::timestamptz"
    " AND generation = {generation} AND type_id = {type} AND status = 'valid'"
)


def _pg_apply(guarded: bool) -> str:
    p = _P
    # Unguarded (the race test), the parameters still need a type.
    guard = (
        _PG_GUARD.format(**p)
        if guarded
        else " AND num_nulls({seen_zone}::bigint, {seen_checked_in}::timestamptz,"
        " {generation}::integer, {type}::bigint) >= 0".format(**p)
    )
    return f"""
WITH candidate AS (
    -- a shard of the zone entered with room, the ticket's own shard first
    SELECT shard FROM zone_shards
    WHERE zone_id = {p["enter_zone"]} AND (cap IS NULL OR inside < cap)
    ORDER BY (shard + {p["enter_count"]} - {p["enter_start"]}) % {p["enter_count"]}
    LIMIT 1
), moved AS (
    UPDATE tickets
    SET zone_id = {p["zone_after"]}, checked_in_at = coalesce(checked_in_at, {p["first_in"]})
    WHERE id = {p["ticket"]}{guard}
      AND ({p["enter_zone"]}::bigint IS NULL OR EXISTS (SELECT 1 FROM candidate))
    RETURNING id
), entered AS (
    UPDATE zone_shards SET inside = inside + 1
    WHERE zone_id = {p["enter_zone"]} AND shard = (SELECT shard FROM candidate)
      AND (cap IS NULL OR inside < cap) AND EXISTS (SELECT 1 FROM moved)
    RETURNING inside, cap
), left_zone AS (
    UPDATE zone_shards SET inside = inside - 1
    WHERE zone_id = {p["leave_zone"]} AND inside > 0 AND EXISTS (SELECT 1 FROM moved)
      AND shard = (
        SELECT shard FROM zone_shards WHERE zone_id = {p["leave_zone"]} AND inside > 0
        ORDER BY (shard + {p["leave_count"]} - {p["leave_start"]}) % {p["leave_count"]}
        LIMIT 1)
    RETURNING inside
), logged AS (
    INSERT INTO scans ({", ".join(SCAN_FIELDS)})
    SELECT {", ".join(f"${i + 1}" for i in range(_N))} WHERE EXISTS (SELECT 1 FROM moved)
    ON CONFLICT (event_id, nonce) DO NOTHING
    RETURNING id
)
SELECT
    (SELECT id FROM logged) AS scan_id,
    EXISTS (SELECT 1 FROM candidate) AS had_room,
    (SELECT inside FROM entered) AS inside,
    (SELECT cap FROM entered) AS cap,
    -- CTEs cannot undo each other: when the ticket moved but its counter
    -- (a racing door took the shard's last place) or its log row (a twin
    -- request logged the nonce) did not follow, fail the cast, which rolls
    -- the whole statement back. Built from "moved" so that the planner
    -- cannot fold it into a constant and raise it every time.
    CASE WHEN EXISTS (SELECT 1 FROM moved) AND (
        NOT EXISTS (SELECT 1 FROM logged)
        OR ({p["enter_zone"]}::bigint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entered)))
    THEN CAST((SELECT '{NOT_WHOLE} ' || id FROM moved) AS integer) END AS whole
"""


#: The text of the error that rolls a partial ``apply`` back.
NOT_WHOLE = "muster-scan-not-applied-whole"
_PG_APPLY = {guarded: _pg_apply(guarded) for guarded in (True, False)}


def _walk_args(walk: ShardWalk | None) -> tuple[int | None, int, int]:
    return (None, 0, 1) if walk is None else (walk.zone_id, walk.start % walk.count, walk.count)


class PgStore:
    """One pooled asyncpg connection in autocommit: every call is one round trip."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def read(
        self, event_id: int, nonce: str, *, secret: str | None = None, ticket_id: int | None = None
    ) -> Seen:
        sql, key = (
            (_PG_READ_BY_SECRET, secret) if secret is not None else (_PG_READ_BY_ID, ticket_id)
        )
        record = await self.conn.fetchrow(sql, event_id, key, nonce)
        assert record is not None  # the outer join always yields one row
        stored = record["stored"]
        ticket = None if record["id"] is None else TicketRow(*tuple(record)[1:])
        return Seen(ticket, None if stored is None else orjson.loads(stored))

    @staticmethod
    def _scan_args(values: Mapping[str, Any]) -> list[Any]:
        args = [values[name] for name in SCAN_FIELDS]
        args[-1] = _dumps(args[-1])  # a json column: asyncpg takes text
        return args

    async def log(self, values: dict[str, Any]) -> int | None:
        scan_id = await self.conn.fetchval(_PG_LOG, *self._scan_args(values))
        return None if scan_id is None else int(scan_id)

    async def apply(self, values: dict[str, Any], move: Move) -> Applied:
        seen = move.seen
        try:
            record = await self.conn.fetchrow(
                _PG_APPLY[GUARD_TICKET_STATE],
                *self._scan_args(values),
                seen.id,
                seen.zone_id,
                seen.checked_in_at,
                seen.generation,
                seen.type_id,
                move.zone_after,
                move.first_in,
                *_walk_args(move.enter),
                *_walk_args(move.leave),
            )
        except asyncpg.InvalidTextRepresentationError as exc:
            if NOT_WHOLE not in str(exc):
                raise
            return Applied(STALE)
        except asyncpg.DeadlockDetectedError:
            # Two people crossing between two zones in opposite directions
            # at once can lock the same two shards in opposite orders.
            return Applied(STALE)
        assert record is not None
        if record["scan_id"] is not None:
            taken = None if record["inside"] is None else (int(record["inside"]), record["cap"])
            return Applied(APPLIED, int(record["scan_id"]), taken)
        if move.enter is not None and not record["had_room"]:
            return Applied(FULL)
        return Applied(STALE)

    async def zone_total(self, zone_id: int) -> int:
        return int(await self.conn.fetchval(_PG_TOTAL, zone_id))


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
#: Move a ticket (used at sync and by the SQLite hot path).
MOVE_TICKET = (
    update(_tickets)
    .where(_tickets.c.id == bindparam("ticket"))
    .values(
        zone_id=bindparam("zone_after"),
        # Typed, so that SQLite stores it as the column's own text (the guard compares it).
        checked_in_at=func.coalesce(
            _tickets.c.checked_in_at, bindparam("first_in", type_=_tickets.c.checked_in_at.type)
        ),
    )
)
#: The same move, only if the ticket still holds what the decision saw (see _PG_GUARD).
_CORE_GUARDED_MOVE = MOVE_TICKET.where(
    _tickets.c.zone_id.is_not_distinct_from(bindparam("seen_zone")),
    _tickets.c.checked_in_at.is_not_distinct_from(bindparam("seen_checked_in")),
    and_(
        _tickets.c.generation == bindparam("seen_generation"),
        _tickets.c.type_id == bindparam("seen_type"),
        _tickets.c.status == "valid",
    ),
)
_CORE_LOG_SCAN = (
    sqlite.insert(_scans)
    .on_conflict_do_nothing(index_elements=["event_id", "nonce"])
    .returning(_scans.c.id)
)


class CoreShards:
    """Zone counter steps as Core statements in the caller's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def enter(self, walk: ShardWalk) -> tuple[int, int | None] | None:
        """Take a place in a shard with room: (its new inside, its cap), or None when full."""
        for step in range(walk.count):
            shard = (walk.start + step) % walk.count
            row = (
                await self.conn.execute(_CORE_ENTER, {"b_zone": walk.zone_id, "b_shard": shard})
            ).first()
            if row is not None:
                return int(row.inside), row.cap
        return None

    async def leave(self, walk: ShardWalk) -> bool:
        for step in range(walk.count):
            shard = (walk.start + step) % walk.count
            result = await self.conn.execute(
                _CORE_LEAVE, {"b_zone": walk.zone_id, "b_shard": shard}
            )
            if result.first() is not None:
                return True
        return False

    async def force_into(self, walk: ShardWalk) -> None:
        """Count one more person whatever the caps (undoing a departure)."""
        if walk.count:
            await self.conn.execute(
                _CORE_FORCE, {"b_zone": walk.zone_id, "b_shard": walk.start % walk.count}
            )

    async def total(self, zone_id: int) -> int:
        total = await self.conn.scalar(
            select(func.coalesce(func.sum(_shards.c.inside), 0)).where(_shards.c.zone_id == zone_id)
        )
        return int(total or 0)


class _Undo(Exception):
    """Roll the SQLite transaction back and answer ``applied``."""

    def __init__(self, applied: Applied) -> None:
        self.applied = applied


class CoreStore:
    """The hot path on SQLite: each step one trip to the process's SQLite
    scan thread (``Database.on_sqlite_thread``), its Core statements on a
    plain ``sqlite3`` connection there; writes under the writer lock."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(
        self, event_id: int, nonce: str, *, secret: str | None = None, ticket_id: int | None = None
    ) -> Seen:
        return await self.db.on_sqlite_thread(_read, event_id, nonce, secret, ticket_id)

    async def log(self, values: dict[str, Any]) -> int | None:
        return await self.db.on_sqlite_thread(_log, values, write=True)

    async def apply(self, values: dict[str, Any], move: Move) -> Applied:
        try:
            return await self.db.on_sqlite_thread(
                _apply, values, move, GUARD_TICKET_STATE, write=True
            )
        except _Undo as undo:  # rolled back
            return undo.applied

    async def zone_total(self, zone_id: int) -> int:
        return await self.db.on_sqlite_thread(_total, zone_id)


# The steps of CoreStore, on the SQLite thread (a sync connection; a write
# step's transaction commits when it returns, rolls back when it raises).


class _Sql:
    """A Core statement compiled once for the SQLite thread's own ``sqlite3``
    cursor: its text, its parameters in order with their types' processors,
    and the processors of the columns it answers. Through SQLAlchemy's
    execution each statement cost ~0.1 ms of Python (context, cache key,
    result) around ~0.02 ms of SQLite; the values stored and read are the
    same, converted by the same type processors."""

    def __init__(
        self, statement: Any, conn: Connection, answers: tuple[Any, ...], keys: Any = None
    ) -> None:
        dialect = conn.dialect
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.compiled = compiled
        self.sql = compiled.string
        self.names = list(compiled.positiontup or ())
        self.binds = [
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.names
        ]
        self.answers = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in answers
        ]

    def run(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """The raw cursor after executing with ``values`` (a bound parameter's own value otherwise)."""
        params = self.compiled.construct_params(dict(values))
        args = [
            value if bind is None else bind(value)
            for bind, value in zip(self.binds, (params[name] for name in self.names), strict=True)
        ]
        cursor = cast(Any, conn.connection.driver_connection).cursor()
        cursor.execute(self.sql, args)
        return cursor

    def rows(self, conn: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        cursor = self.run(conn, values)
        try:
            found = cursor.fetchall()
        finally:
            cursor.close()
        answers = self.answers
        return [
            tuple(
                value if convert is None else convert(value)
                for convert, value in zip(answers, row, strict=True)
            )
            for row in found
        ]


_ONE_THREAD: dict[str, _Sql] = {}


def _sql(name: str, conn: Connection) -> _Sql:
    """The thread's statement ``name``, compiled on first use (one SQLite thread a process)."""
    found = _ONE_THREAD.get(name)
    if found is None:
        statement, answers, keys = _THREAD_STATEMENTS[name]
        found = _ONE_THREAD[name] = _Sql(statement, conn, answers, keys)
    return found


_TICKET_COLUMNS = tuple(_tickets.c[name] for name in TICKET_FIELDS)
_THREAD_STATEMENTS: dict[str, tuple[Any, tuple[Any, ...], Any]] = {
    "ticket_by_secret": (
        _CORE_TICKET.where(
            _tickets.c.event_id == bindparam("b_event"), _tickets.c.secret == bindparam("b_key")
        ),
        _TICKET_COLUMNS,
        None,
    ),
    "ticket_by_id": (
        _CORE_TICKET.where(
            _tickets.c.event_id == bindparam("b_event"), _tickets.c.id == bindparam("b_key")
        ),
        _TICKET_COLUMNS,
        None,
    ),
    "stored": (
        select(_scans.c.response).where(
            _scans.c.event_id == bindparam("b_event"), _scans.c.nonce == bindparam("b_nonce")
        ),
        (_scans.c.response,),
        None,
    ),
    "log": (_CORE_LOG_SCAN, (_scans.c.id,), list(SCAN_FIELDS)),
    "guarded_move": (_CORE_GUARDED_MOVE, (), None),
    "move": (MOVE_TICKET, (), None),
    "enter": (_CORE_ENTER, (_shards.c.inside, _shards.c.cap), None),
    "leave": (_CORE_LEAVE, (_shards.c.inside,), None),
}


def _read(
    conn: Connection, event_id: int, nonce: str, secret: str | None, ticket_id: int | None
) -> Seen:
    by, key = ("ticket_by_secret", secret) if secret is not None else ("ticket_by_id", ticket_id)
    rows = _sql(by, conn).rows(conn, {"b_event": event_id, "b_key": key})
    stored = _sql("stored", conn).rows(conn, {"b_event": event_id, "b_nonce": nonce})
    ticket = TicketRow(*rows[0]) if rows else None
    return Seen(ticket, dict(stored[0][0]) if stored and stored[0][0] is not None else None)


def _log(conn: Connection, values: dict[str, Any]) -> int | None:
    rows = _sql("log", conn).rows(conn, values)
    return int(rows[0][0]) if rows else None


def _apply(conn: Connection, values: dict[str, Any], move: Move, guarded: bool) -> Applied:
    seen = move.seen
    params = {
        "ticket": seen.id,
        "zone_after": move.zone_after,
        "first_in": move.first_in,
        "seen_zone": seen.zone_id,
        "seen_checked_in": seen.checked_in_at,
        "seen_generation": seen.generation,
        "seen_type": seen.type_id,
    }
    cursor = _sql("guarded_move" if guarded else "move", conn).run(conn, params)
    moved, _ = cursor.rowcount, cursor.close()
    if moved != 1:
        raise _Undo(Applied(STALE))
    taken = None
    if move.enter is not None:
        taken = _enter(conn, move.enter)
        if taken is None:
            raise _Undo(Applied(FULL))
    if move.leave is not None:
        _leave(conn, move.leave)
    scan_id = _log(conn, values)
    if scan_id is None:
        raise _Undo(Applied(REPEATED))
    return Applied(APPLIED, scan_id, taken)


def _enter(conn: Connection, walk: ShardWalk) -> tuple[int, int | None] | None:
    """CoreShards.enter on the SQLite thread."""
    for step in range(walk.count):
        shard = (walk.start + step) % walk.count
        rows = _sql("enter", conn).rows(conn, {"b_zone": walk.zone_id, "b_shard": shard})
        if rows:
            return int(rows[0][0]), rows[0][1]
    return None


def _leave(conn: Connection, walk: ShardWalk) -> bool:
    """CoreShards.leave on the SQLite thread."""
    for step in range(walk.count):
        shard = (walk.start + step) % walk.count
        if _sql("leave", conn).rows(conn, {"b_zone": walk.zone_id, "b_shard": shard}):
            return True
    return False


def _total(conn: Connection, zone_id: int) -> int:
    total = conn.scalar(
        select(func.coalesce(func.sum(_shards.c.inside), 0)).where(_shards.c.zone_id == zone_id)
    )
    return int(total or 0)


@contextlib.asynccontextmanager
async def writing(db: Database) -> AsyncIterator[AsyncConnection]:
    """A Core connection in a transaction, under the SQLite writer lock."""
    lock = db.write_lock if db.is_sqlite else contextlib.nullcontext()
    async with lock, db.engine.begin() as conn:
        yield conn


@contextlib.asynccontextmanager
async def hot_path(db: Database) -> AsyncIterator[Store]:
    """The store for one scan: a pooled asyncpg connection on PostgreSQL."""
    if db.is_sqlite:
        yield CoreStore(db)
        return
    async with db.raw_connection() as conn:
        yield PgStore(conn)
