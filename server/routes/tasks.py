"""The task board over HTTP: tasks, changes with a nonce, run sheets.

Rights (``server/features/rights.py``): organiser and command make and change every
task and run sheet; every phone lists the tasks of the person holding it
and of their team and works on those (status and steps): another's is 403
``not_your_task``, and what a task is, who does it and when stays with
command (403 ``task_fields_for_command``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from server.auth import EVERYONE, READERS, authenticate, authorize, check_rights
from server.context import muster
from server.features import run_sheets, tasks
from server.features.issuance import RowError
from server.http import json_response, parse_body, path_int, read_json, validate
from server.openapi import CSV_FILE, TEXT, accepts, answers, file_form, reads
from server.responses import JSONResponse
from server.routes.tickets import csv_upload_text

_CSV_TYPES = ("text/csv", "multipart/form-data", "application/csv")


@accepts(tasks.TaskIn)
@answers(201)
async def create_task(request: Request) -> JSONResponse:
    """Add a task: title, description, team or person, zone, due time, priority, steps."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, READERS)
    body = await parse_body(request, tasks.TaskIn)
    ctx = muster(request)
    task = await tasks.create_task(ctx.db, event_id, body)
    ctx.changed(event_id, tasks.TOPIC)
    return json_response(task, status=201)


async def list_tasks(request: Request) -> JSONResponse:
    """The event's tasks: all for command; a phone's person's and team's."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, EVERYONE)
    return json_response(await tasks.list_tasks(muster(request).db, event_id, principal))


@accepts(tasks.TaskPatch)
@answers(409)
async def change_task(request: Request) -> JSONResponse:
    """Change a task with a nonce (status, blocked reason, steps ticked; command: the rest);
    the first answer again when the nonce is repeated."""
    principal = await authenticate(request)
    task_id = path_int(request, "task_id")
    ctx = muster(request)
    event_id = await tasks.event_of(ctx.db, task_id)
    check_rights(principal, event_id, EVERYONE)
    body = await parse_body(request, tasks.TaskPatch)
    result = await tasks.change_task(ctx.db, task_id, principal, body)
    if not result.repeated:
        ctx.changed(event_id, tasks.TOPIC)
    return json_response(result.response)


@accepts(
    run_sheets.RunSheetIn,
    uploads={"text/csv": CSV_FILE, "multipart/form-data": file_form("file")},
)
@answers(201, 400)
@reads(name=TEXT)
async def create_run_sheet(request: Request) -> JSONResponse:
    """Add a run sheet (JSON), or import one (CSV: offset as T-120, title, team, staff,
    zone, priority, steps separated by "|"; all rows or none; ``?name=`` names it)."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, READERS)
    ctx = muster(request)
    if request.headers.get("content-type", "").startswith(_CSV_TYPES):
        text = await csv_upload_text(request, ctx.settings.upload_max_bytes)
        staff_names, zone_names = await run_sheets.names_for_import(ctx.db, event_id)
        rows = run_sheets.parse_run_sheet_csv(
            text, ctx.settings.csv_max_rows, staff_names, zone_names
        )
        errors = [r for r in rows if isinstance(r, RowError)]
        if errors:
            raise run_sheets.refuse_rows(errors)
        items = [r for r in rows if not isinstance(r, RowError)]
        name = (request.query_params.get("name") or "run sheet")[:200]
        body = validate(
            run_sheets.RunSheetIn, {"name": name, "items": [i.model_dump() for i in items]}
        )
    else:
        body = validate(run_sheets.RunSheetIn, await read_json(request))
    return json_response(await run_sheets.create_run_sheet(ctx.db, event_id, body), status=201)


@accepts(None, uploads={"text/csv": CSV_FILE, "multipart/form-data": file_form("file")})
@answers(400)
async def check_run_sheet(request: Request) -> JSONResponse:
    """Read a run sheet's CSV without saving it: the good rows as items, the bad
    rows' problems with their codes (the console keeps the good rows)."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, READERS)
    ctx = muster(request)
    text = await csv_upload_text(request, ctx.settings.upload_max_bytes)
    staff_names, zone_names = await run_sheets.names_for_import(ctx.db, event_id)
    return json_response(
        run_sheets.check_run_sheet_csv(text, ctx.settings.csv_max_rows, staff_names, zone_names)
    )


async def _sheet_event(request: Request) -> int:
    """The run sheet of the path, for organiser and command of its event."""
    principal = await authenticate(request)
    sheet_id = path_int(request, "run_sheet_id")
    check_rights(principal, await run_sheets.event_of(muster(request).db, sheet_id), READERS)
    return sheet_id


@accepts(run_sheets.RunSheetPatch)
@answers(409)
async def change_run_sheet(request: Request) -> JSONResponse:
    """Rename a run sheet or replace its items, until it is applied (409 run_sheet_applied)."""
    sheet_id = await _sheet_event(request)
    body = await parse_body(request, run_sheets.RunSheetPatch)
    return json_response(await run_sheets.change_run_sheet(muster(request).db, sheet_id, body))


@answers(409)
async def delete_run_sheet(request: Request) -> JSONResponse:
    """Delete a run sheet that is not applied (409 run_sheet_applied)."""
    sheet_id = await _sheet_event(request)
    await run_sheets.delete_run_sheet(muster(request).db, sheet_id)
    return json_response({"id": sheet_id, "deleted": True})


async def list_run_sheets(request: Request) -> JSONResponse:
    """The event's run sheets with their items."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, READERS)
    return json_response(
        {"run_sheets": await run_sheets.list_run_sheets(muster(request).db, event_id)}
    )


@accepts(run_sheets.ApplyIn)
async def apply_run_sheet(request: Request) -> JSONResponse:
    """Make the run sheet's tasks, due relative to doors-open (the event's start unless
    given); applying it again makes none twice."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, READERS)
    sheet_id = path_int(request, "run_sheet_id")
    body = await parse_body(request, run_sheets.ApplyIn)
    ctx = muster(request)
    answer = await run_sheets.apply_run_sheet(ctx.db, event_id, sheet_id, body)
    if answer["created"]:
        ctx.changed(event_id, tasks.TOPIC)
    return json_response(answer)


routes = [
    Route("/api/v1/events/{event_id}/tasks", create_task, methods=["POST"]),
    Route("/api/v1/events/{event_id}/tasks", list_tasks, methods=["GET"]),
    Route("/api/v1/tasks/{task_id}", change_task, methods=["PATCH"]),
    Route("/api/v1/events/{event_id}/run-sheets", create_run_sheet, methods=["POST"]),
    Route("/api/v1/events/{event_id}/run-sheets", list_run_sheets, methods=["GET"]),
    Route("/api/v1/events/{event_id}/run-sheets/check", check_run_sheet, methods=["POST"]),
    Route("/api/v1/run-sheets/{run_sheet_id}", change_run_sheet, methods=["PATCH"]),
    Route("/api/v1/run-sheets/{run_sheet_id}", delete_run_sheet, methods=["DELETE"]),
    Route(
        "/api/v1/events/{event_id}/run-sheets/{run_sheet_id}/apply",
        apply_run_sheet,
        methods=["POST"],
    ),
]
