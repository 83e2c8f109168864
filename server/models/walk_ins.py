"""Walk-ins at the door: the blank tickets a supervisor's phone holds, and
each registration that bound one to a person (``server/features/walk_ins.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class WalkInBlank(Base):
    """A signed ticket (status ``blank``) given to one phone, unbound until a
    walk-in is registered on it. Not an attendee until then: every count of
    tickets reads ``status = 'valid'``."""

    __tablename__ = "walk_in_blanks"
    __table_args__ = (Index("ix_walk_in_blanks_device", "device_id", "bound_at"),)

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    #: The phone (account) holding it.
    device_id: Mapped[int] = mapped_column(BigInteger)
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When a walk-in was bound to it (None: still blank on the phone).
    bound_at: Mapped[datetime | None]


class WalkIn(Base):
    """One registration sent by a phone, exactly once per (event, nonce):
    bound (``ok``) or a conflict kept with what the phone sent."""

    __tablename__ = "walk_ins"
    __table_args__ = (
        UniqueConstraint("nonce", "event_id", name="uq_walk_ins_nonce_event"),
        Index("ix_walk_ins_event_received", "event_id", "received_at"),
        Index("ix_walk_ins_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    #: The blank the phone bound (as sent: it may be no blank at all).
    ticket_id: Mapped[int] = mapped_column(BigInteger)
    device_id: Mapped[int | None] = mapped_column(BigInteger)
    gate_id: Mapped[int | None] = mapped_column(BigInteger)
    #: Personal data: the shred empties these (``server/features/retention_rules.py``).
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_email: Mapped[str] = mapped_column(String(320), default="")
    holder_phone: Mapped[str] = mapped_column(String(40), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    #: When the phone registered them (it may have been offline).
    registered_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    offline: Mapped[bool] = mapped_column(default=False)
    #: "ok" (bound) or "conflict".
    status: Mapped[str] = mapped_column(String(8))
    #: A conflict's code (``walk_in_rules.CONFLICTS``); None when bound.
    reason: Mapped[str | None] = mapped_column(String(32))
    #: For ``blank_taken``: the walk-in that bound the blank first.
    conflict_with: Mapped[int | None] = mapped_column(BigInteger)
    #: The mailing queued for their ticket, if any.
    mailing_id: Mapped[int | None] = mapped_column(BigInteger)
