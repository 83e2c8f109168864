"""Who may call the API: tokens for people and paired phones, and pairing codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow

ROLES = ("organiser", "command", "door", "staff")


class Account(Base):
    """A bearer token: a person's (kind "token") or a paired phone's (kind "device").

    Only the SHA-256 of the token is stored: tokens are 256-bit random values,
    so a slow password hash would add nothing but latency on every request.
    """

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16), default="token")
    role: Mapped[str] = mapped_column(String(16))
    #: None: every event (organisers only).
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    gate_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The roster member holding this phone (paired with a code made for them).
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class PairingCode(Base):
    """A short-lived, single-use code a phone trades for a device token."""

    __tablename__ = "pairing_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    gate_id: Mapped[int | None] = mapped_column(BigInteger)
    device_name: Mapped[str] = mapped_column(String(200), default="")
    #: Made for a roster member: the phone paired with it is theirs.
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    #: For a member: their earlier phones stay paired when it is claimed
    #: (otherwise they are unpaired: a lost phone is the usual reason to re-pair).
    keep_other_phones: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    account_id: Mapped[int | None] = mapped_column(BigInteger)


class TokenRevocation(Base):
    """One revoked token, in the order revoked: the log every server process
    reads (``realtime.bus``) to drop the token from its cache and close its
    open websockets with 4401 at once, wherever they are."""

    __tablename__ = "token_revocations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)
