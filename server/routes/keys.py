"""An event's signing keys: list the public halves, rotate."""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from server.auth import ORGANISER, READERS, authorize
from server.context import muster
from server.features.keys import key_store, rotate_event_key
from server.http import json_response, path_int
from server.lookup import event_rows, get_event
from server.models import SigningKey
from server.openapi import answers
from server.responses import JSONResponse
from server.serialize import iso


def key_json(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "public_key": base64.b64encode(key.public_key).decode("ascii"),
        "created_at": iso(key.created_at),
        "activates_at": iso(key.activates_at),
        "retired_at": iso(key.retired_at),
    }


async def list_keys(request: Request) -> JSONResponse:
    """The event's public keys, oldest first (never the private halves)."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, READERS)
    async with muster(request).db.reading() as session:
        keys = await event_rows(session, SigningKey, event_id, SigningKey.kid)
    return json_response({"keys": [key_json(k) for k in keys]})


@answers(201)
async def rotate_keys(request: Request) -> JSONResponse:
    """Add a new signing key; it signs new and re-issued tickets once every
    process and phone has it. Tickets already issued stay valid."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    ctx = muster(request)
    async with ctx.db.writing() as session:
        await get_event(session, event_id)
        key = await rotate_event_key(session, key_store(ctx).kek, event_id)
    key_store(ctx).forget(event_id)
    return json_response(key_json(key), status=201)


routes = [
    Route("/api/v1/events/{event_id}/keys", list_keys, methods=["GET"]),
    Route("/api/v1/events/{event_id}/keys/rotate", rotate_keys, methods=["POST"]),
]
