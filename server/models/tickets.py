"""Tickets and the revocation list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_event_name", "event_id", "holder_name"),
        Index("ix_tickets_event_email", "event_id", "holder_email"),
        Index("ix_tickets_event_code", "event_id", "code"),
        # A scan moves a ticket: no moved column (zone_id, checked_in_at) is
        # indexed and each page keeps room, so a move is a heap-only update
        # that touches no index (migration 0005).
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    type_id: Mapped[int] = mapped_column(ForeignKey("ticket_types.id", ondelete="CASCADE"))
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_email: Mapped[str] = mapped_column(String(320), default="")
    #: "zh", "en", or "" for the event's language: the language of their mail.
    language: Mapped[str] = mapped_column(String(8), default="")
    #: Short code printed under the QR, for lookup at the door.
    code: Mapped[str] = mapped_column(String(16))
    #: The signed secret in the QR code; changes when the ticket is re-issued.
    secret: Mapped[str] = mapped_column(String(200), unique=True)
    #: Bumped on every re-issue; secrets of older generations are refused.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    #: "valid" or "revoked".
    status: Mapped[str] = mapped_column(String(16), default="valid")
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    #: Where the holder is now: a zone id, or None when outside.
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"))
    #: First admission; None until the holder has been let in once.
    checked_in_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Revocation(Base):
    """A revoked (ticket, generation). Door phones receive these live and at sync."""

    __tablename__ = "revocations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)
