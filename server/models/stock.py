"""Stock of materials: items on hand per location, and the append-only ledger.

An item is one thing at one place ("矿泉水 water, bottles, at the north
desk"); the same thing at another place is another item of the same name.
A transfer is therefore one ledger entry that takes from one item and gives
to another, so every item's quantity always equals the sum of its entries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class StockItem(Base):
    __tablename__ = "stock_items"
    __table_args__ = (
        UniqueConstraint("event_id", "name", "location", name="uq_stock_items_event_name_location"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    #: On hand now; kept beside the ledger in the same transaction. Only an
    #: ``adjust`` with a reason may take it below zero.
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    low_threshold: Mapped[int | None] = mapped_column(Integer)
    critical_threshold: Mapped[int | None] = mapped_column(Integer)
    #: "ok", "low" or "critical": the level last alerted on. An alert is
    #: raised when the level gets worse and re-armed when it recovers.
    alert_level: Mapped[str] = mapped_column(String(16), default="ok")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockMovement(Base):
    """One entry of the ledger: never updated, never deleted."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        # A phone that was offline resends its queue: the nonce makes the
        # resend harmless, whichever server process receives it.
        UniqueConstraint("event_id", "nonce", name="uq_stock_movements_event_nonce"),
        Index("ix_stock_movements_event_ledger", "event_id", "id"),
        Index("ix_stock_movements_item", "item_id"),
        Index("ix_stock_movements_to_item", "to_item_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    #: "issue", "receive", "adjust" or "transfer".
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(ForeignKey("stock_items.id", ondelete="CASCADE"))
    #: Signed change to ``item_id``: -n for issue and transfer, +n for receive.
    delta: Mapped[int] = mapped_column(Integer)
    quantity_after: Mapped[int] = mapped_column(Integer)
    #: Transfers only: the item that receives ``-delta``.
    to_item_id: Mapped[int | None] = mapped_column(ForeignKey("stock_items.id", ondelete="CASCADE"))
    to_quantity_after: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500), default="")
    nonce: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    #: When it happened on the phone (may be earlier than recorded_at when offline).
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The answer given the first time, returned again for a repeated nonce.
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
