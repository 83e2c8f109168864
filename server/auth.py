"""Bearer tokens, roles and the check every route and the websocket make.

Roles (DESIGN.md): ``organiser`` may do everything; ``command`` reads
everything and runs incidents and stock; ``door`` scans at its gate and looks
tickets up; ``staff`` reports incidents and moves stock. A token bound to an
event cannot touch another; only organiser tokens may be unbound.

Verified tokens are cached for ``MUSTER_TOKEN_CACHE_SECONDS`` so the scan
path does not pay a database round trip per request for them. A revocation
does not wait for the cache: it is written to ``token_revocations`` with the
account, and every process's hub reads that log (``realtime.bus``) and calls
``TokenVerifier.drop``, within about a second (``server.features.tokens``).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from starlette.requests import HTTPConnection

from server.db import Database
from server.errors import Forbidden, InvalidRequest, Unauthorized
from server.models import ROLES, Account, utcnow
from server.rate_limits import client_address

ORGANISER = "organiser"
COMMAND = "command"
DOOR = "door"
STAFF = "staff"

EVERYONE = frozenset(ROLES)
READERS = frozenset({ORGANISER, COMMAND})
OPERATORS = frozenset({ORGANISER, COMMAND, STAFF})
SCANNERS = frozenset({ORGANISER, COMMAND, DOOR})

LAST_SEEN_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class Principal:
    account_id: int
    role: str
    event_id: int | None
    gate_id: int | None
    kind: str
    name: str

    def may_access(self, event_id: int) -> bool:
        return self.event_id is None or self.event_id == event_id

    def require_gates(self, gate_ids: Iterable[int]) -> None:
        """A door phone paired to a gate scans and registers there only (403 wrong_gate)."""
        if self.gate_id is not None and set(gate_ids) - {self.gate_id}:
            raise Forbidden(
                f"This device scans at gate {self.gate_id} only.",
                {"gate": self.gate_id},
                code="wrong_gate",
            )


def new_token() -> str:
    return "mst_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenVerifier:
    """Looks bearer tokens up, with a short in-process cache."""

    def __init__(self, db: Database, cache_seconds: float) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._loading: dict[str, asyncio.Future[Principal | None]] = {}
        self._last_seen: dict[int, float] = {}
        #: Accounts this process was told are revoked: refused even from an
        #: entry cached, or a lookup that was in flight, before it was told.
        self.revoked: set[int] = set()

    def forget(self) -> None:
        self._cache.clear()

    def drop(self, account_ids: Iterable[int]) -> None:
        """These accounts are revoked: refuse their tokens from now on, here."""
        self.revoked.update(account_ids)
        for digest, (_expiry, principal) in list(self._cache.items()):
            if principal is not None and principal.account_id in self.revoked:
                del self._cache[digest]

    async def verify(self, token: str) -> Principal | None:
        now = time.monotonic()
        digest = hash_token(token)
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            principal = hit[1]
        else:
            principal = await self._load_once(digest, now)
        if principal is None or principal.account_id in self.revoked:
            return None
        await self._touch(principal.account_id, now)
        return principal

    async def _load_once(self, digest: str, now: float) -> Principal | None:
        """One lookup per token at a time: when the cached entry of a door
        phone's token expires, its 64 requests in flight wait for one query
        instead of each taking a database connection for its own. The query
        runs as its own task, so a request that goes away does not take it
        with it."""
        loading = self._loading.get(digest)
        if loading is None:
            loading = asyncio.ensure_future(self._load(digest))
            self._loading[digest] = loading
            loading.add_done_callback(lambda done: self._loaded(digest, done, now))
        return await asyncio.shield(loading)

    def _loaded(self, digest: str, done: asyncio.Future[Principal | None], now: float) -> None:
        del self._loading[digest]
        if done.cancelled() or done.exception() is not None:
            return
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self.cache_seconds, done.result())

    async def _load(self, digest: str) -> Principal | None:
        async with self.db.reading() as session:
            account = await session.scalar(
                select(Account).where(Account.token_hash == digest, Account.revoked_at.is_(None))
            )
        if account is None:
            return None
        return Principal(
            account_id=account.id,
            role=account.role,
            event_id=account.event_id,
            gate_id=account.gate_id,
            kind=account.kind,
            name=account.name,
        )

    async def _touch(self, account_id: int, now: float) -> None:
        # last_seen_at is written at most every LAST_SEEN_EVERY per account:
        # a write per request would put a hot row on the scan path.
        if now - self._last_seen.get(account_id, -1e9) < LAST_SEEN_EVERY.total_seconds():
            return
        self._last_seen[account_id] = now
        async with self.db.writing() as session:
            await session.execute(
                update(Account).where(Account.id == account_id).values(last_seen_at=utcnow())
            )


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(conn: HTTPConnection) -> Principal:
    """The caller's principal; 401 without a valid token, 429 (``rate_limited``)
    once its address has presented too many invalid ones this minute. A valid
    token is never counted nor refused (``server.rate_limits``)."""
    token = bearer_token(conn)
    if token is None:
        raise Unauthorized("A bearer token is required.")
    ctx = conn.app.state.muster
    principal: Principal | None = await ctx.tokens.verify(token)
    if principal is None:
        await ctx.limits.count(ctx.limits.auth_failures, client_address(conn))
        raise Unauthorized("The token is not valid.")
    return principal


def check_rights(principal: Principal, event_id: int | None, roles: Iterable[str]) -> None:
    """Raise Forbidden unless ``principal`` has one of ``roles`` on ``event_id``."""
    if principal.role not in roles:
        raise Forbidden(f"The {principal.role} role may not do this.")
    if event_id is None:
        if principal.event_id is not None:
            raise Forbidden("This token is bound to one event.")
    elif not principal.may_access(event_id):
        raise Forbidden("This token is for another event.")


async def authorize(
    conn: HTTPConnection, event_id: int | None, roles: Iterable[str] = EVERYONE
) -> Principal:
    principal = await authenticate(conn)
    check_rights(principal, event_id, roles)
    return principal


async def create_account(
    db: Database,
    role: str,
    *,
    event_id: int | None = None,
    gate_id: int | None = None,
    name: str = "",
    kind: str = "token",
) -> tuple[Account, str]:
    """Create an account; return it and its token (shown once, stored hashed)."""
    if role not in ROLES:
        raise InvalidRequest(f"Unknown role {role!r}; one of {', '.join(ROLES)}.")
    if role != ORGANISER and event_id is None:
        raise InvalidRequest(f"A {role} token must be bound to an event.")
    token = new_token()
    account = Account(
        role=role,
        event_id=event_id,
        gate_id=gate_id,
        name=name,
        kind=kind,
        token_hash=hash_token(token),
    )
    async with db.writing() as session:
        session.add(account)
    return account, token
