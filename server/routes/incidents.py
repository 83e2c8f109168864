"""Reporting incidents (JSON, or a form with a photo) and running them.

Everyone on the event may report and comment (door phones too: a dead card
reader at the gate is an incident); organiser, command and floor staff take
and resolve them, within the rules of ``server.features.incident_rules.may_act``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth import DOOR, EVERYONE, OPERATORS, Principal, authorize
from server.context import muster
from server.errors import Forbidden, InvalidRequest
from server.features import incident_rules, incidents
from server.features.photos import StoredPhoto, reencode_photo
from server.http import json_response, parse_body, path_int, read_json, read_limited, validate
from server.openapi import FLAG, TEXT, WHOLE, accepts, answers, file_form, reads
from server.responses import JSONResponse

#: Room for the form fields beside the photo in a multipart report.
FORM_FIELDS_BYTES = 64 * 1024
FORM_FIELDS = frozenset(incidents.ReportIn.model_fields)


async def _replay(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def _report_form(request: Request) -> tuple[dict[str, Any], bytes | None]:
    """The fields and the photo bytes of a multipart report, size-bounded."""
    max_photo = muster(request).settings.photo_max_bytes
    body = await read_limited(request, max_photo + FORM_FIELDS_BYTES, "photo_too_large")
    parser = MultiPartParser(
        request.headers, _replay(body), max_files=1, max_fields=32, max_part_size=FORM_FIELDS_BYTES
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequest(
            f"The form could not be read: {exc.message}", code="bad_form"
        ) from None
    fields: dict[str, Any] = {}
    raw_photo: bytes | None = None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "photo":
                    raise InvalidRequest(
                        f"Unexpected file field {key!r}; send it as 'photo'.",
                        {"field": key[:64]},
                        code="unexpected_file",
                    )
                raw_photo = await value.read()
            elif key in FORM_FIELDS and value != "":
                fields[key] = value
    finally:
        await form.close()
    return fields, raw_photo or None


@accepts(
    incidents.ReportIn,
    uploads={"multipart/form-data": file_form("photo", fields=incidents.ReportIn)},
)
@answers(200, 201, 400, 409)
async def report_incident(request: Request) -> JSONResponse:
    """Report an incident (JSON, or multipart with a ``photo``); duplicates join the open one."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, EVERYONE)
    ctx = muster(request)
    photo: StoredPhoto | None = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        fields, raw_photo = await _report_form(request)
        body = validate(incidents.ReportIn, fields)
        if raw_photo is not None:
            settings = ctx.settings
            photo = await asyncio.to_thread(
                reencode_photo,
                raw_photo,
                max_bytes=settings.photo_max_bytes,
                max_pixels=settings.photo_max_pixels,
                max_side=settings.photo_max_side,
            )
    else:
        body = await parse_body(request, incidents.ReportIn)
    result = await incidents.report_incident(
        ctx.db,
        event_id,
        body,
        principal,
        photo,
        window=timedelta(seconds=ctx.settings.incident_dedupe_window_seconds),
    )
    if not result.repeated:
        ctx.changed(event_id, "incidents")
    status = 201 if result.outcome == "created" and not result.repeated else 200
    return json_response(result.answer(), status=status)


def _statuses(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    wanted: list[str] = []
    for part in raw.split(","):
        part = part.strip()
        if part == "active":
            wanted.extend(incident_rules.ACTIVE)
        elif part in incident_rules.STATUSES:
            wanted.append(part)
        else:
            raise InvalidRequest(
                f"Unknown status {part!r}; one of active, {', '.join(incident_rules.STATUSES)}."
            )
    return wanted


async def _door_took_part(request: Request, principal: Principal, event_id: int) -> None:
    """A door phone reads the incidents it had a hand in, no others: they
    may name attendees (who fainted where), and a door only reports and
    comments (server/features/rights.py)."""
    if principal.role != DOOR:
        return
    incident_id = path_int(request, "incident_id")
    if not await incidents.took_part(
        muster(request).db, event_id, incident_id, principal.account_id
    ):
        raise Forbidden(
            "A door phone sees the incidents it reported or wrote on.", code="not_own_incident"
        )


@answers(422)
@reads(status=TEXT, mine=FLAG, category=TEXT, limit=WHOLE)
async def list_incidents(request: Request) -> JSONResponse:
    """Incidents, newest first (``status``, ``mine``, ``category``, ``limit``);
    a door phone's are always ``mine``."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, EVERYONE)
    params = request.query_params
    mine = principal.role == DOOR or params.get("mine", "").lower() in ("1", "true", "yes")
    try:
        limit = min(max(int(params.get("limit", "200")), 1), 1000)
    except ValueError:
        raise InvalidRequest("limit must be a whole number.") from None
    found = await incidents.list_incidents(
        muster(request).db,
        event_id,
        statuses=_statuses(params.get("status")),
        mine_for=principal.account_id if mine else None,
        category=params.get("category") or None,
        limit=limit,
    )
    return json_response(found)


async def read_incident(request: Request) -> JSONResponse:
    """One incident with its log, comments, photos and emergency plan."""
    event_id, incident_id = path_int(request, "event_id"), path_int(request, "incident_id")
    principal = await authorize(request, event_id, EVERYONE)
    await _door_took_part(request, principal, event_id)
    return json_response(await incidents.read_incident(muster(request).db, event_id, incident_id))


async def _optional_json(request: Request) -> Any:
    return await read_json(request, optional=True)


async def _act(request: Request, action: str) -> JSONResponse:
    event_id, incident_id = path_int(request, "event_id"), path_int(request, "incident_id")
    principal = await authorize(request, event_id, OPERATORS)
    assign: incidents.AssignIn | None = None
    if action == incident_rules.ASSIGN:
        assign = validate(incidents.AssignIn, await _optional_json(request))
        if not assign.names_someone():
            raise InvalidRequest(
                "Name an assignee, a team, or both (null clears one).",
                code="assign_needs_someone",
            )
        note = assign.note
    else:
        note = validate(incidents.NoteIn, await _optional_json(request)).note
    ctx = muster(request)
    result = await incidents.act_on_incident(
        ctx.db, event_id, incident_id, action, principal, note=note, assign=assign
    )
    ctx.changed(event_id, "incidents")
    return json_response({**result.incident, "entry": result.entry})


@accepts(incidents.NoteIn, required=False)
@answers(409)
async def acknowledge_incident(request: Request) -> JSONResponse:
    """Acknowledge (take) an open incident; staff who take it unassigned get it."""
    return await _act(request, incident_rules.ACK)


@accepts(incidents.AssignIn, required=False)
@answers(409)
async def assign_incident(request: Request) -> JSONResponse:
    """Assign to a person (an account's id or name, "me", or a named person
    without an account), a roster team, or both; a field left out is kept."""
    return await _act(request, incident_rules.ASSIGN)


@accepts(incidents.NoteIn, required=False)
@answers(409)
async def resolve_incident(request: Request) -> JSONResponse:
    """Resolve an incident, with an optional note."""
    return await _act(request, incident_rules.RESOLVE)


@accepts(incidents.NoteIn, required=False)
@answers(409)
async def reopen_incident(request: Request) -> JSONResponse:
    """Reopen a resolved incident; its escalation clocks start again."""
    return await _act(request, incident_rules.REOPEN)


@accepts(incidents.CommentIn)
@answers(200, 201, 409)
async def comment_incident(request: Request) -> JSONResponse:
    """Comment on an incident; a resent nonce is stored once."""
    event_id, incident_id = path_int(request, "event_id"), path_int(request, "incident_id")
    principal = await authorize(request, event_id, EVERYONE)
    await _door_took_part(request, principal, event_id)
    body = await parse_body(request, incidents.CommentIn)
    ctx = muster(request)
    result = await incidents.comment_on_incident(ctx.db, event_id, incident_id, principal, body)
    if not result.repeated:
        ctx.changed(event_id, "incidents")
    return json_response(
        {**result.incident, "entry": result.entry}, status=200 if result.repeated else 201
    )


async def _photo_response(request: Request, photo_id: int | None) -> Response:
    event_id, incident_id = path_int(request, "event_id"), path_int(request, "incident_id")
    principal = await authorize(request, event_id, EVERYONE)
    await _door_took_part(request, principal, event_id)
    photo = await incidents.read_photo(muster(request).db, event_id, incident_id, photo_id)
    return Response(
        photo.data,
        media_type=photo.content_type,
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@answers(media_type=("image/jpeg", "image/png"))
async def incident_photo(request: Request) -> Response:
    """The first photo of an incident (JPEG)."""
    return await _photo_response(request, None)


@answers(media_type=("image/jpeg", "image/png"))
async def incident_photo_by_id(request: Request) -> Response:
    """One photo of an incident (JPEG)."""
    return await _photo_response(request, path_int(request, "photo_id"))


BASE = "/api/v1/events/{event_id}/incidents"

routes = [
    Route(BASE, report_incident, methods=["POST"]),
    Route(BASE, list_incidents, methods=["GET"]),
    Route(BASE + "/{incident_id}", read_incident, methods=["GET"]),
    Route(BASE + "/{incident_id}/ack", acknowledge_incident, methods=["POST"]),
    Route(BASE + "/{incident_id}/assign", assign_incident, methods=["POST"]),
    Route(BASE + "/{incident_id}/resolve", resolve_incident, methods=["POST"]),
    Route(BASE + "/{incident_id}/reopen", reopen_incident, methods=["POST"]),
    Route(BASE + "/{incident_id}/comments", comment_incident, methods=["POST"]),
    Route(BASE + "/{incident_id}/photo", incident_photo, methods=["GET"]),
    Route(BASE + "/{incident_id}/photos/{photo_id}", incident_photo_by_id, methods=["GET"]),
]
