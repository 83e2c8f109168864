"""The task board: tasks with a checklist of steps, their change log, and run sheets.

A task is owned by a team or a roster member (or both); its steps are
ticked one by one, each by whom and when. Every change arrives with a
client-made nonce and is logged once in ``task_changes``
(``uq_task_changes_event_nonce``): a phone resending its offline queue, to
whichever process, changes nothing twice and gets the first answer again.

A run sheet is a timed template (minutes relative to doors-open); applying
it makes one task per item, once: ``uq_tasks_event_run_sheet_item`` holds
even when two organisers press "apply" at the same instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, BigId, utcnow


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("event_id", "run_sheet_item_id", name="uq_tasks_event_run_sheet_item"),
        Index("ix_tasks_event_status", "event_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    #: Free text: may name people, so the retention shred blanks it.
    description: Mapped[str] = mapped_column(Text, default="")
    team: Mapped[str | None] = mapped_column(String(40))
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    zone_id: Mapped[int | None] = mapped_column(BigInteger)
    due_at: Mapped[datetime | None]
    #: "low", "normal", "high".
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    #: "todo", "doing", "done", "blocked" (``server.features.task_rules``).
    status: Mapped[str] = mapped_column(String(8), default="todo")
    #: Why it is blocked (free text: shredded too).
    blocked_reason: Mapped[str] = mapped_column(String(500), default="")
    status_since: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    #: Set by the one process that raised its ``task_overdue`` alert (the claim).
    overdue_alerted_at: Mapped[datetime | None]
    #: When the due-soon reminder went to the owner's phones (claimed once).
    reminded_at: Mapped[datetime | None]
    run_sheet_item_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskStep(Base):
    __tablename__ = "task_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    done_at: Mapped[datetime | None]
    done_by_account: Mapped[int | None] = mapped_column(BigInteger)
    done_by_staff: Mapped[int | None] = mapped_column(BigInteger)
    #: Who ticked it, as shown (the roster member's or the device's name).
    done_by_name: Mapped[str] = mapped_column(String(200), default="")


class TaskChange(Base):
    """One change to a task, as sent (append-only; the answer kept for its nonce)."""

    __tablename__ = "task_changes"
    __table_args__ = (
        UniqueConstraint("event_id", "nonce", name="uq_task_changes_event_nonce"),
        Index("ix_task_changes_task", "task_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The fields sent (codes and ids; texts are blanked by the shred).
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: When it happened on the phone (earlier than recorded_at when offline).
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RunSheet(Base):
    __tablename__ = "run_sheets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None]


class RunSheetItem(Base):
    __tablename__ = "run_sheet_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_sheet_id: Mapped[int] = mapped_column(
        ForeignKey("run_sheets.id", ondelete="CASCADE"), index=True
    )
    #: Minutes from doors-open: -120 is two hours before.
    offset_minutes: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    team: Mapped[str | None] = mapped_column(String(40))
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    zone_id: Mapped[int | None] = mapped_column(BigInteger)
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)
