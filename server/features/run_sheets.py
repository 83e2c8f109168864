"""Run sheets: a timed template of tasks relative to doors-open, applied once.

A run sheet (T−120 "signage up", T−30 "door phones paired and tested", T+0
"doors open"…) is made by command, as JSON or imported as CSV (the ticket
import's reader, ``server.features.issuance.csv_records``: all rows or none), and
applied to the event: one task per item, due at doors-open plus its offset.
Applying it again makes nothing twice: an item already made is skipped, and
``uq_tasks_event_run_sheet_item`` holds when two applies run at one instant
(the loser's insert fails; its retry finds the winner's tasks).

Until it is applied a run sheet may be changed (its name, its items as a
whole new list) or deleted; once applied it is what the tasks were made
from and both are refused (409 ``run_sheet_applied``). Apply, change and
delete lock the sheet's row, so a change racing an apply either lands
before it (the tasks are made from the new items) or is refused.

A CSV can be checked without saving (``check_run_sheet_csv``): the good
rows come back as items beside the bad rows' codes, so the console keeps
the good rows in its editor while the organiser mends the others.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.outbox import publish
from server.db import Database
from server.errors import Conflict, InvalidRequest, NotFound
from server.features import task_rules
from server.features.issuance import RowError, csv_records
from server.features.tasks import (
    MAX_STEPS,
    TOPIC,
    Description,
    Priority,
    TaskIn,
    Team,
    Title,
    add_steps,
    check_staff,
    check_zone,
    new_task,
    task_json,
    task_message,
    team_code,
)
from server.fields import DbInt, UtcDatetime
from server.lookup import event_of_row, get_event
from server.models import RunSheet, RunSheetItem, StaffMember, Task, Zone, utcnow
from server.serialize import iso

MAX_ITEMS = 500
#: A run sheet's offsets are within a week of doors-open either way.
MAX_OFFSET = 7 * 24 * 60


class RunSheetItemIn(BaseModel):
    offset_minutes: Annotated[int, Field(ge=-MAX_OFFSET, le=MAX_OFFSET)]
    title: Title
    description: Description = ""
    team: Team | None = None
    staff: DbInt | None = None
    zone: DbInt | None = None
    priority: Priority = "normal"
    steps: Annotated[list[Title], Field(max_length=MAX_STEPS)] = []


class RunSheetIn(BaseModel):
    name: Title
    items: Annotated[list[RunSheetItemIn], Field(min_length=1, max_length=MAX_ITEMS)]


class RunSheetPatch(BaseModel):
    name: Title | None = None
    #: The whole new list of items (replacing the old).
    items: Annotated[list[RunSheetItemIn], Field(min_length=1, max_length=MAX_ITEMS)] | None = None


#: Refusal code: an applied run sheet is no longer changed or deleted.
RUN_SHEET_APPLIED = "run_sheet_applied"


class ApplyIn(BaseModel):
    #: Doors-open; the event's start when not given.
    doors_open: UtcDatetime | None = None


#: CSV headers (lower-cased) and the column each names.
HEADER_ALIASES = {
    "offset": "offset",
    "t": "offset",
    "time": "offset",
    "时间": "offset",
    "title": "title",
    "task": "title",
    "任务": "title",
    "description": "description",
    "说明": "description",
    "team": "team",
    "团队": "team",
    "staff": "staff",
    "person": "staff",
    "负责人": "staff",
    "zone": "zone",
    "区域": "zone",
    "priority": "priority",
    "优先级": "priority",
    "steps": "steps",
    "步骤": "steps",
}


#: Priorities as a Chinese sheet writes them.
PRIORITY_ALIASES = {"高": "high", "普通": "normal", "中": "normal", "低": "low"}


def parse_run_sheet_csv(
    text: str, max_rows: int, staff_names: dict[str, int], zone_names: dict[str, int]
) -> list[RunSheetItemIn | RowError]:
    """A run sheet's rows: offset (T-120), title, description, team, staff (a
    roster name), zone (a name), priority, steps (separated by "|")."""
    found: list[RunSheetItemIn | RowError] = []
    for record in csv_records(text, max_rows, HEADER_ALIASES, "title"):
        if isinstance(record, RowError):
            found.append(record)
            continue
        line, values = record
        offset = task_rules.parse_offset(values.get("offset", ""))
        if offset is None or abs(offset) > MAX_OFFSET:
            found.append(
                RowError(line, "offset", "offset_invalid", {"value": values.get("offset")})
            )
            continue
        refs: dict[str, int | None] = {}
        bad = False
        for field, names in (("staff", staff_names), ("zone", zone_names)):
            ref = values.get(field, "")
            refs[field] = names.get(ref.casefold()) if ref else None
            if ref and refs[field] is None:
                code = "unknown_staff" if field == "staff" else "unknown_zone"
                found.append(RowError(line, field, code, {"value": ref}))
                bad = True
        cell = values.get("priority") or "normal"
        priority = PRIORITY_ALIASES.get(cell, cell.lower())
        if priority not in task_rules.PRIORITIES:
            found.append(RowError(line, "priority", "priority_invalid", {"value": priority}))
            continue
        if bad:
            continue
        steps = [s.strip() for s in values.get("steps", "").split("|") if s.strip()]
        try:
            found.append(
                RunSheetItemIn(
                    offset_minutes=offset,
                    title=values.get("title", ""),
                    description=values.get("description", ""),
                    team=values.get("team") or None,
                    staff=refs["staff"],
                    zone=refs["zone"],
                    priority=priority,  # type: ignore[arg-type]
                    steps=steps,
                )
            )
        except ValueError:
            found.append(RowError(line, "title", "row_invalid"))
    return found


async def names_for_import(db: Database, event_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """The roster's and the zones' names (case-folded) to ids, for the CSV import."""
    async with db.reading() as session:
        members = await session.execute(
            select(StaffMember.name, StaffMember.id).where(StaffMember.event_id == event_id)
        )
        zones = await session.execute(select(Zone.name, Zone.id).where(Zone.event_id == event_id))
        return (
            {n.casefold(): i for n, i in members},
            {n.casefold(): i for n, i in zones},
        )


def refuse_rows(errors: list[RowError]) -> InvalidRequest:
    return InvalidRequest(
        f"{len(errors)} problem(s) with the run sheet; nothing was saved.",
        {"errors": [e.as_dict() for e in errors[:50]], "error_count": len(errors)},
        code="run_sheet_invalid",
    )


def check_run_sheet_csv(
    text: str, max_rows: int, staff_names: dict[str, int], zone_names: dict[str, int]
) -> dict[str, Any]:
    """A CSV read without saving: the good rows as items (teams as codes), the
    bad rows' problems, as the import would answer them."""
    rows = parse_run_sheet_csv(text, max_rows, staff_names, zone_names)
    errors = [r.as_dict() for r in rows if isinstance(r, RowError)]
    items = [
        {**r.model_dump(), "team": team_code(r.team)} for r in rows if not isinstance(r, RowError)
    ]
    return {"items": items, "errors": errors[:50], "error_count": len(errors)}


def run_sheet_json(sheet: RunSheet, items: list[RunSheetItem]) -> dict[str, Any]:
    return {
        "id": sheet.id,
        "event": sheet.event_id,
        "name": sheet.name,
        "applied_at": iso(sheet.applied_at),
        "items": [
            {
                "id": i.id,
                "offset_minutes": i.offset_minutes,
                "title": i.title,
                "description": i.description,
                "team": i.team,
                "staff": i.staff_id,
                "zone": i.zone_id,
                "priority": i.priority,
                "steps": i.steps,
            }
            for i in sorted(items, key=lambda i: (i.offset_minutes, i.id))
        ],
    }


async def create_run_sheet(db: Database, event_id: int, body: RunSheetIn) -> dict[str, Any]:
    async with db.writing() as session:
        await get_event(session, event_id)
        for item in body.items:
            await check_staff(session, event_id, item.staff)
            await check_zone(session, event_id, item.zone)
        sheet = RunSheet(event_id=event_id, name=body.name)
        session.add(sheet)
        await session.flush()
        items = _items(sheet.id, body.items)
        session.add_all(items)
        await session.flush()
        return run_sheet_json(sheet, items)


def _items(sheet_id: int, body: list[RunSheetItemIn]) -> list[RunSheetItem]:
    return [
        RunSheetItem(
            run_sheet_id=sheet_id,
            offset_minutes=i.offset_minutes,
            title=i.title,
            description=i.description,
            team=team_code(i.team),
            staff_id=i.staff,
            zone_id=i.zone,
            priority=i.priority,
            steps=list(i.steps),
        )
        for i in body
    ]


async def event_of(db: Database, sheet_id: int) -> int:
    async with db.reading() as session:
        return await event_of_row(session, RunSheet, sheet_id, "unknown_run_sheet")


async def _unapplied(session: AsyncSession, sheet_id: int) -> RunSheet:
    """The sheet's row, locked; refused once it is applied."""
    sheet = await session.get(RunSheet, sheet_id, with_for_update=True, populate_existing=True)
    if sheet is None:
        raise NotFound(f"No run sheet {sheet_id}.", code="unknown_run_sheet")
    if sheet.applied_at is not None:
        raise Conflict(
            "The run sheet is applied: its tasks were made from it.",
            {"applied_at": iso(sheet.applied_at)},
            code=RUN_SHEET_APPLIED,
        )
    return sheet


async def change_run_sheet(db: Database, sheet_id: int, body: RunSheetPatch) -> dict[str, Any]:
    """A new name, or a whole new list of items, while it is not applied."""
    async with db.writing() as session:
        sheet = await _unapplied(session, sheet_id)
        if body.name is not None:
            sheet.name = body.name
        if body.items is not None:
            for item in body.items:
                await check_staff(session, sheet.event_id, item.staff)
                await check_zone(session, sheet.event_id, item.zone)
            await session.execute(delete(RunSheetItem).where(RunSheetItem.run_sheet_id == sheet_id))
            session.add_all(_items(sheet_id, body.items))
            await session.flush()
        items = list(
            await session.scalars(select(RunSheetItem).where(RunSheetItem.run_sheet_id == sheet_id))
        )
        return run_sheet_json(sheet, items)


async def delete_run_sheet(db: Database, sheet_id: int) -> None:
    """Delete a run sheet that is not applied (its items go with it)."""
    async with db.writing() as session:
        sheet = await _unapplied(session, sheet_id)
        await session.execute(delete(RunSheetItem).where(RunSheetItem.run_sheet_id == sheet_id))
        await session.delete(sheet)


async def list_run_sheets(db: Database, event_id: int) -> list[dict[str, Any]]:
    async with db.reading() as session:
        await get_event(session, event_id)
        sheets = list(await session.scalars(select(RunSheet).where(RunSheet.event_id == event_id)))
        items: dict[int, list[RunSheetItem]] = {s.id: [] for s in sheets}
        if sheets:
            for item in await session.scalars(
                select(RunSheetItem).where(RunSheetItem.run_sheet_id.in_(list(items)))
            ):
                items[item.run_sheet_id].append(item)
    return [run_sheet_json(s, items[s.id]) for s in sorted(sheets, key=lambda s: s.id)]


async def apply_run_sheet(
    db: Database, event_id: int, sheet_id: int, body: ApplyIn
) -> dict[str, Any]:
    """Make the run sheet's tasks for the event, once: an item already made is
    skipped (``uq_tasks_event_run_sheet_item``: two applies at one instant
    make each task once; the loser's insert fails and it reads the winner's)."""
    for _attempt in range(3):
        try:
            return await _apply_once(db, event_id, sheet_id, body)
        except IntegrityError:
            continue
    raise Conflict("The run sheet was being applied meanwhile; apply it again.", code="retry")


async def _apply_once(db: Database, event_id: int, sheet_id: int, body: ApplyIn) -> dict[str, Any]:
    async with db.writing() as session:
        event = await get_event(session, event_id)
        # Locked: a change or a delete racing this apply waits, then sees it applied.
        sheet = await session.get(RunSheet, sheet_id, with_for_update=True, populate_existing=True)
        if sheet is None or sheet.event_id != event_id:
            raise NotFound(f"No run sheet {sheet_id}.", code="unknown_run_sheet")
        items = list(
            await session.scalars(
                select(RunSheetItem)
                .where(RunSheetItem.run_sheet_id == sheet_id)
                .order_by(RunSheetItem.offset_minutes, RunSheetItem.id)
            )
        )
        made = set(
            await session.scalars(
                select(Task.run_sheet_item_id).where(
                    Task.event_id == event_id,
                    Task.run_sheet_item_id.in_([i.id for i in items]),
                )
            )
        )
        doors_open = body.doors_open or event.starts_at
        created = []
        for item in items:
            if item.id in made:
                continue
            spec = TaskIn(
                title=item.title,
                description=item.description,
                team=item.team,
                staff=item.staff_id,
                zone=item.zone_id,
                priority=item.priority,  # type: ignore[arg-type]
                steps=list(item.steps or []),
            )
            task = new_task(event_id, spec, task_rules.due_from(doors_open, item.offset_minutes))
            task.run_sheet_item_id = item.id
            session.add(task)
            await session.flush()
            steps = add_steps(session, task, spec.steps)
            await session.flush()
            view = task_json(task, steps)
            publish(session, event_id, TOPIC, task_message("created", view))
            created.append(view)
        if sheet.applied_at is None:
            sheet.applied_at = utcnow()
    return {
        "run_sheet": sheet_id,
        "doors_open": iso(doors_open),
        "created": len(created),
        "already": len(made),
        "tasks": created,
    }
