"""The scan log: every scan, accepted or refused, exactly once per nonce."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class Scan(Base):
    __tablename__ = "scans"
    __table_args__ = (
        # Idempotency lives in the database: a retried scan can never write
        # twice, whichever server process receives it.
        # Led by the column looked up (nonce; ticket, whose ids are unique
        # across events), so that no plan can walk the event instead
        # (migration 0006).
        UniqueConstraint("nonce", "event_id", name="uq_scans_nonce_event"),
        Index("ix_scans_ticket", "ticket_id"),
        Index("ix_scans_event_received", "event_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    #: None when the secret could not be read at all.
    ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    gate_id: Mapped[int | None] = mapped_column(BigInteger)
    device_id: Mapped[int | None] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(3))
    nonce: Mapped[str] = mapped_column(String(64))
    scanned_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: "ok" or "error".
    status: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(32))
    from_zone_id: Mapped[int | None] = mapped_column(BigInteger)
    to_zone_id: Mapped[int | None] = mapped_column(BigInteger)
    #: True when it arrived in an offline batch (``/scans/sync``).
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    #: For an offline second admission: the scan that admitted the ticket first.
    conflict_with: Mapped[int | None] = mapped_column(BigInteger)
    annulled_at: Mapped[datetime | None]
    annulled_by: Mapped[int | None] = mapped_column(BigInteger)
    #: The answer given the first time, returned again for a repeated nonce.
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
