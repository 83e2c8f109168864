"""The task board: tasks with checklists, changes with nonces, overdue alerts.

Rights follow the audience rule of broadcasts (``server.features.broadcast_rules``):
a task is "for" its team and its person, as an ``Audience`` of ``teams``
and ``people``; a phone reads and works on the tasks that reach it (the
roster member holding it, or their team), organiser and command every task.
The same audience travels in each ``tasks`` stream message, so the hub's
per-socket fan-out gives each phone its own tasks and nobody else's.

Run sheets, which make tasks from a template, are ``server.features.run_sheets``.

A change (``PATCH /tasks/{id}``) carries a nonce and is applied once: the
task row is locked, the nonce looked up again under the lock, and the
change logged in ``task_changes`` with its answer, which a resend gets back.
Status moves are decided by ``server.features.task_rules.transition``; a step's tick
is a value (done or not), so a phone replaying its offline queue after
another phone ticked the same step changes nothing.

Overdue tasks are raised as ``task_overdue`` alerts by every process's
clock and claimed once, like incident escalation (``server.features.escalation``)::

    UPDATE tasks SET overdue_alerted_at = :now
     WHERE id = :id AND overdue_alerted_at IS NULL AND due_at = :due
       AND status IN ('todo', 'doing', 'blocked')

The same clock pushes due-soon reminders to the owner's phones (a
``due_soon`` message on the ``tasks`` topic, which reaches the task's
audience), decided by ``task_rules.due_soon`` and claimed once the same way
on ``reminded_at``; the phone also decides it from the list it holds, so a
reminder comes offline too, and buzzes once per task either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.outbox import publish
from server.auth import Principal
from server.background import running
from server.context import Muster, Slot
from server.db import Database
from server.errors import Conflict, Forbidden, InvalidRequest
from server.features import task_rules
from server.features.alerts import raise_alert
from server.features.broadcast_rules import SCREEN_ROLES, Audience, Reader, reaches
from server.features.broadcasts import reader_of
from server.features.staff import normal_team
from server.fields import DbInt, Text, UtcDatetime
from server.lookup import event_of_row, get_event
from server.models import (
    StaffMember,
    Task,
    TaskChange,
    TaskStep,
    Zone,
    utcnow,
)
from server.serialize import iso

log = logging.getLogger("muster.tasks")

TOPIC = "tasks"
MAX_STEPS = 50

#: Refusal codes (worded in pwa/shared/terms.js).
NOT_YOUR_TASK = "not_your_task"
FIELDS_FOR_COMMAND = "task_fields_for_command"
UNKNOWN_STEP = "unknown_step"
UNKNOWN_STAFF = "unknown_staff"
UNKNOWN_ZONE = "unknown_zone"

Title = Annotated[Text, Field(min_length=1, max_length=200)]
Description = Annotated[Text, Field(max_length=4000)]
Team = Annotated[Text, Field(min_length=1, max_length=40)]
Priority = Literal["low", "normal", "high"]
Nonce = Annotated[str, Field(min_length=1, max_length=64)]


# --- request bodies ---------------------------------------------------------


class TaskIn(BaseModel):
    title: Title
    description: Description = ""
    team: Team | None = None
    #: A roster member of the event (``staff`` id).
    staff: DbInt | None = None
    zone: DbInt | None = None
    due_at: UtcDatetime | None = None
    priority: Priority = "normal"
    steps: Annotated[list[Title], Field(max_length=MAX_STEPS)] = []


class StepTick(BaseModel):
    id: DbInt
    done: bool


class TaskPatch(BaseModel):
    nonce: Nonce
    #: When it happened on the phone (a tick made offline keeps its time).
    occurred_at: UtcDatetime | None = None
    status: Literal["todo", "doing", "done", "blocked"] | None = None
    blocked_reason: Annotated[Text, Field(max_length=500)] = ""
    steps: Annotated[list[StepTick], Field(max_length=MAX_STEPS)] = []
    # Organiser and command only:
    title: Title | None = None
    description: Description | None = None
    team: Team | None = None
    staff: DbInt | None = None
    zone: DbInt | None = None
    due_at: UtcDatetime | None = None
    priority: Priority | None = None
    #: The checklist anew, its titles in order: a step kept by title keeps
    #: its tick, the others go, new ones are added (``task_rules.kept_steps``).
    step_titles: Annotated[list[Title], Field(max_length=MAX_STEPS)] | None = None


#: The fields of a patch a phone may send for its own tasks.
PHONE_FIELDS = frozenset({"nonce", "occurred_at", "status", "blocked_reason", "steps"})


# --- views ---------------------------------------------------------------------


def task_audience(team: str | None, staff_id: int | None) -> Audience:
    """Who a task is for: its team and its person (``server.features.broadcast_rules``)."""
    return Audience(
        teams=frozenset({team}) if team else frozenset(),
        people=frozenset({staff_id}) if staff_id is not None else frozenset(),
    )


def may_work_on(task: Task, reader: Reader) -> bool:
    """Organiser and command every task; a phone the tasks of its person or team."""
    return reader.role in SCREEN_ROLES or reaches(task_audience(task.team, task.staff_id), reader)


def step_json(step: TaskStep) -> dict[str, Any]:
    return {
        "id": step.id,
        "title": step.title,
        "done": step.done_at is not None,
        "done_at": iso(step.done_at),
        "done_by": (
            {
                "staff": step.done_by_staff,
                "account": step.done_by_account,
                "name": step.done_by_name,
            }
            if step.done_at is not None
            else None
        ),
    }


def task_json(task: Task, steps: list[TaskStep]) -> dict[str, Any]:
    ordered = sorted(steps, key=lambda s: s.position)
    return {
        "id": task.id,
        "event": task.event_id,
        "title": task.title,
        "description": task.description,
        "team": task.team,
        "staff": task.staff_id,
        "zone": task.zone_id,
        "due_at": iso(task.due_at),
        "priority": task.priority,
        "status": task.status,
        "blocked_reason": task.blocked_reason,
        "status_since": iso(task.status_since),
        "done_at": iso(task.done_at),
        "overdue_alerted": task.overdue_alerted_at is not None,
        "reminded": task.reminded_at is not None,
        "run_sheet_item": task.run_sheet_item_id,
        "steps": [step_json(s) for s in ordered],
        "progress": {"done": sum(s.done_at is not None for s in ordered), "total": len(ordered)},
        "updated_at": iso(task.updated_at),
    }


def task_message(action: str, view: dict[str, Any]) -> dict[str, Any]:
    """A ``tasks`` stream message; ``audience`` says which phones get it
    (screens get all: ``realtime.hub`` checks it per socket)."""
    audience = task_audience(view["team"], view["staff"])
    return {"action": action, "task": view, "audience": audience.as_json()}


async def _steps(session: AsyncSession, task_ids: list[int]) -> dict[int, list[TaskStep]]:
    found: dict[int, list[TaskStep]] = {t: [] for t in task_ids}
    if task_ids:
        for step in await session.scalars(select(TaskStep).where(TaskStep.task_id.in_(task_ids))):
            found[step.task_id].append(step)
    return found


async def _view(session: AsyncSession, task: Task) -> dict[str, Any]:
    return task_json(task, (await _steps(session, [task.id]))[task.id])


# --- checks ----------------------------------------------------------------------


async def check_staff(session: AsyncSession, event_id: int, staff_id: int | None) -> None:
    if staff_id is None:
        return
    member = await session.get(StaffMember, staff_id)
    if member is None or member.event_id != event_id:
        raise InvalidRequest(
            f"No roster member {staff_id}.", {"staff": staff_id}, code=UNKNOWN_STAFF
        )


async def check_zone(session: AsyncSession, event_id: int, zone_id: int | None) -> None:
    if zone_id is None:
        return
    zone = await session.get(Zone, zone_id)
    if zone is None or zone.event_id != event_id:
        raise InvalidRequest(f"No zone {zone_id}.", {"zone": zone_id}, code=UNKNOWN_ZONE)


def team_code(team: str | None) -> str | None:
    return normal_team(team) if team is not None and team.strip() else None


# --- tasks -------------------------------------------------------------------------


def new_task(event_id: int, body: TaskIn, due_at: datetime | None) -> Task:
    now = utcnow()
    return Task(
        event_id=event_id,
        title=body.title,
        description=body.description,
        team=team_code(body.team),
        staff_id=body.staff,
        zone_id=body.zone,
        due_at=due_at,
        priority=body.priority,
        status=task_rules.TODO,
        blocked_reason="",
        status_since=now,
        created_at=now,
        updated_at=now,
    )


def add_steps(session: AsyncSession, task: Task, titles: list[str]) -> list[TaskStep]:
    steps = [TaskStep(task_id=task.id, position=i, title=t) for i, t in enumerate(titles)]
    session.add_all(steps)
    return steps


async def create_task(db: Database, event_id: int, body: TaskIn) -> dict[str, Any]:
    async with db.writing() as session:
        await get_event(session, event_id)
        await check_staff(session, event_id, body.staff)
        await check_zone(session, event_id, body.zone)
        task = new_task(event_id, body, body.due_at)
        session.add(task)
        await session.flush()
        steps = add_steps(session, task, body.steps)
        await session.flush()
        view = task_json(task, steps)
        publish(session, event_id, TOPIC, task_message("created", view))
    return view


async def list_tasks(db: Database, event_id: int, principal: Principal) -> dict[str, Any]:
    """The event's tasks (a phone: its person's and its team's), with who asks."""
    reader = await reader_of(db, principal, event_id)
    async with db.reading() as session:
        await get_event(session, event_id)
        tasks = list(
            await session.scalars(
                select(Task).where(Task.event_id == event_id).order_by(Task.due_at, Task.id)
            )
        )
        tasks = [t for t in tasks if may_work_on(t, reader)]
        steps = await _steps(session, [t.id for t in tasks])
    return {
        "tasks": [task_json(t, steps[t.id]) for t in tasks],
        "me": {"staff": reader.staff_id, "team": reader.team},
    }


async def event_of(db: Database, task_id: int) -> int:
    async with db.reading() as session:
        return await event_of_row(session, Task, task_id, "unknown_task")


@dataclass(frozen=True)
class ChangeResult:
    response: dict[str, Any]
    repeated: bool
    #: The task's view after the change (None when repeated).
    view: dict[str, Any] | None


async def _stored(session: AsyncSession, event_id: int, nonce: str) -> dict[str, Any] | None:
    change = await session.scalar(
        select(TaskChange).where(TaskChange.event_id == event_id, TaskChange.nonce == nonce)
    )
    return None if change is None else change.response


async def change_task(
    db: Database, task_id: int, principal: Principal, body: TaskPatch
) -> ChangeResult:
    """Apply one change exactly once per nonce, or refuse it with a stable code."""
    event_id = await event_of(db, task_id)
    reader = await reader_of(db, principal, event_id)
    sent = body.model_dump(exclude_unset=True, mode="json")
    if reader.role not in SCREEN_ROLES and set(sent) - PHONE_FIELDS:
        raise Forbidden(
            "Only organiser and command change what a task is, who does it and when.",
            {"fields": sorted(set(sent) - PHONE_FIELDS)},
            code=FIELDS_FOR_COMMAND,
        )
    for _attempt in range(3):
        try:
            return await _change_once(db, event_id, task_id, reader, principal, body, sent)
        except IntegrityError:
            # The same nonce committed by another request meanwhile.
            async with db.reading() as session:
                stored = await _stored(session, event_id, body.nonce)
            if stored is not None:
                return ChangeResult({**stored, "repeated": True}, True, None)
    raise Conflict("The change clashed with others; send it again.", code="retry")


async def _change_once(
    db: Database,
    event_id: int,
    task_id: int,
    reader: Reader,
    principal: Principal,
    body: TaskPatch,
    sent: dict[str, Any],
) -> ChangeResult:
    async with db.writing() as session:
        stored = await _stored(session, event_id, body.nonce)
        if stored is not None:
            return ChangeResult({**stored, "repeated": True}, True, None)
        task = await session.get(Task, task_id, with_for_update=True, populate_existing=True)
        assert task is not None
        # The nonce again under the lock: a resend queued behind its first try.
        stored = await _stored(session, event_id, body.nonce)
        if stored is not None:
            return ChangeResult({**stored, "repeated": True}, True, None)
        if not may_work_on(task, reader):
            raise Forbidden("This task is not yours or your team's.", code=NOT_YOUR_TASK)
        now = utcnow()
        at = min(body.occurred_at or now, now)
        await _apply_fields(session, task, body, sent)
        if body.status is not None and body.status != task.status:
            refused = task_rules.transition(task.status, body.status, body.blocked_reason)
            if refused is not None:
                raise Conflict(
                    f"A task cannot go from {task.status} to {body.status}.",
                    {"from": task.status, "to": body.status},
                    code=refused,
                )
            task.status = body.status
            task.status_since = at
            task.blocked_reason = body.blocked_reason if body.status == task_rules.BLOCKED else ""
            task.done_at = at if body.status == task_rules.DONE else None
        elif body.status == task_rules.BLOCKED and body.blocked_reason.strip():
            task.blocked_reason = body.blocked_reason
        steps = (await _steps(session, [task.id]))[task.id]
        if body.step_titles is not None:
            steps = await _new_checklist(session, task, steps, body.step_titles)
        await _tick(session, steps, body.steps, principal, reader, at)
        task.updated_at = now
        await session.flush()
        view = task_json(task, steps)
        response = {"task": view, "nonce": body.nonce, "repeated": False}
        session.add(
            TaskChange(
                event_id=event_id,
                task_id=task.id,
                nonce=body.nonce,
                account_id=principal.account_id,
                staff_id=reader.staff_id,
                changes={k: v for k, v in sent.items() if k != "nonce"},
                occurred_at=at,
                recorded_at=now,
                response=response,
            )
        )
        await session.flush()
        publish(session, event_id, TOPIC, task_message("changed", view))
    return ChangeResult(response, False, view)


async def _apply_fields(
    session: AsyncSession, task: Task, body: TaskPatch, sent: dict[str, Any]
) -> None:
    """The fields only organiser and command send (checked by the caller)."""
    if "staff" in sent:
        await check_staff(session, task.event_id, body.staff)
        task.staff_id = body.staff
    if "zone" in sent:
        await check_zone(session, task.event_id, body.zone)
        task.zone_id = body.zone
    if "team" in sent:
        task.team = team_code(body.team)
    if "due_at" in sent and body.due_at != task.due_at:
        task.due_at = body.due_at
        task.overdue_alerted_at = None  # a new due time re-arms the alert
        task.reminded_at = None  # and the reminder
    for key in ("title", "description", "priority"):
        value = getattr(body, key)
        if key in sent and value is not None:
            setattr(task, key, value)


async def _new_checklist(
    session: AsyncSession, task: Task, steps: list[TaskStep], titles: list[str]
) -> list[TaskStep]:
    """The task's steps as ``titles`` (organiser and command): kept ones move
    to their new place with their ticks, the rest are deleted."""
    ordered = sorted(steps, key=lambda s: s.position)
    plan = task_rules.kept_steps([s.title for s in ordered], titles)
    kept = {index for index in plan if index is not None}
    for at, step in enumerate(ordered):
        if at not in kept:
            await session.delete(step)
    found = []
    for position, (title, index) in enumerate(zip(titles, plan, strict=True)):
        if index is None:
            step = TaskStep(task_id=task.id, title=title)
            session.add(step)
        else:
            step = ordered[index]
        step.position = position
        found.append(step)
    await session.flush()
    return found


async def _tick(
    session: AsyncSession,
    steps: list[TaskStep],
    ticks: list[StepTick],
    principal: Principal,
    reader: Reader,
    at: datetime,
) -> None:
    by_id = {s.id: s for s in steps}
    unknown = [t.id for t in ticks if t.id not in by_id]
    if unknown:
        raise InvalidRequest("No such step in this task.", {"steps": unknown}, code=UNKNOWN_STEP)
    name = principal.name
    if reader.staff_id is not None:
        member = await session.get(StaffMember, reader.staff_id)
        name = member.name if member is not None else name
    for tick in ticks:
        step = by_id[tick.id]
        if tick.done == (step.done_at is not None):
            continue  # already so: a replayed tick, or another phone's
        if tick.done:
            step.done_at, step.done_by_account = at, principal.account_id
            step.done_by_staff, step.done_by_name = reader.staff_id, name
        else:
            step.done_at = step.done_by_account = step.done_by_staff = None
            step.done_by_name = ""


async def tasks_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The ``tasks`` topic's snapshot: a mark only; each client reads its own
    list over HTTP (what a phone may see differs from phone to phone)."""
    async with db.reading() as session:
        latest = await session.scalar(
            select(func.max(Task.updated_at)).where(Task.event_id == event_id)
        )
    return {"latest": iso(latest)}


# --- review ---------------------------------------------------------------------------


async def tasks_review(session: AsyncSession, event_id: int) -> dict[str, Any]:
    """The post-event report's tasks: on time, late and not done, by team (a
    person's task counts for their team) and in all. Figures only: no text, no
    names (it reads the same after the shred)."""
    rows = (
        await session.execute(
            select(Task.status, Task.due_at, Task.done_at, Task.team, StaffMember.team)
            .outerjoin(StaffMember, StaffMember.id == Task.staff_id)
            .where(Task.event_id == event_id)
        )
    ).all()
    outcomes = (task_rules.ON_TIME, task_rules.LATE, task_rules.NOT_DONE)
    teams: dict[str, dict[str, int]] = {}
    total = dict.fromkeys(outcomes, 0)
    for status, due_at, done_at, team, member_team in rows:
        ended = task_rules.outcome(status, due_at, done_at)
        row = teams.setdefault(team or member_team or "", dict.fromkeys(outcomes, 0))
        row[ended] += 1
        total[ended] += 1
    return {
        **total,
        "total": len(rows),
        "teams": [{"team": team, **counts} for team, counts in sorted(teams.items())],
    }


# --- overdue ------------------------------------------------------------------------

Changed = Callable[..., None]


@dataclass(frozen=True)
class _Due:
    task_id: int
    event_id: int
    due_at: datetime


async def _candidates(
    db: Database, now: datetime, event_id: int | None, mark: Any, decide: Callable[..., bool]
) -> list[_Due]:
    """Open tasks due by ``now`` plus ``REMIND_BEFORE`` whose ``mark`` column is
    unset, kept where the pure rule ``decide(status, due, marked, now)`` says so."""
    query = select(Task.id, Task.event_id, Task.status, Task.due_at, mark).where(
        Task.status.in_(task_rules.OPEN_STATUSES),
        Task.due_at.is_not(None),
        Task.due_at <= now + task_rules.REMIND_BEFORE,
        mark.is_(None),
    )
    if event_id is not None:
        query = query.where(Task.event_id == event_id)
    async with db.reading() as session:
        rows = (await session.execute(query)).all()
    return [
        _Due(task_id, ev, due)
        for task_id, ev, status, due, marked in rows
        if due is not None and decide(status, due, marked is not None, now)
    ]


async def _claim(session: AsyncSession, due: _Due, mark: Any, now: datetime) -> Task | None:
    """Set ``mark`` on the task if it is still unset, at the same due time and
    open: exactly one process gets the task back, the others None."""
    claimed = await session.execute(
        update(Task)
        .where(
            Task.id == due.task_id,
            mark.is_(None),
            Task.due_at == due.due_at,
            Task.status.in_(task_rules.OPEN_STATUSES),
        )
        .values({mark: now})
        .returning(Task.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.first() is None:
        return None  # another process (or a change) got there first
    return await session.get(Task, due.task_id, populate_existing=True)


async def _claim_overdue(db: Database, due: _Due, now: datetime) -> bool:
    async with db.writing() as session:
        task = await _claim(session, due, Task.overdue_alerted_at, now)
        if task is None:
            return False
        staff_name = None
        if task.staff_id is not None:
            staff_name = await session.scalar(
                select(StaffMember.name).where(StaffMember.id == task.staff_id)
            )
        await raise_alert(
            session,
            task.event_id,
            "task_overdue",
            severity="critical" if task.priority == "high" else "warning",
            data={
                "task": task.id,
                "title": task.title,
                "team": task.team,
                "staff": task.staff_id,
                "staff_name": staff_name,
                "status": task.status,
                "due_at": iso(task.due_at),
            },
            dedupe_key=f"task:{task.id}:overdue:{due.due_at.isoformat()}",
        )
        publish(session, task.event_id, TOPIC, task_message("overdue", await _view(session, task)))
    return True


async def _claim_reminder(db: Database, due: _Due, now: datetime) -> bool:
    async with db.writing() as session:
        task = await _claim(session, due, Task.reminded_at, now)
        if task is None:
            return False
        # To the task's audience (its person's and its team's phones) and the screens.
        publish(session, task.event_id, TOPIC, task_message("due_soon", await _view(session, task)))
    return True


async def _claim_all(
    db: Database,
    now: datetime,
    event_id: int | None,
    changed: Changed | None,
    mark: Any,
    decide: Callable[..., bool],
    claim: Callable[[Database, _Due, datetime], Awaitable[bool]],
    topics: tuple[str, ...],
) -> list[int]:
    done = []
    for due in await _candidates(db, now, event_id, mark, decide):
        if await claim(db, due, now):
            done.append(due.task_id)
            if changed is not None:
                changed(due.event_id, *topics)
    return done


async def check_overdue_tasks(
    db: Database,
    now: datetime | None = None,
    *,
    event_id: int | None = None,
    changed: Changed | None = None,
) -> list[int]:
    """Raise ``task_overdue`` for every open task past due; the ids this call claimed.

    Safe to run at the same time in any number of processes: each is
    claimed by exactly one.
    """
    return await _claim_all(
        db, now or utcnow(), event_id, changed, Task.overdue_alerted_at, task_rules.overdue,
        _claim_overdue, (TOPIC, "alerts"),
    )  # fmt: skip


async def remind_due_tasks(
    db: Database,
    now: datetime | None = None,
    *,
    event_id: int | None = None,
    changed: Changed | None = None,
) -> list[int]:
    """Push a ``due_soon`` message on the ``tasks`` topic for every open task due
    within ``task_rules.REMIND_BEFORE`` (``task_rules.due_soon``); the ids this
    call claimed. Claimed once across processes, like the overdue alert."""
    return await _claim_all(
        db, now or utcnow(), event_id, changed, Task.reminded_at, task_rules.due_soon,
        _claim_reminder, (TOPIC,),
    )  # fmt: skip


async def _loop(ctx: Muster, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await remind_due_tasks(ctx.db, changed=ctx.changed)
            await check_overdue_tasks(ctx.db, changed=ctx.changed)
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            if not ctx.db.health.absorb(exc):
                log.exception("task clock failed; trying again in %ss", interval)


#: Where the overdue-task loop's task is found while it runs (``Muster.part(TASK_LOOP)``).
TASK_LOOP: Slot[asyncio.Task[None]] = Slot("task_loop")


@contextlib.asynccontextmanager
async def task_clock(ctx: Muster) -> AsyncIterator[None]:
    """The app part: the task clock (due-soon reminders, overdue alerts), on the
    escalation check's interval (off when it is 0)."""
    interval = ctx.settings.escalation_check_interval
    if interval <= 0:
        yield
        return
    async with running(_loop(ctx, interval)) as (task,):
        with ctx.holding(TASK_LOOP, task):
            yield
