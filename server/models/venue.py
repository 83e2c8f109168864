"""Events and their venue layout: zones, gates, ticket types, signing keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: "zh" or "en": the language of mail to attendees who chose none.
    language: Mapped[str] = mapped_column(String(8), default="zh")
    #: Where it takes place, as printed in ticket mail and calendar entries.
    location: Mapped[str] = mapped_column(String(300), default="")
    #: Free-form per-event options (incident categories, escalation timeouts…).
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Days after ``ends_at`` that attendees' personal data is kept (None:
    #: ``MUSTER_RETENTION_DAYS``); then the shred removes it (server/features/retention.py).
    retention_days: Mapped[int | None] = mapped_column(Integer)
    #: When a process claimed the shred (a lease: ``retention_rules.SHRED_LEASE``).
    shred_claimed_at: Mapped[datetime | None]
    #: When the shred finished; None until then.
    shredded_at: Mapped[datetime | None]


class SigningKey(Base):
    """One Ed25519 key pair of an event. ``kid`` is what a ticket secret names."""

    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("event_id", "kid", name="uq_signing_keys_event_kid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kid: Mapped[int] = mapped_column(Integer)
    #: Sealed with the key-encryption key (server/key_sealing.py): version,
    #: nonce, AES-GCM ciphertext; the raw 32 bytes while ``sealed_by`` is None.
    private_key: Mapped[bytes] = mapped_column(LargeBinary())
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: The fingerprint of the key-encryption key that sealed ``private_key``.
    sealed_by: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: A rotated-in key signs only from this time on, once every server
    #: process has loaded it (None: at once — an event's first key).
    activates_at: Mapped[datetime | None]
    #: A retired key no longer signs; tickets it signed still verify.
    retired_at: Mapped[datetime | None]


class KeyEncryption(Base):
    """The one key-encryption key this database's signing keys are sealed
    with, by its fingerprint: a process holding another refuses to start."""

    __tablename__ = "key_encryption"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None]


class Zone(Base):
    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: None: no limit.
    capacity: Mapped[int | None] = mapped_column(Integer)
    #: Fraction of capacity at which a "near full" alert is raised.
    soft_warning: Mapped[float] = mapped_column(Float, default=0.9)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the organiser archived it (it has history, so it is kept, not
    #: deleted); None: in use.
    archived_at: Mapped[datetime | None]


class ZoneShard(Base):
    """A slice of a zone's headcount and capacity.

    Admissions spread over the shards of a zone so that no single counter row
    serialises every door; each shard holds ``cap`` places, the caps summing
    to the zone's capacity, so the sum of ``inside`` can never exceed it.
    """

    __tablename__ = "zone_shards"

    zone_id: Mapped[int] = mapped_column(
        ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    inside: Mapped[int] = mapped_column(Integer, default=0)
    #: None: no limit.
    cap: Mapped[int | None] = mapped_column(Integer)


class Gate(Base):
    __tablename__ = "gates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: None: the gate leads in from outside the venue.
    from_zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"))
    to_zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the organiser archived it (it has history, so it is kept, not
    #: deleted); None: in use.
    archived_at: Mapped[datetime | None]


class TicketType(Base):
    __tablename__ = "ticket_types"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Zone ids this type may enter; None: every zone.
    zone_ids: Mapped[list[Any] | None] = mapped_column(JSON)
    reentry: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Validity window of tickets of this type; None: from the event's dates.
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the organiser archived it (it has history, so it is kept, not
    #: deleted); None: in use.
    archived_at: Mapped[datetime | None]
