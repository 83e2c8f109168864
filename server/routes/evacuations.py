"""Evacuation roll-call over HTTP: assembly points, start, accounts, the missing, all-clear.

Rights (DESIGN, Privacy and rights): only organiser and command start and
end an evacuation and see contact data; door and staff phones account
people at an assembly point and read the roll they need to (names, no
contact data). Every answer is codes and figures; the pages word them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth import (
    EVERYONE,
    ORGANISER,
    READERS,
    Principal,
    authenticate,
    authorize,
    check_rights,
)
from server.context import muster
from server.features import evacuation_accounts, evacuation_report, evacuations
from server.features.export_words import LANG, lang_of
from server.http import json_response, parse_body, path_int, read_json, validate
from server.openapi import accepts, answers, reads
from server.responses import JSONResponse


@accepts(evacuations.MusterPointIn)
@answers(201)
async def create_muster_point(request: Request) -> JSONResponse:
    """Add an assembly point (name, the zones that send people there, a map note)."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, evacuations.MusterPointIn)
    point = await evacuations.create_point(muster(request).db, event_id, body)
    muster(request).changed(event_id, "evacuation")
    return json_response(point, status=201)


@accepts(evacuations.MusterPointPatch)
async def update_muster_point(request: Request) -> JSONResponse:
    """Change an assembly point's name, zones or map note."""
    event_id, point_id = path_int(request, "event_id"), path_int(request, "point_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, evacuations.MusterPointPatch)
    point = await evacuations.update_point(muster(request).db, event_id, point_id, body)
    muster(request).changed(event_id, "evacuation")
    return json_response(point)


@answers(409)
async def delete_muster_point(request: Request) -> JSONResponse:
    """Remove an assembly point nobody has been accounted at (409 ``muster_point_in_use``)."""
    event_id, point_id = path_int(request, "event_id"), path_int(request, "point_id")
    await authorize(request, event_id, {ORGANISER})
    await evacuations.delete_point(muster(request).db, event_id, point_id)
    muster(request).changed(event_id, "evacuation")
    return json_response({"outcome": "deleted", "id": point_id})


async def list_muster_points(request: Request) -> JSONResponse:
    """The event's assembly points."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, EVERYONE)
    points = await evacuations.list_points(muster(request).db, event_id)
    return json_response({"points": points})


@accepts(evacuations.EvacuationIn)
@answers(201, 409)
async def start_evacuation(request: Request) -> JSONResponse:
    """Start an evacuation or drill: the roll is frozen at this instant."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, READERS)
    body = await parse_body(request, evacuations.EvacuationIn)
    started = await evacuations.start(muster(request).db, event_id, body, principal)
    muster(request).changed(event_id, "evacuation")
    return json_response(started, status=201)


async def list_evacuations(request: Request) -> JSONResponse:
    """The event's evacuations and drills, newest first."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, EVERYONE)
    found = await evacuations.list_evacuations(muster(request).db, event_id)
    return json_response({"evacuations": found})


async def _evacuation(
    request: Request, roles: frozenset[str] | set[str]
) -> tuple[int, int, Principal]:
    """(evacuation id, event id, caller) after checking rights (the token before the id)."""
    principal = await authenticate(request)
    evacuation_id = path_int(request, "evacuation_id")
    event_id = await evacuations.event_of(muster(request).db, evacuation_id)
    check_rights(principal, event_id, roles)
    return evacuation_id, event_id, principal


async def read_evacuation(request: Request) -> JSONResponse:
    """To account for, accounted and missing: in total, per zone, per point; arrivals."""
    evacuation_id, _event, _caller = await _evacuation(request, EVERYONE)
    return json_response(await evacuations.summary(muster(request).db, evacuation_id))


async def read_missing(request: Request) -> JSONResponse:
    """Who is still unaccounted for, last gate and time seen; contact data for organiser and command."""
    evacuation_id, _event, principal = await _evacuation(request, EVERYONE)
    contact = principal.role in READERS
    found = await evacuations.missing(muster(request).db, evacuation_id, contact=contact)
    return json_response(found)


async def read_people(request: Request) -> JSONResponse:
    """Everyone on the roll with their state (the muster mode's search list)."""
    evacuation_id, _event, _caller = await _evacuation(request, EVERYONE)
    return json_response({"people": await evacuations.roll(muster(request).db, evacuation_id)})


@accepts(evacuation_accounts.AccountIn | evacuation_accounts.AccountsIn)
async def record_accounts(request: Request) -> JSONResponse:
    """Account for one person or a batch; a repeated nonce returns its first answer."""
    evacuation_id, event_id, principal = await _evacuation(request, EVERYONE)
    data = await read_json(request)
    single = isinstance(data, dict) and "accounts" not in data
    items = (
        [validate(evacuation_accounts.AccountIn, data)]
        if single
        else validate(evacuation_accounts.AccountsIn, data).accounts
    )
    result = await evacuation_accounts.record_accounts(
        muster(request).db, evacuation_id, event_id, items, principal
    )
    if result.changed:
        muster(request).changed(event_id, "evacuation")
    if single:
        return json_response(result.results[0])
    return json_response({"results": result.results})


async def all_clear(request: Request) -> JSONResponse:
    """End the evacuation (organiser or command); the phones and screens go back."""
    evacuation_id, event_id, principal = await _evacuation(request, READERS)
    ended = await evacuations.all_clear(muster(request).db, evacuation_id, principal)
    muster(request).changed(event_id, "evacuation")
    return json_response(ended)


async def read_report(request: Request) -> JSONResponse:
    """Times to 50/90/100 % accounted, missing over time, per point, drills compared."""
    evacuation_id, _event, _caller = await _evacuation(request, READERS)
    return json_response(await evacuation_report.report(muster(request).db, evacuation_id))


@answers(422, media_type="text/csv")
@reads(lang=LANG)
async def people_csv(request: Request) -> Response:
    """The roll as CSV (for the fire service and the review)."""
    evacuation_id, _event, _caller = await _evacuation(request, READERS)
    people = await evacuations.roll(muster(request).db, evacuation_id)
    return Response(
        evacuation_report.roll_csv(people, lang_of(request.query_params)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="evacuation-{evacuation_id}.csv"'},
    )


routes = [
    Route("/api/v1/events/{event_id}/muster-points", create_muster_point, methods=["POST"]),
    Route("/api/v1/events/{event_id}/muster-points", list_muster_points, methods=["GET"]),
    Route(
        "/api/v1/events/{event_id}/muster-points/{point_id}",
        update_muster_point,
        methods=["PATCH"],
    ),
    Route(
        "/api/v1/events/{event_id}/muster-points/{point_id}",
        delete_muster_point,
        methods=["DELETE"],
    ),
    Route("/api/v1/events/{event_id}/evacuations", start_evacuation, methods=["POST"]),
    Route("/api/v1/events/{event_id}/evacuations", list_evacuations, methods=["GET"]),
    Route("/api/v1/evacuations/{evacuation_id}", read_evacuation, methods=["GET"]),
    Route("/api/v1/evacuations/{evacuation_id}/missing", read_missing, methods=["GET"]),
    Route("/api/v1/evacuations/{evacuation_id}/people", read_people, methods=["GET"]),
    Route("/api/v1/evacuations/{evacuation_id}/people.csv", people_csv, methods=["GET"]),
    Route("/api/v1/evacuations/{evacuation_id}/accounts", record_accounts, methods=["POST"]),
    Route("/api/v1/evacuations/{evacuation_id}/all-clear", all_clear, methods=["POST"]),
    Route("/api/v1/evacuations/{evacuation_id}/report", read_report, methods=["GET"]),
]
