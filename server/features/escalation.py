"""Escalating incidents nobody acknowledged (or resolved) in time.

Every server process runs the same loop (a part of the app, see
``server.app.PARTS``): every ``MUSTER_ESCALATION_CHECK_INTERVAL`` seconds it
reads the unresolved incidents, asks the pure rule
``server.features.incidents.escalation_due`` which are due, and claims each one with
one conditional UPDATE::

    UPDATE incidents SET escalation_level = :new
     WHERE id = :id AND escalation_level = :seen AND status = :status
       AND status_since = :since
    RETURNING id

Only the process whose UPDATE changed the row raises the alert and writes
the log entry, in that same transaction; on PostgreSQL a second process's
UPDATE waits for the first to commit, re-checks the WHERE clause against the
new row and matches nothing. A decision made on a stale read (the incident
was acknowledged or reopened meanwhile) matches nothing either, because the
status and the time it began are part of the claim. Several processes thus
raise each escalation exactly once, with no leader election.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update

from realtime.outbox import publish
from server.background import running
from server.context import Muster, Slot
from server.db import Database
from server.features.alerts import raise_alert
from server.features.incident_rules import (
    ACKNOWLEDGED,
    OPEN,
    EscalationTimeouts,
    IncidentClock,
    escalation_due,
)
from server.features.incidents import entry_json, incident_view, log_entry
from server.models import Event, Incident, utcnow

log = logging.getLogger("muster.escalation")

Changed = Callable[..., None]


@dataclass(frozen=True)
class Escalation:
    event_id: int
    incident_id: int
    level: int
    #: The timeout that ran out, in seconds.
    after_seconds: float


@dataclass(frozen=True)
class _Due:
    incident_id: int
    event_id: int
    status: str
    status_since: datetime
    seen_level: int
    level: int
    after_seconds: float


async def _due(db: Database, now: datetime, event_id: int | None) -> list[_Due]:
    query = (
        select(
            Incident.id,
            Incident.event_id,
            Incident.status,
            Incident.severity,
            Incident.status_since,
            Incident.escalation_level,
            Event.options,
        )
        .join(Event, Event.id == Incident.event_id)
        .where(
            or_(
                and_(Incident.status == OPEN, Incident.escalation_level < 1),
                and_(Incident.status == ACKNOWLEDGED, Incident.escalation_level < 2),
            )
        )
    )
    if event_id is not None:
        query = query.where(Incident.event_id == event_id)
    async with db.reading() as session:
        rows = (await session.execute(query)).all()
    found = []
    timeouts: dict[int, EscalationTimeouts] = {}
    for incident_id, ev, status, severity, since, level, options in rows:
        if ev not in timeouts:
            timeouts[ev] = EscalationTimeouts.from_options(options)
        clock = IncidentClock(status, severity, since, level)
        target = escalation_due(clock, now, timeouts[ev])
        if target is None:
            continue
        limits = timeouts[ev].ack if target == 1 else timeouts[ev].resolve
        after = limits.get(severity) or 0.0
        found.append(_Due(incident_id, ev, status, since, level, target, after))
    return found


async def _claim(db: Database, due: _Due, now: datetime) -> Escalation | None:
    async with db.writing() as session:
        claimed = await session.execute(
            update(Incident)
            .where(
                Incident.id == due.incident_id,
                Incident.escalation_level == due.seen_level,
                Incident.status == due.status,
                Incident.status_since == due.status_since,
            )
            .values(escalation_level=due.level, escalated_at=now)
            .returning(Incident.id)
            .execution_options(synchronize_session=False)
        )
        if claimed.first() is None:
            return None  # another process (or a change) got there first
        incident = await session.get(Incident, due.incident_id, populate_existing=True)
        assert incident is not None
        data = {
            "incident": incident.id,
            "level": due.level,
            "severity": incident.severity,
            "status": incident.status,
            "after_seconds": due.after_seconds,
            "title": incident.title,
            "category": incident.category,
        }
        entry = log_entry(incident, "escalated", None, now, data=data)
        session.add(entry)
        await session.flush()
        await raise_alert(
            session,
            incident.event_id,
            "escalation",
            severity="critical" if incident.severity in ("P1", "P2") else "warning",
            data=data,
            dedupe_key=f"incident:{incident.id}:level:{due.level}:{due.status_since.isoformat()}",
        )
        view = await incident_view(session, incident)
        publish(
            session,
            incident.event_id,
            "incidents",
            {"action": "escalated", "incident": view, "entry": entry_json(entry)},
        )
    return Escalation(due.event_id, due.incident_id, due.level, due.after_seconds)


async def check_escalations(
    db: Database,
    now: datetime | None = None,
    *,
    event_id: int | None = None,
    changed: Changed | None = None,
) -> list[Escalation]:
    """Escalate every incident that is due at ``now``; return those this call claimed.

    Safe to run at the same time in any number of processes: each escalation
    is claimed by exactly one of them.
    """
    now = now or utcnow()
    done = []
    for due in await _due(db, now, event_id):
        escalation = await _claim(db, due, now)
        if escalation is None:
            continue
        done.append(escalation)
        if changed is not None:
            changed(escalation.event_id, "incidents", "alerts")
    return done


async def _loop(ctx: Muster, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            escalated = await check_escalations(ctx.db, changed=ctx.changed)
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # cancelled while the driver raised its own error: stop
            # A database blip must not end escalation for the process's
            # life; an outage is logged once (``server.availability``).
            if not ctx.db.health.absorb(exc):
                log.exception("escalation check failed; trying again in %ss", interval)
            continue
        for e in escalated:
            log.info(
                "incident %s of event %s escalated to level %s", e.incident_id, e.event_id, e.level
            )


#: Where the escalation loop's task is found while it runs (``Muster.part(ESCALATION_LOOP)``).
ESCALATION_LOOP: Slot[asyncio.Task[None]] = Slot("escalation_loop")


@contextlib.asynccontextmanager
async def escalation_clock(ctx: Muster) -> AsyncIterator[None]:
    """The app part: the escalation loop, for the app's lifetime (off when the
    interval is 0)."""
    interval = ctx.settings.escalation_check_interval
    if interval <= 0:
        yield
        return
    async with running(_loop(ctx, interval)) as (task,):
        with ctx.holding(ESCALATION_LOOP, task):
            yield
