"""Incidents, their append-only log, their photos, and the emergency plans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class Incident(Base):
    """The current state of an incident; its history is in ``incident_log``."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_event_status", "event_id", "status"),
        Index("ix_incidents_status_level", "status", "escalation_level"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(32))
    #: "P1" (most urgent) to "P4".
    severity: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"))
    gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id", ondelete="SET NULL"))
    location_text: Mapped[str] = mapped_column(String(200), default="")
    equipment_tag: Mapped[str] = mapped_column(String(100), default="")
    #: "open", "acknowledged" or "resolved".
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: When the current status began: the escalation clocks run from here.
    status_since: Mapped[datetime] = mapped_column(default=utcnow)
    #: 0 none; 1 not acknowledged in time; 2 acknowledged, not resolved in time.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None]
    reporter_id: Mapped[int | None] = mapped_column(BigInteger)
    reporter_name: Mapped[str] = mapped_column(String(200), default="")
    assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    assignee_name: Mapped[str] = mapped_column(String(200), default="")
    #: The roster team it is assigned to (a built-in code or the event's own),
    #: beside or instead of a person.
    assignee_team: Mapped[str | None] = mapped_column(String(40))
    #: How many reports (the first and those attached to it) it gathered.
    reports: Mapped[int] = mapped_column(Integer, default=1)
    last_reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]


class IncidentLogEntry(Base):
    """One change to an incident: a report, a status change, a comment.

    Never updated, never deleted. Reports (and comments sent with one) carry
    the client's nonce, unique per event, so a resent report writes nothing.
    """

    __tablename__ = "incident_log"
    __table_args__ = (
        UniqueConstraint("event_id", "nonce", name="uq_incident_log_event_nonce"),
        Index("ix_incident_log_incident", "incident_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    #: "reported", "linked_report", "acknowledged", "assigned", "resolved",
    #: "reopened", "commented", "escalated".
    action: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    #: Free text: a comment, a resolution note, a linked report's description.
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    nonce: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentPhoto(Base):
    """A re-encoded JPEG, in the database so every server process can serve it."""

    __tablename__ = "incident_photos"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    log_id: Mapped[int | None] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(32), default="image/jpeg")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmergencyPlan(Base):
    """应急预案: what to do for one category of incident, in Chinese and English."""

    __tablename__ = "emergency_plans"
    __table_args__ = (
        UniqueConstraint("event_id", "category", name="uq_emergency_plans_event_category"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(32))
    title_zh: Mapped[str] = mapped_column(String(200), default="")
    title_en: Mapped[str] = mapped_column(String(200), default="")
    #: Steps in Markdown.
    steps_zh: Mapped[str] = mapped_column(Text, default="")
    steps_en: Mapped[str] = mapped_column(Text, default="")
    #: The roster teams expected to confirm it (``broadcast_rules.plan_expects``);
    #: empty: every roster member.
    teams: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
