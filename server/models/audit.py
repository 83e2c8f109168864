"""The audit trail of what was done with personal data: exports, erasures, shreds.

An entry names who (an account id), when, what and which ticket or event —
never the personal data itself, so it survives the shred it records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_event", "event_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: No foreign key: the trail outlives anything it names.
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    #: None: the server itself (the retention clock).
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    #: "personal_data_export", "personal_data_archive", "erase", "shred".
    action: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    #: Counts only (rows changed per table), never a value that was removed.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)
