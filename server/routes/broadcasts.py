"""Broadcasts over HTTP: send to an audience, read the receipts, acknowledge, re-send;
and plans confirmed by the roster member holding a phone.

Rights (``server/features/rights.py``): command and organiser send, read the
receipts and re-send; every phone lists the broadcasts that reach it and
acknowledges them (one outside a broadcast's audience is refused,
``not_in_audience``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from server.auth import EVERYONE, READERS, Principal, authenticate, authorize, check_rights
from server.context import muster
from server.features import broadcasts
from server.http import json_response, parse_body, path_int
from server.openapi import accepts, answers
from server.responses import JSONResponse


@accepts(broadcasts.BroadcastIn)
@answers(201)
async def send_broadcast(request: Request) -> JSONResponse:
    """Send a broadcast (text in zh and/or en) to everyone, roles, teams, zones or people."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, READERS)
    body = await parse_body(request, broadcasts.BroadcastIn)
    ctx = muster(request)
    answer = await broadcasts.send(ctx.db, event_id, principal, body)
    ctx.changed(event_id, broadcasts.TOPIC)
    return json_response(answer, status=201)


async def list_broadcasts(request: Request) -> JSONResponse:
    """The event's broadcasts: all with counts for command; a phone's own, with its receipt."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, EVERYONE)
    found = await broadcasts.list_for(muster(request).db, event_id, principal)
    return json_response({"broadcasts": found})


async def _broadcast_event(
    request: Request, roles: frozenset[str] | set[str]
) -> tuple[int, int, Principal]:
    """(broadcast id, event id, caller) after checking rights (the token before the id)."""
    principal = await authenticate(request)
    broadcast_id = path_int(request, "broadcast_id")
    event_id = await broadcasts.event_of(muster(request).db, broadcast_id)
    check_rights(principal, event_id, roles)
    return broadcast_id, event_id, principal


async def read_broadcast(request: Request) -> JSONResponse:
    """One broadcast with its receipts: who has and has not acknowledged, by person and team."""
    broadcast_id, _event_id, _caller = await _broadcast_event(request, READERS)
    return json_response(await broadcasts.receipts(muster(request).db, broadcast_id))


@accepts(broadcasts.AckIn)
async def acknowledge_broadcast(request: Request) -> JSONResponse:
    """This phone has read the broadcast (with a nonce; the first answer again when repeated)."""
    broadcast_id, event_id, principal = await _broadcast_event(request, EVERYONE)
    body = await parse_body(request, broadcasts.AckIn)
    ctx = muster(request)
    answer = await broadcasts.acknowledge(ctx.db, broadcast_id, principal, body)
    if answer["first"]:
        ctx.changed(event_id, broadcasts.TOPIC)
    return json_response(answer)


@answers(409)
async def resend_broadcast(request: Request) -> JSONResponse:
    """Send the broadcast again to the phones of its audience that have not acknowledged."""
    broadcast_id, event_id, _caller = await _broadcast_event(request, READERS)
    ctx = muster(request)
    answer = await broadcasts.resend(ctx.db, broadcast_id)
    ctx.changed(event_id, broadcasts.TOPIC)
    return json_response(answer)


@answers(409)
async def acknowledge_plan(request: Request) -> JSONResponse:
    """The roster member holding this phone has read the emergency plan."""
    principal = await authenticate(request)
    plan_id = path_int(request, "plan_id")
    db = muster(request).db
    check_rights(principal, await broadcasts.plan_event(db, plan_id), EVERYONE)
    return json_response(await broadcasts.acknowledge_plan(db, plan_id, principal))


routes = [
    Route("/api/v1/events/{event_id}/broadcasts", send_broadcast, methods=["POST"]),
    Route("/api/v1/events/{event_id}/broadcasts", list_broadcasts, methods=["GET"]),
    Route("/api/v1/broadcasts/{broadcast_id}", read_broadcast, methods=["GET"]),
    Route("/api/v1/broadcasts/{broadcast_id}/ack", acknowledge_broadcast, methods=["POST"]),
    Route("/api/v1/broadcasts/{broadcast_id}/resend", resend_broadcast, methods=["POST"]),
    Route("/api/v1/plans/{plan_id}/ack", acknowledge_plan, methods=["POST"]),
]
