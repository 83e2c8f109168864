"""Evacuation roll-call: assembly points, evacuations, the frozen roll and its accounts.

The roll (``evacuation_people``) holds one row per person to account for; a
person is there at most once per evacuation (unique ticket, unique staff
member), so counting rows never counts anyone twice. Accounts
(``evacuation_accounts``) are the append-only log of what the assembly-point
phones said, once per nonce.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class MusterPoint(Base):
    """An assembly point: where the people of some zones go when the alarm sounds."""

    __tablename__ = "muster_points"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Zone ids whose people are sent here.
    zone_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: Where it is, as printed on the phone and the list ("car park P2, by the flag").
    map_note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Evacuation(Base):
    __tablename__ = "evacuations"
    __table_args__ = (Index("ix_evacuations_event", "event_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    #: "live" or "drill".
    kind: Mapped[str] = mapped_column(String(8))
    #: Zone ids being cleared; None: all.
    zone_ids: Mapped[list[Any] | None] = mapped_column(JSON)
    message: Mapped[str] = mapped_column(String(1000), default="")
    plan: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime]
    started_by: Mapped[int | None] = mapped_column(BigInteger)
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[int | None] = mapped_column(BigInteger)
    #: Scans received after this (less a margin) are looked at for offline
    #: scans synced after the start that change the roll.
    scans_checked_at: Mapped[datetime]


class EvacuationPerson(Base):
    """One person to account for, and how far they are accounted."""

    __tablename__ = "evacuation_people"
    __table_args__ = (
        UniqueConstraint("evacuation_id", "ticket_id", name="uq_evacuation_people_ticket"),
        UniqueConstraint("evacuation_id", "staff_id", name="uq_evacuation_people_staff"),
        Index("ix_evacuation_people_status", "evacuation_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    evacuation_id: Mapped[int] = mapped_column(ForeignKey("evacuations.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    #: A roster member (staff on duty in a cleared zone, or found at a point).
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(200), default="")
    #: Where they were at the start; None when found at a point off the roll.
    zone_id: Mapped[int | None] = mapped_column(BigInteger)
    last_gate_id: Mapped[int | None] = mapped_column(BigInteger)
    last_seen_at: Mapped[datetime | None]
    #: "inside", "offline_scan", "on_duty" or "found".
    reason: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: "missing", "safe", "left_earlier" or "needs_help".
    status: Mapped[str] = mapped_column(String(16), default="missing")
    #: The first accounting's time and point (kept whatever comes later).
    accounted_at: Mapped[datetime | None]
    point_id: Mapped[int | None] = mapped_column(BigInteger)
    #: When the current status was given (the latest account gives it).
    status_at: Mapped[datetime | None]
    #: When the server first recorded them accounted (for "visible within").
    recorded_at: Mapped[datetime | None]


class EvacuationAccount(Base):
    """What one phone said about one person, once per nonce."""

    __tablename__ = "evacuation_accounts"
    __table_args__ = (
        # An offline phone resends its queue: the nonce makes it harmless,
        # whichever server process receives it.
        UniqueConstraint("nonce", "evacuation_id", name="uq_evacuation_accounts_nonce"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    evacuation_id: Mapped[int] = mapped_column(
        ForeignKey("evacuations.id", ondelete="CASCADE"), index=True
    )
    nonce: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    point_id: Mapped[int | None] = mapped_column(BigInteger)
    device_id: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The answer given the first time, returned again for a repeated nonce.
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
