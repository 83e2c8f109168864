"""Whether the database answers, and what to do while it does not.

When PostgreSQL restarts, or the network to it breaks, every statement
fails for a while with one of a dozen errors from three libraries: a
refused or reset socket, ``CannotConnectNowError`` ("the database system is
starting up"), ``AdminShutdownError``, asyncpg's ``InterfaceError``
("connection is closed"), a connection left mid-protocol ("cannot switch
to state 12; another operation is in progress"), SQLAlchemy's wrapped and
invalidated errors, a pool that found no connection in time, SQLite's
"database is locked" after the busy timeout. ``unreachable`` recognises
them all (and only them: a constraint violation or a bug is not an
outage) and names the cause in a few words.

``DependencyHealth`` turns a stream of such errors into one outage: the
first error logs one line ("database unavailable …"), every request gets
``503 database_unavailable`` with ``Retry-After`` (``server.errors``), a
probe pings the database every ``PROBE_INTERVAL`` until it answers, and one
line says when it is back, how long it was away and how many answers were
503. Background loops (the realtime readers, the escalation clock, gate
health) report their errors here too, so an outage of a minute is two log
lines, not a traceback per request and per poll.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator

import asyncpg
import sqlalchemy.exc

log = logging.getLogger("muster")

#: What ``Retry-After`` says to a client while the database is away. A door
#: phone decides offline meanwhile and retries with its own jittered backoff.
RETRY_AFTER_SECONDS = 2

#: Seconds between two pings of a database that is away.
PROBE_INTERVAL = 0.5

#: The pauses between attempts to reach a database at start: the first,
#: doubled each time up to the longest (``pauses``).
FIRST_PAUSE = 0.5
LONGEST_PAUSE = 5.0

#: socket errnos that mean the peer cannot be reached or went away.
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.ENOTCONN,
        errno.EADDRNOTAVAIL,
    }
)

#: asyncpg's errors about a connection that can no longer be used (its
#: InterfaceError is also raised for mistakes in a call, which are bugs).
_BROKEN_CONNECTION = (
    "connection is closed",
    "connection was closed",
    "pool is closing",
    "pool is closed",
    "another operation is in progress",
    "cannot switch to state",
    "protocol is in an unexpected state",
    "unknown error in protocol implementation",
)

#: SQLite errors that say the file cannot be used now, not that a statement is wrong.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "unable to open database file",
    "disk i/o error",
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what caused it, and the driver error SQLAlchemy wrapped."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        found = todo.pop()
        if found is None or id(found) in seen:
            continue
        seen.add(id(found))
        yield found
        orig = getattr(found, "orig", None)
        todo += [found.__cause__, found.__context__]
        if isinstance(orig, BaseException):
            todo.append(orig)


def _cause(exc: BaseException) -> str | None:
    if isinstance(exc, DependencyUnavailable):
        return exc.reason
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return "connection lost"
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return "no free connection in the pool"
    if isinstance(exc, asyncpg.QueryCanceledError):
        return None  # a statement timeout or a cancel: the database is there
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError  # class 08
        | asyncpg.OperatorInterventionError  # class 57: admin, crash shutdown, cannot connect now
        | asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    ):
        return type(exc).__name__
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError):
        text = str(exc).lower()
        return "connection broken" if any(m in text for m in _BROKEN_CONNECTION) else None
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return text if any(m in text for m in _SQLITE_UNAVAILABLE) else None
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return type(exc).__name__
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return errno.errorcode.get(exc.errno or 0, "network error")
    return None


def unreachable(exc: BaseException) -> str | None:
    """The cause in a few words when ``exc`` says the database cannot be used
    right now (gone, restarting, unreachable, out of connections), else None.

    Pure, no I/O: the whole chain is looked at (SQLAlchemy wraps the
    driver's error, asyncpg raises socket errors as they are).
    """
    for found in _chain(exc):
        cause = _cause(found)
        if cause is not None:
            return cause
    return None


class DependencyUnavailable(Exception):
    """Raised where code knows a dependency is away (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DependencyHealth:
    """One dependency's outages: logged once each way, probed until it answers.

    ``absorb(exc)`` is for every place that catches errors of the
    dependency: True when the error is an outage (counted, logged at most
    once per outage), False when it is something else (the caller logs it
    as the bug it is).
    """

    def __init__(
        self, name: str, code: str, probe: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        self.name = name
        #: The error code clients get while it is away (``database_unavailable``).
        self.code = code
        self._probe = probe
        #: ``time.monotonic()`` when the current outage began; None while it answers.
        self.down_since: float | None = None
        #: Answers refused with 503 in the current outage.
        self.refused = 0
        #: Outages seen since the process started.
        self.outages = 0
        self._probing: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        return self.down_since is None

    def absorb(self, exc: BaseException) -> bool:
        cause = unreachable(exc)
        if cause is None:
            return False
        self.failed(cause)
        return True

    def failed(self, cause: str) -> None:
        """Say the dependency is away; the first call of an outage logs it."""
        if self.down_since is not None:
            return
        self.down_since = time.monotonic()
        self.refused = 0
        self.outages += 1
        log.warning(
            "%s unavailable (%s): answering 503 %s until it is back",
            self.name,
            cause,
            self.code,
        )
        if self._probe is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._probing = loop.create_task(self._watch())

    def recovered(self) -> None:
        """Say it answers again; logs the end of the outage if there was one."""
        if self.down_since is None:
            return
        away = time.monotonic() - self.down_since
        self.down_since = None
        log.warning(
            "%s available again after %.1f s (%d answers were 503)", self.name, away, self.refused
        )

    async def _watch(self) -> None:
        assert self._probe is not None
        while self.down_since is not None:
            await asyncio.sleep(PROBE_INTERVAL)
            try:
                await asyncio.wait_for(self._probe(), PROBE_INTERVAL * 4)
            except asyncio.CancelledError:
                raise
            except Exception:  # still away (or broken otherwise: keep probing)
                continue
            self.recovered()

    async def close(self) -> None:
        """Stop probing (the app is stopping)."""
        probing, self._probing = self._probing, None
        if probing is not None and not probing.done():
            probing.cancel()
            await asyncio.wait([probing])


def pauses(first: float = FIRST_PAUSE, longest: float = LONGEST_PAUSE) -> Iterator[float]:
    """The pause before each next attempt: 0.5, 1, 2, 4, 5, 5, … seconds."""
    pause = first
    while True:
        yield pause
        pause = min(pause * 2, longest)
