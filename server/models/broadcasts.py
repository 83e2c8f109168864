"""Broadcasts to the floor and their read receipts; emergency plans confirmed by staff.

A broadcast's audience is stored as sent (``server.features.broadcast_rules.Audience``
as JSON), not resolved into rows: who it reaches is decided by the same
function wherever it is needed. An acknowledgement is one row per phone
(``uq_broadcast_acks_broadcast_id``: a phone that sends it twice, online
or from its offline queue, is counted once); a plan confirmation one row
per roster member and plan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class Broadcast(Base):
    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_event_sent", "event_id", "sent_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    #: The words may name people: the retention shred blanks them.
    text_zh: Mapped[str] = mapped_column(Text, default="")
    text_en: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(8))
    audience: Mapped[dict[str, Any]]
    plan_id: Mapped[int | None] = mapped_column(BigInteger)
    ack_required: Mapped[bool] = mapped_column(Boolean, default=True)
    sent_by: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    resent_at: Mapped[datetime | None]


class BroadcastAck(Base):
    __tablename__ = "broadcast_acks"
    __table_args__ = (UniqueConstraint("broadcast_id", "account_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int] = mapped_column(BigInteger)
    #: The roster member holding the phone then (None: a phone paired to nobody).
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    nonce: Mapped[str] = mapped_column(String(64))
    #: When the person tapped it (the phone's clock; may be offline, earlier).
    acked_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanAck(Base):
    __tablename__ = "plan_acks"
    __table_args__ = (UniqueConstraint("plan_id", "staff_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("emergency_plans.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger, index=True)
    staff_id: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int] = mapped_column(BigInteger)
    #: A plan changed after this is no longer confirmed (``updated_at`` later).
    acked_at: Mapped[datetime] = mapped_column(default=utcnow)
