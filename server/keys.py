"""Per-event signing keys: created with the event, loaded once per process."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.secrets import KeyRing, Signer, generate_key
from server.db import Database
from server.models import SigningKey


async def create_event_key(session: AsyncSession, event_id: int, kid: int = 1) -> SigningKey:
    pair = generate_key(kid)
    key = SigningKey(event_id=event_id, kid=kid, private_key=pair.private, public_key=pair.public)
    session.add(key)
    return key


class KeyStore:
    """Caches each event's signer and public key ring.

    Keys only change by rotation (a new kid, appended); ``forget`` drops an
    event's cache after a rotation in this process.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._signers: dict[int, Signer] = {}
        self._rings: dict[int, KeyRing] = {}
        self._public: dict[int, dict[int, bytes]] = {}

    def forget(self, event_id: int) -> None:
        self._signers.pop(event_id, None)
        self._rings.pop(event_id, None)
        self._public.pop(event_id, None)

    async def _load(self, event_id: int) -> None:
        async with self.db.reading() as session:
            keys = (
                await session.scalars(
                    select(SigningKey)
                    .where(SigningKey.event_id == event_id)
                    .order_by(SigningKey.kid)
                )
            ).all()
        if not keys:
            raise LookupError(f"event {event_id} has no signing key")
        active = [k for k in keys if k.retired_at is None] or keys
        self._signers[event_id] = Signer(active[-1].kid, active[-1].private_key)
        self._public[event_id] = {k.kid: k.public_key for k in keys}
        self._rings[event_id] = KeyRing(event_id, self._public[event_id])

    async def signer(self, event_id: int) -> Signer:
        if event_id not in self._signers:
            await self._load(event_id)
        return self._signers[event_id]

    async def ring(self, event_id: int) -> KeyRing:
        if event_id not in self._rings:
            await self._load(event_id)
        return self._rings[event_id]

    async def public_keys(self, event_id: int) -> dict[int, bytes]:
        if event_id not in self._public:
            await self._load(event_id)
        return self._public[event_id]
