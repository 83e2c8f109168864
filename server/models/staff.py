"""The staff roster: people (not phones) with a team and a role, and their duty shifts.

A member is bound to the event; a phone paired with a code made for a member
carries ``accounts.staff_id``. A shift is one period ``[started_at,
ended_at)`` on duty, where the member stood (``zone_id``); the rules that
read shifts are in ``server/features/roster_rules.py``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class StaffMember(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    #: Contact data: for organiser and command only; the retention job empties it.
    phone: Mapped[str | None] = mapped_column(String(32))
    #: A built-in team code (``roster_rules.TEAMS``) or the event's own name.
    team: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(16))
    supervisor: Mapped[bool] = mapped_column(Boolean, default=False)
    zone_id: Mapped[int | None] = mapped_column(BigInteger)
    gate_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DutyShift(Base):
    __tablename__ = "duty_shifts"
    __table_args__ = (Index("ix_duty_shifts_event_started", "event_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    zone_id: Mapped[int | None] = mapped_column(BigInteger)
    gate_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The phone that started it (None: recorded by the console).
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime]
    #: None while the shift runs.
    ended_at: Mapped[datetime | None]
