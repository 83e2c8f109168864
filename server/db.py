"""The database engine, sessions, and how writes are serialised on SQLite.

PostgreSQL (asyncpg) is the production database; SQLite (aiosqlite) is the
embedded default. SQLite allows one writer at a time; rather than let 64
concurrent doors race for its file lock and see "database is locked", every
write transaction in this process takes ``Database.write_lock`` first, so
writes queue in memory and the busy timeout only covers other processes (the
``muster import-tickets`` CLI, say). Reads run in parallel under WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from server.availability import DependencyHealth, unreachable

SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Seconds to open a PostgreSQL connection before giving up (asyncpg's
#: default is 60: a request would hang that long on a database whose host
#: drops packets, where a 503 now lets the phone decide offline at once).
CONNECT_TIMEOUT = 5.0

#: Seconds ``Database.ping`` waits for ``SELECT 1``.
PING_TIMEOUT = 5.0

#: Connections of the raw asyncpg pool (``Database.raw_pool``), beside the
#: engine's own pool (20 + 20 overflow).
RAW_POOL_SIZE = 20

_T = TypeVar("_T")


def asyncpg_dsn(url: str) -> str:
    """A plain libpq DSN for asyncpg from a SQLAlchemy ``postgresql+asyncpg://`` URL
    (the raw pools here, the bus's LISTEN connection, ``muster serve``'s wait)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("connect_args", {"timeout": CONNECT_TIMEOUT})
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "handle_error", _discard_broken)
    return engine


def _discard_broken(context: ExceptionContext) -> None:
    """A connection an error left unusable is thrown away, never pooled again.

    SQLAlchemy discards a connection whose error its dialect takes for a
    disconnect (and, as it then assumes a restart, every connection pooled
    before it). Its asyncpg dialect only looks at whether the socket is
    closed, so a connection that a shutdown notice or a cancellation left
    mid-protocol ("cannot switch to state 12; another operation is in
    progress") went back into the pool: the same rule as the raw pool's
    (``Database.raw_connection``) now decides.
    """
    if not context.is_disconnect and unreachable(context.original_exception) is not None:
        context.is_disconnect = True


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (a round trip per use: unlock
    advisory locks, close cursors, UNLISTEN, RESET ALL). Users of the raw
    pool run single statements in autocommit and leave none of those behind."""


def _run_step(engine: Engine, step: Callable[..., _T], args: tuple[Any, ...], write: bool) -> _T:
    """A step of ``Database.on_sqlite_thread``, on that thread: a write in a
    transaction that commits on return, rolls back on an exception."""
    if write:
        with engine.begin() as conn:
            return step(conn, *args)
    with engine.connect() as conn:
        return step(conn, *args)


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the database went away.

    A batched write that fails retries its items one by one so that one
    bad item fails alone; when the database itself is gone that would only
    fail each of them in turn, slowly, so the batch gives up at once. The
    rule is ``server.availability.unreachable``'s.
    """
    return unreachable(exc) is not None


def dialect_name(session: AsyncSession) -> str:
    """ "postgresql" or "sqlite": the database behind a session."""
    return session.get_bind().dialect.name


class Database:
    """One engine and session factory, plus the SQLite writer lock."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.is_sqlite = url.startswith("sqlite")
        self.write_lock = asyncio.Lock()
        self._raw_pools: dict[bool, asyncpg.Pool] = {}
        self._sqlite_thread: tuple[ThreadPoolExecutor, Engine] | None = None
        self._raw_pool_lock = asyncio.Lock()
        #: Outages of this database: one log line each way, 503 meanwhile.
        self.health = DependencyHealth("database", "database_unavailable", self.ping)

    async def raw_pool(self, *, cached_plans: bool = False) -> asyncpg.Pool:
        """A plain asyncpg pool beside the engine's (PostgreSQL only), made on first use.

        For the door-scan hot path: a statement through it costs a fraction
        of the same statement through SQLAlchemy (no compilation, no greenlet
        switches, asyncpg's prepared-statement cache per connection).

        By default each execution is planned afresh with its own values and
        the tables' current size: the scan tables grow from nothing during a
        rush, and a plan cached while they were tiny stays in a connection's
        statement cache for good (the door line's nonce lookup was once
        planned as a walk over the event's whole scan log, ~0.1 ms a scan and
        growing). ``cached_plans`` gives a second pool whose statements are
        planned once per connection, with sequential scans priced out so that
        the plan takes the indexes at any table size: for statements that find
        every row by a key (the door line's batch write, whose planning took
        ~0.6 ms a batch, as long as a third of its execution).
        """
        pool = self._raw_pools.get(cached_plans)
        if pool is not None:
            return pool
        async with self._raw_pool_lock:
            pool = self._raw_pools.get(cached_plans)
            if pool is None:
                settings = (
                    {"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"}
                    if cached_plans
                    else {"plan_cache_mode": "force_custom_plan"}
                )
                pool = await asyncpg.create_pool(
                    asyncpg_dsn(self.url),
                    # No floor: asyncpg keeps a floor by reconnecting in the
                    # background, with a traceback in the log every attempt
                    # while the database is away.
                    min_size=0,
                    timeout=CONNECT_TIMEOUT,
                    max_size=RAW_POOL_SIZE // 2 if cached_plans else RAW_POOL_SIZE,
                    reset=_keep_session,
                    server_settings=settings,
                )
                self._raw_pools[cached_plans] = pool
        return pool

    @contextlib.asynccontextmanager
    async def raw_connection(self, *, cached_plans: bool = False) -> AsyncIterator[Any]:
        """A connection of the raw pool (``raw_pool``) for the block.

        A connection that a block leaves with anything but an error the
        server reported for a statement (which asyncpg reads to the end,
        leaving the connection ready) is terminated, not returned: a
        cancellation, a timeout, a socket error or a shutdown notice may
        leave it mid-protocol, and the pool's release does not look (it
        runs no reset query, ``_keep_session``), so the next user would get
        "cannot switch to state 12; another operation is in progress".
        """
        pool = await self.raw_pool(cached_plans=cached_plans)
        conn = await pool.acquire()
        try:
            yield conn
        except BaseException as exc:
            if not isinstance(exc, asyncpg.PostgresError) or unreachable(exc) is not None:
                conn.terminate()
            raise
        finally:
            await pool.release(conn)

    async def on_sqlite_thread(
        self, step: Callable[..., _T], *args: Any, write: bool = False
    ) -> _T:
        """``step(connection, *args)`` on this process's one SQLite scan thread (SQLite only).

        For the door-scan hot path: through aiosqlite each statement is
        about four trips to a connection's thread and back (cursor, execute,
        fetch, close), and a scan took ~22 of them (~5 ms a scan and 118
        scans/s at 16 doors on the loaded 2-core machine, against a bare
        one-INSERT aiosqlite endpoint's 2,600/s). Here a whole step (a read,
        or a guarded write and its commit) is ONE trip: a plain ``sqlite3``
        connection (the same pragmas, the same Core statements) on one
        thread, so steps run one at a time in order. A ``write`` step takes
        ``write_lock`` as every other writer in this process does.
        """
        if self._sqlite_thread is None:
            url = make_url(self.url).set(drivername="sqlite+pysqlite")
            engine = create_engine(url, pool_size=1, max_overflow=0)
            event.listen(engine, "connect", _sqlite_on_connect)
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="muster-sqlite")
            self._sqlite_thread = (executor, engine)
        executor, engine = self._sqlite_thread
        call = functools.partial(_run_step, engine, step, args, write)
        lock = self.write_lock if write else contextlib.nullcontext()
        async with lock:
            return await asyncio.get_running_loop().run_in_executor(executor, call)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on success, rolls back on error."""
        lock = self.write_lock if self.is_sqlite else contextlib.nullcontext()
        async with lock, self.sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        """``SELECT 1``; raises when the database does not answer within PING_TIMEOUT."""

        async def select_one() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await asyncio.wait_for(select_one(), PING_TIMEOUT)

    async def dispose(self) -> None:
        await self.health.close()
        if self._sqlite_thread is not None:
            (executor, engine), self._sqlite_thread = self._sqlite_thread, None
            await asyncio.get_running_loop().run_in_executor(executor, engine.dispose)
            executor.shutdown(wait=False)
        pools, self._raw_pools = list(self._raw_pools.values()), {}
        for pool in pools:
            await pool.close()
        await self.engine.dispose()
