"""Per-event signing keys: created with the event, rotated on request, cached per process.

Rotation without a window of refusals: every process reloads an event's
keys at least every ``KEY_REFRESH_SECONDS``, and a rotated-in key only starts
signing ``KEY_ACTIVATION_DELAY`` later (twice the refresh), so by the time
any secret carries the new key id, every process — and every door phone that
synced since — already holds its public key. Old keys are retired from
signing but never removed: tickets they signed keep verifying.

Private keys are stored sealed with the key-encryption key
(server/key_sealing.py) and unsealed only when a process first signs with
one; the unsealed signer is then kept for the process's life.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.secrets import KeyRing, Signer, generate_key
from server.context import Muster, Slot
from server.db import Database
from server.key_sealing import KeyEncryptionKey
from server.models import Event, SigningKey, utcnow

KEY_REFRESH_SECONDS = 30.0
KEY_ACTIVATION_DELAY = timedelta(seconds=2 * KEY_REFRESH_SECONDS)


async def create_event_key(
    session: AsyncSession,
    kek: KeyEncryptionKey,
    event_id: int,
    kid: int = 1,
    activates_at: datetime | None = None,
) -> SigningKey:
    pair = generate_key(kid)
    key = SigningKey(
        event_id=event_id,
        kid=kid,
        private_key=kek.seal(pair.private, event_id, kid),
        sealed_by=kek.fingerprint,
        public_key=pair.public,
        activates_at=activates_at,
    )
    session.add(key)
    return key


async def rotate_event_key(
    session: AsyncSession, kek: KeyEncryptionKey, event_id: int
) -> SigningKey:
    """Add the event's next key; it signs from ``KEY_ACTIVATION_DELAY`` on, and
    the keys before it are retired from signing then."""
    # Lock the event row so two rotations at once cannot pick the same kid
    # (SQLite: writes are serialised already; FOR UPDATE is left out there).
    await session.execute(select(Event.id).where(Event.id == event_id).with_for_update())
    top = await session.scalar(
        select(func.max(SigningKey.kid)).where(SigningKey.event_id == event_id)
    )
    if top is not None and top >= 255:
        raise ValueError("an event has at most 255 signing keys")
    activates = utcnow() + KEY_ACTIVATION_DELAY
    await session.execute(
        update(SigningKey)
        .where(SigningKey.event_id == event_id, SigningKey.retired_at.is_(None))
        .values(retired_at=activates)
    )
    return await create_event_key(session, kek, event_id, (top or 0) + 1, activates)


def active_key(keys: list[SigningKey], now: datetime) -> SigningKey:
    """The key that signs now: the newest activated one not yet retired."""
    usable = [
        k
        for k in keys
        if (k.activates_at is None or k.activates_at <= now)
        and (k.retired_at is None or k.retired_at > now)
    ]
    return max(usable or keys, key=lambda k: k.kid)


@dataclass
class _EventKeys:
    loaded: float
    keys: list[SigningKey]
    ring: KeyRing
    public: dict[int, bytes]
    signers: dict[int, Signer]


class KeyStore:
    """Caches each event's keys; reloads them every ``KEY_REFRESH_SECONDS``.
    ``kek`` seals the keys it creates and unseals the ones it signs with."""

    def __init__(
        self, db: Database, kek: KeyEncryptionKey, refresh_seconds: float = KEY_REFRESH_SECONDS
    ) -> None:
        self.db = db
        self.kek = kek
        self.refresh_seconds = refresh_seconds
        self._events: dict[int, _EventKeys] = {}

    def forget(self, event_id: int) -> None:
        self._events.pop(event_id, None)

    async def _get(self, event_id: int) -> _EventKeys:
        cached = self._events.get(event_id)
        now = time.monotonic()
        if cached is not None and now - cached.loaded < self.refresh_seconds:
            return cached
        async with self.db.reading() as session:
            keys = list(
                (
                    await session.scalars(
                        select(SigningKey)
                        .where(SigningKey.event_id == event_id)
                        .order_by(SigningKey.kid)
                    )
                ).all()
            )
        if not keys:
            raise LookupError(f"event {event_id} has no signing key")
        public = {k.kid: k.public_key for k in keys}
        signers = cached.signers if cached is not None else {}
        loaded = _EventKeys(now, keys, KeyRing(event_id, public), public, signers)
        self._events[event_id] = loaded
        return loaded

    async def signer(self, event_id: int) -> Signer:
        found = await self._get(event_id)
        key = active_key(found.keys, utcnow())
        signer = found.signers.get(key.kid)
        if signer is None:
            signer = found.signers[key.kid] = Signer(key.kid, self.kek.private_key(key))
        return signer

    async def ring(self, event_id: int) -> KeyRing:
        return (await self._get(event_id)).ring

    async def public_keys(self, event_id: int) -> dict[int, bytes]:
        return (await self._get(event_id)).public


#: The process's key store in ``Muster.parts``: kept (``Muster.keep``) by
#: whoever makes the context, the app factory or ``muster import-tickets``,
#: since they hold the KEK; read with ``key_store``.
KEYS: Slot[KeyStore] = Slot("keys")


def key_store(ctx: Muster) -> KeyStore:
    """The key store kept in ``ctx`` (every context that signs or verifies has one)."""
    keys = ctx.part(KEYS)
    if keys is None:
        raise LookupError("no key store in this context: Muster.keep(KEYS, KeyStore(...))")
    return keys
