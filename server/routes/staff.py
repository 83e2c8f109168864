"""The staff roster over HTTP: members, a phone paired to a person, shifts.

Rights: the organiser keeps the roster; command reads it (who is on duty
where); a phone paired to a member starts and ends that member's shift.
Door and staff phones never read the roster (it holds phone numbers).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime.topics import ROSTER
from server.auth import ORGANISER, READERS, Principal, authenticate, authorize, check_rights
from server.context import muster
from server.errors import Conflict
from server.features import staff
from server.features.export_words import LANG, lang_of
from server.http import json_response, parse_body, path_int, read_json, validate
from server.openapi import CSV_FILE, accepts, answers, file_form, reads
from server.responses import JSONResponse
from server.routes.devices import cut_off_phones, issue_pairing_code
from server.routes.tickets import csv_upload_text

_CSV_TYPES = ("text/csv", "multipart/form-data", "application/csv")


async def list_staff(request: Request) -> JSONResponse:
    """The event's roster, each member with their running shift."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, READERS)
    return json_response({"staff": await staff.list_members(muster(request).db, event_id)})


@accepts(
    staff.MemberIn,
    uploads={"text/csv": CSV_FILE, "multipart/form-data": file_form("file")},
)
@answers(201, 400, 409)
async def create_staff(request: Request) -> JSONResponse:
    """Add one member (JSON), or import the roster (a CSV file: all rows or none)."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    ctx = muster(request)
    if request.headers.get("content-type", "").startswith(_CSV_TYPES):
        text = await csv_upload_text(request, ctx.settings.upload_max_bytes)
        rows = staff.parse_roster_csv(text, ctx.settings.csv_max_rows)
        added = await staff.add_members(ctx.db, event_id, rows, many=True)
        return json_response({"staff": added, "count": len(added)}, status=201)
    body = validate(staff.MemberIn, await read_json(request))
    one = staff.MemberRequest(
        body.name, body.phone, body.team, body.role, body.supervisor, body.zone, body.gate
    )
    [added_one] = await staff.add_members(ctx.db, event_id, [one], many=False)
    ctx.changed(event_id, "staff")
    return json_response(added_one, status=201)


async def _member_event(
    request: Request, roles: frozenset[str] | set[str]
) -> tuple[int, int, Principal]:
    """(member id, event id, caller) after checking rights (the token before the id)."""
    principal = await authenticate(request)
    staff_id = path_int(request, "staff_id")
    event_id = await staff.event_of(muster(request).db, staff_id)
    check_rights(principal, event_id, roles)
    return staff_id, event_id, principal


@accepts(staff.MemberPatch)
async def update_staff(request: Request) -> JSONResponse:
    """Change a member's name, phone, team, role, supervisor flag, zone or gate."""
    staff_id, event_id, _caller = await _member_event(request, {ORGANISER})
    body = await parse_body(request, staff.MemberPatch)
    ctx = muster(request)
    member = await staff.update_member(ctx.db, staff_id, body)
    ctx.changed(event_id, ROSTER)  # the open sockets' audiences (realtime.hub)
    return json_response(member)


async def delete_staff(request: Request) -> JSONResponse:
    """Take a member off the roster: their shifts go and their phones are unpaired."""
    staff_id, _event_id, _caller = await _member_event(request, {ORGANISER})
    ctx = muster(request)
    event_id, revoked = await staff.remove_member(ctx.db, staff_id)
    await cut_off_phones(ctx, revoked, event_id)
    return json_response({"id": staff_id, "deleted": True, "devices_unpaired": revoked})


@accepts(staff.MemberPairingIn)
@answers(201)
async def create_staff_pairing_code(request: Request) -> JSONResponse:
    """A single-use pairing code for this member: the phone paired with it is
    theirs, and their earlier phones are unpaired when it is claimed (a lost
    phone), unless ``keep_other_phones``. The body may be empty."""
    staff_id, event_id, caller = await _member_event(request, {ORGANISER})
    body = validate(staff.MemberPairingIn, await read_json(request, optional=True))
    async with muster(request).db.reading() as session:
        member = await staff.read_member(session, staff_id)
    return await issue_pairing_code(
        request,
        event_id,
        role=member.role,
        gate_id=member.gate_id,
        device_name=member.name,
        created_by=caller.account_id,
        staff_id=member.id,
        keep_other_phones=body.keep_other_phones,
    )


@accepts(staff.DutyIn)
@answers(409)
async def record_own_duty(request: Request) -> JSONResponse:
    """Start or end the shift of the member holding this phone."""
    principal = await authenticate(request)
    if principal.event_id is None:
        raise Conflict("This token is not a roster member's phone.", code="not_a_roster_phone")
    body = await parse_body(request, staff.DutyIn)
    ctx = muster(request)
    answer = await staff.record_duty(ctx.db, principal.account_id, principal.event_id, body)
    ctx.changed(principal.event_id, ROSTER)
    return json_response(answer)


@answers(422, media_type="text/csv")
@reads(lang=LANG)
async def export_staff(request: Request) -> Response:
    """The roster as CSV (the import reads it back)."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    text = await staff.roster_csv(muster(request).db, event_id, lang_of(request.query_params))
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="staff-{event_id}.csv"'},
    )


routes = [
    Route("/api/v1/events/{event_id}/staff", list_staff, methods=["GET"]),
    Route("/api/v1/events/{event_id}/staff", create_staff, methods=["POST"]),
    Route("/api/v1/events/{event_id}/exports/staff.csv", export_staff, methods=["GET"]),
    Route("/api/v1/staff/{staff_id}", update_staff, methods=["PATCH"]),
    Route("/api/v1/staff/{staff_id}", delete_staff, methods=["DELETE"]),
    Route("/api/v1/staff/{staff_id}/pairing-codes", create_staff_pairing_code, methods=["POST"]),
    Route("/api/v1/devices/me/duty", record_own_duty, methods=["POST"]),
]
