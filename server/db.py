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
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Connections of the raw asyncpg pool (``Database.raw_pool``), beside the
#: engine's own pool (20 + 20 overflow).
RAW_POOL_SIZE = 20


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
    return create_async_engine(url, **kwargs)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (a round trip per use: unlock
    advisory locks, close cursors, UNLISTEN, RESET ALL). Users of the raw
    pool run single statements in autocommit and leave none of those behind."""


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
        self._raw_pool: asyncpg.Pool | None = None
        self._raw_pool_lock = asyncio.Lock()

    async def raw_pool(self) -> asyncpg.Pool:
        """A plain asyncpg pool beside the engine's (PostgreSQL only), made on first use.

        For the door-scan hot path: a statement through it costs a fraction
        of the same statement through SQLAlchemy (no compilation, no greenlet
        switches, asyncpg's prepared-statement cache per connection).
        """
        if self._raw_pool is None:
            async with self._raw_pool_lock:
                if self._raw_pool is None:
                    dsn = make_url(self.url).set(drivername="postgresql")
                    self._raw_pool = await asyncpg.create_pool(
                        dsn.render_as_string(hide_password=False),
                        min_size=1,
                        max_size=RAW_POOL_SIZE,
                        reset=_keep_session,
                        # Plan each execution with its own values and the
                        # tables' current size. The scan tables grow from
                        # nothing during a rush, and a generic plan made when
                        # they were tiny stays in a connection's statement
                        # cache for good: the door line's nonce lookup was
                        # once planned as a walk over the event's whole scan
                        # log (~0.1 ms per scan, growing).
                        server_settings={"plan_cache_mode": "force_custom_plan"},
                    )
        return self._raw_pool

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
        from sqlalchemy import text

        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._raw_pool is not None:
            await self._raw_pool.close()
            self._raw_pool = None
        await self.engine.dispose()
