"""The shred: an event's personal data removed once its retention has passed.

What is removed and what is kept is listed in ``server/features/retention_rules.py``
(the inventory); this module is the I/O around it.

Once across processes. Every server process runs the retention clock (an
app part, like the escalation clock). An event due to be shredded is
claimed with one conditional UPDATE::

    UPDATE events SET shred_claimed_at = :now
     WHERE id = :id AND shredded_at IS NULL
       AND (shred_claimed_at IS NULL OR shred_claimed_at <= :now - lease)
    RETURNING id

Only the process whose UPDATE changed the row runs the shred; on PostgreSQL
another process's UPDATE waits for the first to commit, re-checks the WHERE
clause and matches nothing. The claim is a lease: a process that died
mid-shred leaves it, and once it ran out another process takes it over.

Resumable. The shred is a list of steps, each its own transaction, each
idempotent (blanking a blank column, scrubbing a scrubbed payload, deleting
deleted rows change nothing), so a takeover simply runs them all again.
The last step sets ``shredded_at`` under ``shredded_at IS NULL`` and writes
the one audit entry in the same transaction: an event is recorded shredded
exactly once, whoever finished it.

Logged without personal data: the log lines name the event id and counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import String, case, cast, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from server.background import running
from server.context import Muster, Slot
from server.db import Database
from server.features.retention_rules import (
    RETIRED_SECRET_PREFIX,
    RETIRED_STATUS,
    SHRED_LEASE,
    STOCK_CODE_KEYS,
    EventClock,
    due_events,
    redact,
    redact_json,
    scrub,
)
from server.models import (
    Account,
    Alert,
    AuditEntry,
    Broadcast,
    BusMessage,
    Evacuation,
    EvacuationAccount,
    EvacuationPerson,
    Event,
    Incident,
    IncidentLogEntry,
    IncidentPhoto,
    MailDelivery,
    PairingCode,
    Revocation,
    RunSheet,
    RunSheetItem,
    Scan,
    StaffMember,
    StockMovement,
    Task,
    TaskChange,
    TaskStep,
    Ticket,
    WalkIn,
    utcnow,
)

log = logging.getLogger("muster.retention")

#: Rows read per round trip while scrubbing JSON payloads.
BATCH = 500

Changed = Callable[..., None]


# --- claiming -----------------------------------------------------------------------


def event_clock(event: Event) -> EventClock:
    return EventClock(
        event.id, event.ends_at, event.retention_days, event.shredded_at, event.shred_claimed_at
    )


async def _clocks(db: Database) -> list[EventClock]:
    async with db.reading() as session:
        rows = await session.execute(
            select(
                Event.id, Event.ends_at, Event.retention_days, Event.shredded_at,
                Event.shred_claimed_at,
            ).where(Event.shredded_at.is_(None))
        )  # fmt: skip
        return [EventClock(*row) for row in rows]


async def claim(db: Database, event_id: int, now: datetime, *, force: bool = False) -> bool:
    """Take the shred of one event; False when it is shredded or another process holds it.

    ``force`` (the organiser's "shred now") takes it whatever the retention
    says, but never from a live claim of another process.
    """
    async with db.writing() as session:
        claimed = await session.execute(
            update(Event)
            .where(
                Event.id == event_id,
                Event.shredded_at.is_(None),
                or_(Event.shred_claimed_at.is_(None), Event.shred_claimed_at <= now - SHRED_LEASE),
            )
            .values(shred_claimed_at=now)
            .returning(Event.id)
            .execution_options(synchronize_session=False)
        )
        return claimed.first() is not None


# --- the steps -------------------------------------------------------------------


async def _scrub_json(
    db: Database,
    model: Any,
    column: Any,
    where: ColumnElement[bool],
    change: Callable[[Any], Any],
) -> int:
    """Rewrite a JSON column with ``change`` in batches by id; the rows it changed."""
    changed, last = 0, 0
    while True:
        async with db.writing() as session:
            rows = (
                await session.execute(
                    select(model.id, column)
                    .where(where, model.id > last)
                    .order_by(model.id)
                    .limit(BATCH)
                )
            ).all()
            if not rows:
                return changed
            updates = []
            for row_id, value in rows:
                new = change(value)
                if new != value:
                    updates.append({"id": row_id, column.key: new})
            if updates:
                await session.execute(update(model), updates)
            changed += len(updates)
            last = rows[-1][0]


async def _blank(
    session: AsyncSession, model: Any, where: ColumnElement[bool], **values: Any
) -> int:
    """Set text columns to ``values`` where they differ; the rows changed."""
    differs = or_(*(getattr(model, k) != v for k, v in values.items()))
    result = await session.execute(
        update(model)
        .where(where, differs)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _retire_tickets(where: ColumnElement[bool]) -> Any:
    """Names gone, secret replaced (an old QR verifies, then meets ``retired``)."""
    return (
        update(Ticket)
        .where(where, ~Ticket.secret.startswith(RETIRED_SECRET_PREFIX))
        .values(
            holder_name="",
            holder_email="",
            language="",
            secret=literal(RETIRED_SECRET_PREFIX) + cast(Ticket.id, String),
            generation=Ticket.generation + 1,
            # A revoked ticket stays revoked: the report counts it so; an
            # unbound walk-in blank stays a blank, counted nowhere (its
            # secret is gone all the same).
            status=case((Ticket.status == "valid", RETIRED_STATUS), else_=Ticket.status),
        )
        .execution_options(synchronize_session=False)
    )


async def _shred_steps(db: Database, event_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with db.writing() as session:
        result = await session.execute(_retire_tickets(Ticket.event_id == event_id))
        counts["tickets"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    counts["scans"] = await _scrub_json(db, Scan, Scan.response, Scan.event_id == event_id, scrub)
    async with db.writing() as session:
        counts["incidents"] = await _blank(
            session, Incident, Incident.event_id == event_id,
            title="", description="", location_text="", equipment_tag="",
            reporter_name="", assignee_name="",
        )  # fmt: skip
        counts["incident_log"] = await _blank(
            session, IncidentLogEntry, IncidentLogEntry.event_id == event_id, actor_name="", text=""
        )
        photos = await session.execute(
            delete(IncidentPhoto).where(IncidentPhoto.event_id == event_id)
        )
        counts["incident_photos"] = int(photos.rowcount or 0)  # type: ignore[attr-defined]
    counts["incident_log_data"] = await _scrub_json(
        db, IncidentLogEntry, IncidentLogEntry.data, IncidentLogEntry.event_id == event_id, scrub
    )
    async with db.writing() as session:
        counts["stock_movements"] = await _blank(
            session, StockMovement, StockMovement.event_id == event_id, reason="", actor_name=""
        )
        bus = await session.execute(delete(BusMessage).where(BusMessage.event_id == event_id))
        counts["bus_messages"] = int(bus.rowcount or 0)  # type: ignore[attr-defined]
        counts["mail_deliveries"] = await _blank(
            session, MailDelivery, MailDelivery.event_id == event_id, smtp_reply=""
        )
        counts["revocations"] = await _blank(
            session, Revocation, Revocation.event_id == event_id, reason=""
        )
        counts["evacuations"] = await _blank(
            session, Evacuation, Evacuation.event_id == event_id, message=""
        )
        evacuations = select(Evacuation.id).where(Evacuation.event_id == event_id)
        counts["evacuation_people"] = await _blank(
            session, EvacuationPerson, EvacuationPerson.evacuation_id.in_(evacuations), name=""
        )
        counts["accounts"] = await _blank(session, Account, Account.event_id == event_id, name="")
        counts["staff"] = await _blank(
            session, StaffMember, StaffMember.event_id == event_id, name="", phone=None
        )
        counts["pairing_codes"] = await _blank(
            session, PairingCode, PairingCode.event_id == event_id, device_name=""
        )
        counts["walk_ins"] = await _blank(
            session, WalkIn, WalkIn.event_id == event_id,
            holder_name="", holder_email="", holder_phone="", language="",
        )  # fmt: skip
        counts["broadcasts"] = await _blank(
            session, Broadcast, Broadcast.event_id == event_id, text_zh="", text_en=""
        )
        counts["tasks"] = await _blank(
            session, Task, Task.event_id == event_id, description="", blocked_reason=""
        )
        tasks = select(Task.id).where(Task.event_id == event_id)
        counts["task_steps"] = await _blank(
            session, TaskStep, TaskStep.task_id.in_(tasks), done_by_name=""
        )
        sheets = select(RunSheet.id).where(RunSheet.event_id == event_id)
        counts["run_sheet_items"] = await _blank(
            session, RunSheetItem, RunSheetItem.run_sheet_id.in_(sheets), description=""
        )
    counts["stock_responses"] = await _scrub_json(
        db,
        StockMovement,
        StockMovement.response,
        StockMovement.event_id == event_id,
        lambda value: scrub(value, codes=STOCK_CODE_KEYS),
    )
    for column in (TaskChange.changes, TaskChange.response):
        counts[f"task_change_{column.key}"] = await _scrub_json(
            db, TaskChange, column, TaskChange.event_id == event_id, scrub
        )
    counts["alert_data"] = await _scrub_json(
        db, Alert, Alert.data, Alert.event_id == event_id, scrub
    )
    counts["evacuation_accounts"] = await _scrub_json(
        db,
        EvacuationAccount,
        EvacuationAccount.response,
        EvacuationAccount.evacuation_id.in_(
            select(Evacuation.id).where(Evacuation.event_id == event_id)
        ),
        scrub,
    )
    return counts


async def shred(
    db: Database, event_id: int, *, actor_id: int | None = None, now: datetime | None = None
) -> dict[str, int] | None:
    """Run every step for a claimed event and mark it shredded.

    Returns the rows changed per table, or None when another run finished
    it first (its steps then changed nothing this one had not).
    """
    now = now or utcnow()
    counts = await _shred_steps(db, event_id)
    async with db.writing() as session:
        finished = await session.execute(
            update(Event)
            .where(Event.id == event_id, Event.shredded_at.is_(None))
            .values(shredded_at=now)
            .returning(Event.id)
            .execution_options(synchronize_session=False)
        )
        if finished.first() is None:
            return None
        session.add(
            AuditEntry(event_id=event_id, actor_id=actor_id, action="shred", data=counts, at=now)
        )
    log.info("event %s shredded: %s", event_id, _summary(counts))
    return counts


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "nothing to remove"


async def check_retention(
    db: Database, default_days: int, now: datetime | None = None, *, changed: Changed | None = None
) -> list[int]:
    """Shred every event due at ``now`` that this call claims; their ids."""
    now = now or utcnow()
    done = []
    for event_id in due_events(await _clocks(db), now, default_days):
        if not await claim(db, event_id, now):
            continue  # another process has it
        log.info("event %s is past its retention: shredding", event_id)
        if await shred(db, event_id, now=now) is not None:
            done.append(event_id)
            if changed is not None:
                changed(event_id, "headcount", "alerts", "incidents")
    return done


async def _loop(ctx: Muster, interval: float, check: Callable[[], Awaitable[list[int]]]) -> None:
    while True:
        try:
            await check()
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            if not ctx.db.health.absorb(exc):
                log.exception("retention check failed; trying again in %ss", interval)
        await asyncio.sleep(interval)


#: Where the retention loop's task is found while it runs (``Muster.part(RETENTION_LOOP)``).
RETENTION_LOOP: Slot[asyncio.Task[None]] = Slot("retention_loop")


@contextlib.asynccontextmanager
async def retention_clock(ctx: Muster) -> AsyncIterator[None]:
    """The app part: look for events due to be shredded every
    ``MUSTER_RETENTION_CHECK_INTERVAL`` seconds (off when 0)."""
    interval = ctx.settings.retention_check_interval
    if interval <= 0:
        yield
        return

    async def check() -> list[int]:
        return await check_retention(ctx.db, ctx.settings.retention_days, changed=ctx.changed)

    async with running(_loop(ctx, interval, check)) as (task,):
        with ctx.holding(RETENTION_LOOP, task):
            yield


# --- one person ------------------------------------------------------------------


def needles_of(ticket: Ticket) -> list[str]:
    """What identifies the holder inside free text: their name and email."""
    return [n for n in (ticket.holder_name, ticket.holder_email) if n.strip()]


async def _redact_text(
    session: AsyncSession,
    model: Any,
    where: ColumnElement[bool],
    columns: list[str],
    needles: list[str],
) -> int:
    """Redact the needles from text columns of the rows that name them."""
    cols = [getattr(model, c) for c in columns]
    # Lower-cased on both sides: LIKE is case-sensitive on PostgreSQL.
    found = or_(*(func.lower(col).contains(n.lower()) for col in cols for n in needles))
    rows = (await session.execute(select(model.id, *cols).where(where, found))).all()
    updates = []
    for row_id, *values in rows:
        new = {c: redact(v, needles) for c, v in zip(columns, values, strict=True)}
        updates.append({"id": row_id, **new})
    if updates:
        await session.execute(update(model), updates)
    return len(updates)


async def erase_ticket(db: Database, ticket_id: int, *, actor_id: int | None) -> dict[str, int]:
    """Remove one holder's personal data with the shred's guarantees (idempotent).

    Their ticket is retired like a shredded one; rows of theirs (scans, mail,
    evacuation roll) are scrubbed; the event's free text that names them
    (incidents, comments, alerts, stock notes, live messages) has their name
    and email replaced by a mark, the rest of the text kept. A name is found
    as written (case-folded), so an other holder whose name contains theirs
    loses that part of a kept text too: the price of not missing one.
    """
    async with db.reading() as session:
        ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None
    event_id, needles = ticket.event_id, needles_of(ticket)
    counts: dict[str, int] = {}
    async with db.writing() as session:
        result = await session.execute(_retire_tickets(Ticket.id == ticket_id))
        counts["tickets"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
        counts["mail_deliveries"] = await _blank(
            session, MailDelivery, MailDelivery.ticket_id == ticket_id, smtp_reply=""
        )
        counts["revocations"] = await _blank(
            session, Revocation, Revocation.ticket_id == ticket_id, reason=""
        )
        counts["evacuation_people"] = await _blank(
            session, EvacuationPerson, EvacuationPerson.ticket_id == ticket_id, name=""
        )
        counts["walk_ins"] = await _blank(
            session, WalkIn, WalkIn.ticket_id == ticket_id,
            holder_name="", holder_email="", holder_phone="", language="",
        )  # fmt: skip
        if needles:
            counts["incidents"] = await _redact_text(
                session, Incident, Incident.event_id == event_id,
                ["title", "description", "location_text", "reporter_name", "assignee_name"],
                needles,
            )  # fmt: skip
            counts["incident_log"] = await _redact_text(
                session, IncidentLogEntry, IncidentLogEntry.event_id == event_id,
                ["text", "actor_name"], needles,
            )  # fmt: skip
            counts["stock_movements"] = await _redact_text(
                session, StockMovement, StockMovement.event_id == event_id, ["reason"], needles
            )
            counts["evacuations"] = await _redact_text(
                session, Evacuation, Evacuation.event_id == event_id, ["message"], needles
            )
    counts["scans"] = await _scrub_json(db, Scan, Scan.response, Scan.ticket_id == ticket_id, scrub)
    people = select(EvacuationPerson.id).where(EvacuationPerson.ticket_id == ticket_id)
    counts["evacuation_accounts"] = await _scrub_json(
        db,
        EvacuationAccount,
        EvacuationAccount.response,
        EvacuationAccount.person_id.in_(people),
        scrub,
    )
    if needles:

        def forget(value: Any) -> Any:
            return redact_json(value, needles)

        for name, model, column in (
            ("incident_log_data", IncidentLogEntry, IncidentLogEntry.data),
            ("alert_data", Alert, Alert.data),
            ("bus_messages", BusMessage, BusMessage.payload),
            ("stock_responses", StockMovement, StockMovement.response),
        ):
            counts[name] = await _scrub_json(db, model, column, model.event_id == event_id, forget)
    async with db.writing() as session:
        session.add(
            AuditEntry(
                event_id=event_id,
                actor_id=actor_id,
                action="erase",
                ticket_id=ticket_id,
                data=counts,
            )
        )
    log.info("ticket %s of event %s erased: %s", ticket_id, event_id, _summary(counts))
    return counts


async def audit(
    db: Database, action: str, *, event_id: int, actor_id: int | None, ticket_id: int | None = None
) -> None:
    """Record an export of personal data (who, when, which ticket or event)."""
    async with db.writing() as session:
        session.add(
            AuditEntry(event_id=event_id, actor_id=actor_id, action=action, ticket_id=ticket_id)
        )
