"""Rate limits: attempts per client address in fixed windows, counted in the database.

What is limited is what a guesser does: bearer tokens that fail to verify
(``server.auth.authenticate`` and the websocket hello) and pairing-code
claims (``POST /api/v1/devices/pair``). A request with a valid token is
never counted and never refused: a door phone keeps admitting even when a
lost phone behind the same venue NAT is hammering the server with its
revoked token. The price is that a guessed token past the limit would
still be accepted; tokens are 256-bit random values, so that guess never
comes. Pairing codes are 40 bits, so there every claim is counted first
and refused past the limit whatever the code (a claim that succeeds is
taken back: pairing forty phones through one NAT is not an attack). A door
token's ticket look-ups (by name or printed code) are counted per token:
a stolen door phone cannot page through the attendee list at request
speed; its scans are never counted.

The count is one upsert per attempt into ``rate_counters`` (an ``INSERT …
ON CONFLICT DO UPDATE SET count = count + 1 RETURNING count``, the same on
SQLite and PostgreSQL), so every process sharing the database meets the
same limit, with no service beside it. Once a process has seen an address
pass a limit it refuses that address's further attempts in the window
without a write. Windows are fixed (a client may get up to twice the limit
across a window boundary: a bound, not a leak), aligned on Unix time so
every process agrees where they start.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from server.db import Database, dialect_name
from server.errors import TooManyRequests
from server.models import RateCounter

log = logging.getLogger("muster")

#: Seconds of one window. The settings give the most attempts per window.
WINDOW_SECONDS = 60

#: Most (limit, address) pairs a process remembers as over their limit.
MAX_BLOCKED = 10_000


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` attempts of ``scope`` per client per window (0: no limit)."""

    scope: str
    limit: int
    window: int = WINDOW_SECONDS


@dataclass(frozen=True)
class Attempt:
    """One counted attempt, for ``RateLimiter.take_back``."""

    rule: RateLimit
    subject: str
    window_start: int


def client_address(conn: HTTPConnection) -> str:
    """Who is asking: the peer's address (behind a proxy, the one uvicorn
    takes from ``X-Forwarded-For`` when ``FORWARDED_ALLOW_IPS`` trusts it)."""
    return (conn.client.host if conn.client else "")[:64] or "unknown"


def window_of(rule: RateLimit, now: float) -> tuple[int, float]:
    """(first second, end) of the window ``now`` falls in."""
    start = int(now // rule.window) * rule.window
    return start, float(start + rule.window)


def retry_after(end: float, now: float) -> int:
    """Whole seconds until the window ends, at least 1 (the ``Retry-After`` value)."""
    return max(1, math.ceil(end - now))


async def _increment(session: AsyncSession, scope: str, subject: str, start: int) -> int:
    """Count one attempt in a window's row (made by the first); the new count."""
    insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    statement = (
        insert(RateCounter)
        .values(scope=scope, subject=subject, window_start=start, count=1)
        .on_conflict_do_update(
            index_elements=[RateCounter.scope, RateCounter.subject, RateCounter.window_start],
            set_={"count": RateCounter.count + 1},
        )
        .returning(RateCounter.count)
    )
    return int((await session.execute(statement)).scalar_one())


class RateLimiter:
    """The limits of one process, counted in the shared database."""

    def __init__(
        self,
        db: Database,
        *,
        auth_failures: int,
        pairing_claims: int,
        door_lookups: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.auth_failures = RateLimit("auth_failures", auth_failures)
        self.pairing_claims = RateLimit("pairing_claims", pairing_claims)
        self.door_lookups = RateLimit("door_lookups", door_lookups)
        #: Wall-clock seconds (every process must agree on the windows); tests move it.
        self.clock = clock
        #: (scope, subject) -> end of the window in which it passed its limit.
        self._blocked: dict[tuple[str, str], float] = {}
        #: scope -> the window whose predecessors this process last deleted.
        self._swept: dict[str, int] = {}

    async def count(self, rule: RateLimit, subject: str) -> Attempt | None:
        """Count one attempt of ``subject``; raise ``TooManyRequests`` past the limit.

        None when the rule has no limit.
        """
        if rule.limit <= 0:
            return None
        now = self.clock()
        start, end = window_of(rule, now)
        key = (rule.scope, subject)
        if self._blocked.get(key, 0.0) > now:
            raise self._refusal(rule, end, now)
        async with self.db.writing() as session:
            count = await _increment(session, rule.scope, subject, start)
            if self._swept.get(rule.scope) != start:
                # Once per window and process: the rows of windows gone by.
                self._swept[rule.scope] = start
                await session.execute(
                    delete(RateCounter).where(
                        RateCounter.scope == rule.scope, RateCounter.window_start < start
                    )
                )
        if count > rule.limit:
            if len(self._blocked) >= MAX_BLOCKED:
                self._blocked = {k: v for k, v in self._blocked.items() if v > now}
            if key not in self._blocked or self._blocked[key] <= now:
                log.warning("rate limit: %s past %d from %s", rule.scope, rule.limit, subject)
            self._blocked[key] = end
            raise self._refusal(rule, end, now)
        return Attempt(rule, subject, start)

    async def take_back(self, attempt: Attempt | None) -> None:
        """Uncount an attempt that turned out to be legitimate."""
        if attempt is None:
            return
        async with self.db.writing() as session:
            await session.execute(
                update(RateCounter)
                .where(
                    RateCounter.scope == attempt.rule.scope,
                    RateCounter.subject == attempt.subject,
                    RateCounter.window_start == attempt.window_start,
                    RateCounter.count > 0,
                )
                .values(count=RateCounter.count - 1)
            )

    def _refusal(self, rule: RateLimit, end: float, now: float) -> TooManyRequests:
        return TooManyRequests(
            f"Too many {rule.scope.replace('_', ' ')}; try again later.",
            retry_after(end, now),
        )
