"""Every statement of the scan path on SQLite.

One scan, or a door-line batch (``SqliteStore``): every write already goes
through the process's one writer lock; ``apply`` runs the guarded steps in a transaction under it,
and rolls back when one of them finds nothing to change. Each step is one
trip to the process's SQLite scan thread (a plain ``sqlite3`` connection,
``Database.on_sqlite_thread``) rather than ~4 trips a statement through
aiosqlite (~22 a scan), its statements compiled once and run on that
connection's own cursor (``_Sql``): at 16 doors 180 → ~1,100 scans/s on the
2-core machine (``bench/sqlite.py``; bench/README.md has the runs).

An offline replay's form (``checkin.store.replay.SqliteReplay``) runs Core
statements in the sync's transaction, beside its PostgreSQL form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite

from checkin.store import guard
from checkin.store.guard import ticket_guard
from checkin.store.portable import (
    ENTER_SHARD,
    LEAVE_SHARD,
    MOVE_TICKET,
    SCANS,
    SHARDS,
    TICKET_COLUMNS,
    TICKETS,
)
from checkin.store.rows import (
    APPLIED,
    FULL,
    REPEATED,
    SCAN_FIELDS,
    STALE,
    Applied,
    BatchMoves,
    Counted,
    Move,
    Seen,
    ShardWalk,
    TicketRow,
    ZoneStep,
)
from server.db import Database

#: The move, only if the ticket still holds what the decision saw.
_GUARDED_MOVE = MOVE_TICKET.where(
    text(
        ticket_guard(
            "tickets",
            zone=":seen_zone",
            checked_in=":seen_checked_in",
            generation=":seen_generation",
            type_id=":seen_type",
            same="IS",
        )
    ).bindparams(
        bindparam("seen_zone", type_=BigInteger()),
        # Typed: compared with the column's own text.
        bindparam("seen_checked_in", type_=TICKETS.c.checked_in_at.type),
        bindparam("seen_generation", type_=Integer()),
        bindparam("seen_type", type_=BigInteger()),
    )
)
_LOG_SCANS = sqlite.insert(SCANS).on_conflict_do_nothing(index_elements=["event_id", "nonce"])
#: Log one scan (its id, or none when the nonce is logged already).
LOG_SCAN = _LOG_SCANS.returning(SCANS.c.id)
#: A batch's net change of one zone in one shard with room for all its entries.
_SHIFT_SHARD = (
    update(SHARDS)
    .where(
        SHARDS.c.zone_id == bindparam("b_zone"),
        SHARDS.c.shard == bindparam("b_shard"),
        or_(SHARDS.c.cap.is_(None), SHARDS.c.inside + bindparam("b_enters") <= SHARDS.c.cap),
        SHARDS.c.inside + bindparam("b_delta") >= 0,
    )
    .values(inside=SHARDS.c.inside + bindparam("b_delta"))
    .returning(SHARDS.c.inside, SHARDS.c.cap)
)


class SqliteStore:
    """One scan's steps, each one trip to the SQLite scan thread (writes under the lock)."""

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
                _apply, values, move, guard.GUARD_TICKET_STATE, write=True
            )
        except _Undo as undo:  # rolled back
            return undo.applied

    async def zone_total(self, zone_id: int) -> int:
        return await self.db.on_sqlite_thread(_total, zone_id)

    async def read_batch(self, event_id: int, secrets: list[str], nonces: list[str]) -> list[Seen]:
        """``read`` for many scans in one trip to the thread, in their order (by secret)."""
        return await self.db.on_sqlite_thread(_read_batch, event_id, secrets, nonces)

    async def apply_batch(
        self, moves: BatchMoves, zones: list[ZoneStep], logged: list[dict[str, Any]]
    ) -> Counted | None:
        """``PgStore.apply_batch`` in one transaction on the thread: all or nothing."""
        try:
            return await self.db.on_sqlite_thread(
                _apply_batch, moves, zones, logged, guard.GUARD_TICKET_STATE, write=True
            )
        except _Undo:  # rolled back
            return None


class _Undo(Exception):
    """Roll the SQLite transaction back and answer ``applied``."""

    def __init__(self, applied: Applied) -> None:
        self.applied = applied


# The steps of SqliteStore, on the SQLite thread (a sync connection; a write
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

    def _args(self, values: Mapping[str, Any]) -> list[Any]:
        params = self.compiled.construct_params(dict(values))
        return [
            value if bind is None else bind(value)
            for bind, value in zip(self.binds, (params[name] for name in self.names), strict=True)
        ]

    def run(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """The raw cursor after executing with ``values`` (a bound parameter's own value otherwise)."""
        cursor = cast(Any, conn.connection.driver_connection).cursor()
        cursor.execute(self.sql, self._args(values))
        return cursor

    def run_many(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        """Executed once per row (``executemany``): how many rows it changed."""
        cursor = cast(Any, conn.connection.driver_connection).cursor()
        try:
            cursor.executemany(self.sql, [self._args(values) for values in rows])
            return int(cursor.rowcount)
        finally:
            cursor.close()

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


_TICKET = select(*TICKET_COLUMNS)
_THREAD_STATEMENTS: dict[str, tuple[Any, tuple[Any, ...], Any]] = {
    "ticket_by_secret": (
        _TICKET.where(
            TICKETS.c.event_id == bindparam("b_event"), TICKETS.c.secret == bindparam("b_key")
        ),
        TICKET_COLUMNS,
        None,
    ),
    "ticket_by_id": (
        _TICKET.where(
            TICKETS.c.event_id == bindparam("b_event"), TICKETS.c.id == bindparam("b_key")
        ),
        TICKET_COLUMNS,
        None,
    ),
    "stored": (
        select(SCANS.c.response).where(
            SCANS.c.event_id == bindparam("b_event"), SCANS.c.nonce == bindparam("b_nonce")
        ),
        (SCANS.c.response,),
        None,
    ),
    "log": (LOG_SCAN, (SCANS.c.id,), list(SCAN_FIELDS)),
    "log_many": (_LOG_SCANS, (), list(SCAN_FIELDS)),
    "shift": (_SHIFT_SHARD, (SHARDS.c.inside, SHARDS.c.cap), None),
    "guarded_move": (_GUARDED_MOVE, (), None),
    "move": (MOVE_TICKET, (), None),
    "enter": (ENTER_SHARD, (SHARDS.c.inside, SHARDS.c.cap), None),
    "leave": (LEAVE_SHARD, (SHARDS.c.inside,), None),
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


def _move_params(seen: TicketRow, zone_after: int | None, first_in: Any) -> dict[str, Any]:
    return {
        "ticket": seen.id,
        "zone_after": zone_after,
        "first_in": first_in,
        "seen_zone": seen.zone_id,
        "seen_checked_in": seen.checked_in_at,
        "seen_generation": seen.generation,
        "seen_type": seen.type_id,
    }


def _apply(conn: Connection, values: dict[str, Any], move: Move, guarded: bool) -> Applied:
    params = _move_params(move.seen, move.zone_after, move.first_in)
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
    """``CoreShards.enter`` on the SQLite thread."""
    for step in range(walk.count):
        shard = (walk.start + step) % walk.count
        rows = _sql("enter", conn).rows(conn, {"b_zone": walk.zone_id, "b_shard": shard})
        if rows:
            return int(rows[0][0]), rows[0][1]
    return None


def _leave(conn: Connection, walk: ShardWalk) -> bool:
    """``CoreShards.leave`` on the SQLite thread."""
    for step in range(walk.count):
        shard = (walk.start + step) % walk.count
        if _sql("leave", conn).rows(conn, {"b_zone": walk.zone_id, "b_shard": shard}):
            return True
    return False


def _total(conn: Connection, zone_id: int) -> int:
    total = conn.scalar(
        select(func.coalesce(func.sum(SHARDS.c.inside), 0)).where(SHARDS.c.zone_id == zone_id)
    )
    return int(total or 0)


def _read_batch(
    conn: Connection, event_id: int, secrets: list[str], nonces: list[str]
) -> list[Seen]:
    return [
        _read(conn, event_id, nonce, secret, None)
        for secret, nonce in zip(secrets, nonces, strict=True)
    ]


def _apply_batch(
    conn: Connection,
    moves: BatchMoves,
    zones: list[ZoneStep],
    logged: list[dict[str, Any]],
    guarded: bool,
) -> Counted:
    """The tickets moved in id order, each zone's net change in one shard with
    room for all its entries, the scans logged; ``_Undo`` when any is refused."""
    move_ticket = _sql("guarded_move" if guarded else "move", conn)
    for seen, after in sorted(moves, key=lambda pair: pair[0].id):
        cursor = move_ticket.run(conn, _move_params(seen, after.zone_id, after.checked_in_at))
        moved, _ = cursor.rowcount, cursor.close()
        if moved != 1:
            raise _Undo(Applied(STALE))
    taken = []
    shift = _sql("shift", conn)
    for zone in zones:
        for step in range(zone.count):
            shard = (zone.start + step) % zone.count
            values = {
                "b_zone": zone.zone_id,
                "b_shard": shard,
                "b_enters": zone.enters,
                "b_delta": zone.enters - zone.leaves,
            }
            rows = shift.rows(conn, values)
            if rows:
                taken.append((zone.zone_id, int(rows[0][0]), rows[0][1]))
                break
        else:
            raise _Undo(Applied(FULL))
    if _sql("log_many", conn).run_many(conn, logged) != len(logged):
        raise _Undo(Applied(REPEATED))
    return taken
