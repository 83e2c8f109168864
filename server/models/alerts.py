"""Alerts for the command centre, and the outbox the realtime bus reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class Alert(Base):
    """Something the command centre must see: an offline conflict, a zone near
    full, low stock, an escalated incident. Acknowledged, never deleted."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_event_key", "event_id", "dedupe_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    #: "conflict", "zone_near_full", "zone_full", "low_stock", "escalation", …
    kind: Mapped[str] = mapped_column(String(32))
    #: "info", "warning" or "critical".
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    #: The parameters of the kind's sentence, which each page words itself.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Alerts with the same key are one alert while it is unacknowledged.
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(BigInteger)


class BusMessage(Base):
    """A message of a stream topic, written in the business transaction.

    The realtime hub of every server process reads new rows (by id, coping
    with ids that commit out of order) and delivers them; the id is the
    message's offset, so every process hands out the same offsets.
    """

    __tablename__ = "bus_messages"
    __table_args__ = (Index("ix_bus_messages_event_topic", "event_id", "topic", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
