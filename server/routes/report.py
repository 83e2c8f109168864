"""The post-event review: a summary report and CSV exports of the logs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from server.auth import READERS, authorize
from server.context import muster
from server.db import Database
from server.errors import Forbidden
from server.features import spreadsheet
from server.features.broadcast_rules import ack_times, audience_of, audience_text
from server.features.broadcasts import broadcast_figures, broadcasts_review
from server.features.export_words import BOOLEAN, LANG, ExportWords, lang_of, worded
from server.features.issuance import BLANK_STATUS
from server.features.report import IncidentRow, ScanRow, summarise_incidents, summarise_scans
from server.features.rights import COMMAND_EXPORTS, may_export_personal_data
from server.features.task_rules import outcome
from server.features.tasks import tasks_review
from server.http import json_response, path_int
from server.lookup import get_event
from server.models import Account, Gate, Scan, Ticket, TicketType, Zone
from server.models.incidents import Incident, IncidentLogEntry
from server.models.stock import StockItem, StockMovement
from server.models.tasks import Task, TaskStep
from server.openapi import answers, reads
from server.responses import JSONResponse
from server.serialize import iso

#: Rows fetched per round trip while streaming an export.
EXPORT_BATCH = 5000


async def event_report(request: Request) -> JSONResponse:
    """The post-event review: attendance, doors, zones, incidents and stock."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, READERS)
    async with muster(request).db.reading() as session:
        event = await get_event(session, event_id)
        zones = (await session.scalars(select(Zone).where(Zone.event_id == event_id))).all()
        gates = (await session.scalars(select(Gate).where(Gate.event_id == event_id))).all()
        types = (
            await session.scalars(select(TicketType).where(TicketType.event_id == event_id))
        ).all()
        per_type = (
            await session.execute(
                select(
                    Ticket.type_id,
                    func.count(),
                    func.count(Ticket.checked_in_at),
                    func.count().filter(Ticket.status == "revoked"),
                )
                # Unbound walk-in blanks were never issued to anyone.
                .where(Ticket.event_id == event_id, Ticket.status != BLANK_STATUS)
                .group_by(Ticket.type_id)
            )
        ).all()
        scan_rows = [
            ScanRow(
                scanned_at=r.scanned_at,
                status=r.status,
                reason=r.reason,
                direction=r.direction,
                gate_id=r.gate_id,
                from_zone_id=r.from_zone_id,
                to_zone_id=r.to_zone_id,
                offline=r.offline,
                conflict=r.conflict_with is not None,
                annulled=r.annulled_at is not None,
            )
            for r in await session.execute(
                select(
                    Scan.scanned_at,
                    Scan.status,
                    Scan.reason,
                    Scan.direction,
                    Scan.gate_id,
                    Scan.from_zone_id,
                    Scan.to_zone_id,
                    Scan.offline,
                    Scan.conflict_with,
                    Scan.annulled_at,
                ).where(Scan.event_id == event_id)
            )
        ]
        incidents = [
            IncidentRow(
                category=i.category,
                severity=i.severity,
                status=i.status,
                created_at=i.created_at,
                acknowledged_at=i.acknowledged_at,
                resolved_at=i.resolved_at,
                escalated=i.escalation_level > 0,
            )
            for i in await session.scalars(select(Incident).where(Incident.event_id == event_id))
        ]
        stock = (
            await session.execute(
                select(
                    StockItem,
                    func.coalesce(
                        select(func.sum(-StockMovement.delta))
                        .where(StockMovement.item_id == StockItem.id, StockMovement.kind == "issue")
                        .scalar_subquery(),
                        0,
                    ),
                )
                .where(StockItem.event_id == event_id)
                .order_by(StockItem.name, StockItem.location)
            )
        ).all()
        review = await broadcasts_review(session, event_id, event.starts_at)
        task_review = await tasks_review(session, event_id)
    tz = ZoneInfo(event.timezone)
    scans = summarise_scans(scan_rows, [z.id for z in zones], tz)
    type_names = {t.id: t.name for t in types}
    issued = sum(n for _t, n, _c, _r in per_type)
    checked_in = sum(c for _t, _n, c, _r in per_type)
    revoked = sum(int(r or 0) for _t, _n, _c, r in per_type)
    gate_tallies: dict[int, dict[str, int]] = scans.pop("gates")  # type: ignore[assignment]
    peaks: dict[int, dict[str, Any]] = scans.pop("peak_inside")  # type: ignore[assignment]
    return json_response(
        {
            "event": {"id": event.id, "name": event.name, "timezone": event.timezone},
            "tickets": {
                "issued": issued,
                "revoked": revoked,
                "checked_in": checked_in,
                "no_shows": issued - revoked - checked_in,
                "by_type": [
                    {"ticket_type": t, "name": type_names.get(t, ""), "issued": n, "checked_in": c}
                    for t, n, c, _r in per_type
                ],
            },
            "scans": scans,
            "gates": [
                {"id": g.id, "name": g.name, **gate_tallies.get(g.id, {"in": 0, "out": 0})}
                for g in gates
            ],
            "zones": [
                {
                    "id": z.id,
                    "name": z.name,
                    "capacity": z.capacity,
                    "peak_inside": peaks[z.id]["inside"],
                    "peak_at": peaks[z.id]["at"],
                }
                for z in zones
            ],
            "incidents": summarise_incidents(incidents),
            "broadcasts": review,
            "tasks": task_review,
            "stock": [
                {
                    "id": item.id,
                    "name": item.name,
                    "location": item.location,
                    "unit": item.unit,
                    "issued": int(issued_total),
                    "on_hand": item.quantity,
                }
                for item, issued_total in stock
            ],
        }
    )


async def _stream_rows(
    db: Database,
    query: Select[*tuple[Any, ...]],
    id_column: Any,
    header: Sequence[str],
    row: Callable[[Any], Sequence[Any]],
) -> AsyncIterator[str]:
    """CSV text in batches by id (keyset pagination), a byte-order mark first
    so that Excel opens the Chinese names as UTF-8."""
    yield "\ufeff" + spreadsheet.line(header)
    last = 0
    while True:
        async with db.reading() as session:
            batch = (
                await session.execute(
                    query.where(id_column > last).order_by(id_column).limit(EXPORT_BATCH)
                )
            ).all()
        if not batch:
            return
        yield "".join(spreadsheet.line(row(r)) for r in batch)
        last = batch[-1][0]


async def _csv_response(body: AsyncIterator[str], name: str) -> StreamingResponse:
    # The header and the first batch are read before the answer starts, so a
    # database that is away gets the 503 every route gives, not a 200 cut
    # short after its first line (a later outage can only cut it short).
    first: list[str] = []
    with contextlib.suppress(StopAsyncIteration):
        first.append(await anext(body))
        first.append(await anext(body))

    async def whole() -> AsyncIterator[str]:
        yield "".join(first)
        async for chunk in body:
            yield chunk

    return StreamingResponse(
        whole(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _event_zone(request: Request, event_id: int) -> ZoneInfo:
    """The event's time zone, once the caller may export the event's logs
    (they name people: command only where the organiser allows it)."""
    principal = await authorize(request, event_id, READERS)
    async with muster(request).db.reading() as session:
        event = await get_event(session, event_id)
    if not may_export_personal_data(principal.role, event.options):
        raise Forbidden(
            f"The organiser has not let {principal.role} export personal data.",
            {"option": COMMAND_EXPORTS},
            code="export_not_allowed",
        )
    return ZoneInfo(event.timezone)


def local_time(value: datetime | None, tz: ZoneInfo) -> str | None:
    """A time as the venue's wall clock reads it ("2026-12-01 09:05:03"), for
    spreadsheets; the ISO column beside it keeps the exact instant in UTC."""
    if value is None:
        return None
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _local(name: str, tz: ZoneInfo) -> str:
    """The header of a local-time column, naming the zone: "scanned_at (Asia/Shanghai)"."""
    return f"{name} ({tz.key})"


@answers(422, media_type="text/csv")
@reads(lang=LANG)
async def export_checkins(request: Request) -> StreamingResponse:
    """Every scan, accepted or refused, as CSV (times in UTC and in the event's zone)."""
    event_id = path_int(request, "event_id")
    tz = await _event_zone(request, event_id)
    query = (
        select(Scan.id, Scan, Ticket.holder_name, Ticket.code, Gate.name, Account.name)
        .outerjoin(Ticket, Ticket.id == Scan.ticket_id)
        .outerjoin(Gate, Gate.id == Scan.gate_id)
        .outerjoin(Account, Account.id == Scan.device_id)
        .where(Scan.event_id == event_id)
    )
    header = [
        "scan_id", "scanned_at", _local("scanned_at", tz), "received_at", "ticket_id", "code",
        "holder_name", "gate", "direction", "status", "reason", "device", "offline",
        "conflict_with", "annulled_at", "nonce",
    ]  # fmt: skip

    def row(r: Any) -> list[Any]:
        _id, scan, holder, code, gate, device = r
        return [
            scan.id, iso(scan.scanned_at), local_time(scan.scanned_at, tz), iso(scan.received_at),
            scan.ticket_id, code, holder, gate, scan.direction, scan.status, scan.reason, device,
            int(scan.offline), scan.conflict_with, iso(scan.annulled_at), scan.nonce,
        ]  # fmt: skip

    coded = {
        "direction": "direction",
        "status": "scan_status",
        "reason": "reason",
        "offline": BOOLEAN,
    }
    sheet = worded(lang_of(request.query_params), header, coded, row)
    return await _csv_response(
        _stream_rows(muster(request).db, query, Scan.id, *sheet), f"checkins-{event_id}.csv"
    )


def _resolution_note() -> Any:
    """The note of an incident's latest resolution (a scalar subquery)."""
    return (
        select(IncidentLogEntry.text)
        .where(IncidentLogEntry.incident_id == Incident.id, IncidentLogEntry.action == "resolved")
        .order_by(IncidentLogEntry.id.desc())
        .limit(1)
        .scalar_subquery()
    )


@answers(422, media_type="text/csv")
@reads(lang=LANG)
async def export_incidents(request: Request) -> StreamingResponse:
    """Every incident with its timings and resolution note, as CSV."""
    event_id = path_int(request, "event_id")
    tz = await _event_zone(request, event_id)
    query = select(Incident.id, Incident, _resolution_note()).where(Incident.event_id == event_id)
    header = [
        "incident_id", "created_at", _local("created_at", tz), "category", "severity", "title",
        "status", "zone_id", "gate_id", "location", "equipment_tag", "reporter", "assignee",
        "assignee_team", "reports", "acknowledged_at", _local("acknowledged_at", tz), "resolved_at",
        _local("resolved_at", tz), "escalation_level", "description", "resolution_note",
    ]  # fmt: skip

    def row(r: Any) -> list[Any]:
        _id, i, note = r
        # A reopened incident keeps its old note in the log, not here.
        return [
            i.id, iso(i.created_at), local_time(i.created_at, tz), i.category, i.severity, i.title,
            i.status, i.zone_id, i.gate_id, i.location_text, i.equipment_tag, i.reporter_name,
            i.assignee_name, i.assignee_team, i.reports, iso(i.acknowledged_at), local_time(i.acknowledged_at, tz),
            iso(i.resolved_at), local_time(i.resolved_at, tz), i.escalation_level, i.description,
            (note or "") if i.status == "resolved" else "",
        ]  # fmt: skip

    coded = {
        "category": "category", "severity": "severity", "status": "incident_status",
        "assignee_team": "team",
    }  # fmt: skip
    sheet = worded(lang_of(request.query_params), header, coded, row)
    return await _csv_response(
        _stream_rows(muster(request).db, query, Incident.id, *sheet),
        f"incidents-{event_id}.csv",
    )


@answers(422, media_type="text/csv")
@reads(lang=LANG)
async def export_stock(request: Request) -> StreamingResponse:
    """The stock ledger (every movement), as CSV."""
    event_id = path_int(request, "event_id")
    tz = await _event_zone(request, event_id)
    query = (
        select(StockMovement.id, StockMovement, StockItem.name, StockItem.location, StockItem.unit)
        .join(StockItem, StockItem.id == StockMovement.item_id)
        .where(StockMovement.event_id == event_id)
    )
    header = [
        "movement_id", "occurred_at", _local("occurred_at", tz), "recorded_at", "kind", "item",
        "location", "unit", "delta", "quantity_after", "to_item_id", "to_quantity_after", "reason",
        "actor", "nonce",
    ]  # fmt: skip

    def row(r: Any) -> list[Any]:
        _id, m, name, location, unit = r
        return [
            m.id, iso(m.occurred_at), local_time(m.occurred_at, tz), iso(m.recorded_at), m.kind,
            name, location, unit, m.delta, m.quantity_after, m.to_item_id, m.to_quantity_after,
            m.reason, m.actor_name, m.nonce,
        ]  # fmt: skip

    sheet = worded(lang_of(request.query_params), header, {"kind": "stock_kind"}, row)
    return await _csv_response(
        _stream_rows(muster(request).db, query, StockMovement.id, *sheet),
        f"stock-{event_id}.csv",
    )


def _steps(done: bool) -> Any:
    """How many steps a task has (ticked ones only with ``done``): a scalar subquery."""
    query = select(func.count(TaskStep.id)).where(TaskStep.task_id == Task.id)
    if done:
        query = query.where(TaskStep.done_at.is_not(None))
    return query.scalar_subquery()


@answers(422, media_type="text/csv")
@reads(lang=LANG)
async def export_tasks(request: Request) -> StreamingResponse:
    """Every task with its owner, due and done times, outcome and steps, as CSV."""
    event_id = path_int(request, "event_id")
    tz = await _event_zone(request, event_id)
    query = select(Task.id, Task, _steps(True), _steps(False)).where(Task.event_id == event_id)
    header = [
        "task_id", "title", "team", "staff_id", "zone_id", "priority", "status", "due_at",
        _local("due_at", tz), "done_at", _local("done_at", tz), "outcome", "steps_done",
        "steps", "blocked_reason", "description",
    ]  # fmt: skip

    def row(r: Any) -> list[Any]:
        _id, task, ticked, steps = r
        return [
            task.id, task.title, task.team or "", task.staff_id, task.zone_id, task.priority,
            task.status, iso(task.due_at), local_time(task.due_at, tz), iso(task.done_at),
            local_time(task.done_at, tz), outcome(task.status, task.due_at, task.done_at),
            ticked, steps, task.blocked_reason, task.description,
        ]  # fmt: skip

    coded = {
        "team": "team", "priority": "task_priority", "status": "task_status",
        "outcome": "task_outcome",
    }  # fmt: skip
    sheet = worded(lang_of(request.query_params), header, coded, row)
    return await _csv_response(
        _stream_rows(muster(request).db, query, Task.id, *sheet), f"tasks-{event_id}.csv"
    )


async def _broadcast_lines(
    db: Database, event_id: int, tz: ZoneInfo, words: ExportWords | None
) -> AsyncIterator[str]:
    """The broadcasts as CSV lines: an event sends tens or hundreds, read at once
    (their confirmations are counted over the whole roster, not row by row)."""
    header = [
        "broadcast_id", "sent_at", _local("sent_at", tz), "resent_at", _local("resent_at", tz),
        "priority", "audience", "plan_id", "ack_required", "expected", "acked",
        "median_seconds", "slowest_seconds", "text_zh", "text_en",
    ]  # fmt: skip

    def row(bf: Any) -> list[Any]:
        b, f = bf
        times = ack_times(f.seconds)
        return [
            b.id, iso(b.sent_at), local_time(b.sent_at, tz), iso(b.resent_at),
            local_time(b.resent_at, tz), b.priority, audience_text(audience_of(b.audience)),
            b.plan_id, b.ack_required, f.expected, f.acked, times["median_seconds"],
            times["slowest_seconds"], b.text_zh, b.text_en,
        ]  # fmt: skip

    coded = {"priority": "broadcast_priority", "ack_required": BOOLEAN}
    worded_header, worded_row = worded(words, header, coded, row)
    yield "\ufeff" + spreadsheet.line(worded_header)
    async with db.reading() as session:
        figures = await broadcast_figures(session, event_id, asked_only=False)
    yield "".join(spreadsheet.line(worded_row(bf)) for bf in figures)


@answers(422, media_type="text/csv")
@reads(lang=LANG)
async def export_broadcasts(request: Request) -> StreamingResponse:
    """Every broadcast with its audience, confirmed / expected and the seconds to
    confirm (median, slowest), as CSV."""
    event_id = path_int(request, "event_id")
    tz = await _event_zone(request, event_id)
    return await _csv_response(
        _broadcast_lines(muster(request).db, event_id, tz, lang_of(request.query_params)),
        f"broadcasts-{event_id}.csv",
    )


routes = [
    Route("/api/v1/events/{event_id}/report", event_report, methods=["GET"]),
    Route("/api/v1/events/{event_id}/exports/checkins.csv", export_checkins, methods=["GET"]),
    Route("/api/v1/events/{event_id}/exports/incidents.csv", export_incidents, methods=["GET"]),
    Route("/api/v1/events/{event_id}/exports/stock.csv", export_stock, methods=["GET"]),
    Route("/api/v1/events/{event_id}/exports/tasks.csv", export_tasks, methods=["GET"]),
    Route("/api/v1/events/{event_id}/exports/broadcasts.csv", export_broadcasts, methods=["GET"]),
]
