"""Stock items and the movement ledger.

The organiser manages items (names, places, thresholds); organiser, command
and floor staff record movements; door phones do neither.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from server.auth import OPERATORS, ORGANISER, authorize
from server.context import muster
from server.errors import InvalidRequest
from server.features import stock
from server.fields import fits_int
from server.http import json_response, parse_body, path_int
from server.openapi import WHOLE, accepts, answers, reads
from server.responses import JSONResponse


def _changed(request: Request, event_id: int, alerted: bool) -> None:
    topics = ("stock", "alerts") if alerted else ("stock",)
    muster(request).changed(event_id, *topics)


@accepts(stock.ItemIn)
@answers(201, 409)
async def create_stock_item(request: Request) -> JSONResponse:
    """Add a stock item (its opening quantity enters the ledger)."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, stock.ItemIn)
    item, alerted = await stock.create_item(muster(request).db, event_id, body, principal)
    _changed(request, event_id, alerted)
    return json_response(item, status=201)


async def list_stock_items(request: Request) -> JSONResponse:
    """Every stock item of the event with its quantity and level."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, OPERATORS)
    return json_response({"items": await stock.list_items(muster(request).db, event_id)})


async def read_stock_item(request: Request) -> JSONResponse:
    """One stock item."""
    event_id, item_id = path_int(request, "event_id"), path_int(request, "item_id")
    await authorize(request, event_id, OPERATORS)
    return json_response(await stock.read_item(muster(request).db, event_id, item_id))


@accepts(stock.ItemPatch)
@answers(409)
async def update_stock_item(request: Request) -> JSONResponse:
    """Rename, move or change the thresholds of a stock item."""
    event_id, item_id = path_int(request, "event_id"), path_int(request, "item_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, stock.ItemPatch)
    item, alerted = await stock.update_item(muster(request).db, event_id, item_id, body)
    _changed(request, event_id, alerted)
    return json_response(item)


@accepts(stock.MovementIn)
@answers(200, 201, 409)
async def create_stock_movement(request: Request) -> JSONResponse:
    """Record an issue, receive, adjust or transfer; a repeated nonce changes nothing."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, OPERATORS)
    body = await parse_body(request, stock.MovementIn)
    result = await stock.record_movement(muster(request).db, event_id, body, principal)
    if not result.repeated:
        _changed(request, event_id, result.alerted)
    return json_response(result.response, status=200 if result.repeated else 201)


def _int_param(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not fits_int(value):
        # Past 64 bits no column could compare with it: a 500, not an answer.
        raise InvalidRequest(f"{name} must be a whole number within 64 bits.", {name: raw[:32]})
    return value


@answers(422)
@reads(item=WHOLE, before=WHOLE, limit=WHOLE)
async def list_stock_movements(request: Request) -> JSONResponse:
    """The ledger, newest first (``item``, ``before`` and ``limit`` narrow it)."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, OPERATORS)
    limit = min(max(_int_param(request, "limit", 100) or 1, 1), 1000)
    movements = await stock.list_movements(
        muster(request).db,
        event_id,
        item_id=_int_param(request, "item", None),
        before=_int_param(request, "before", None),
        limit=limit,
    )
    return json_response({"movements": movements})


routes = [
    Route("/api/v1/events/{event_id}/stock/items", create_stock_item, methods=["POST"]),
    Route("/api/v1/events/{event_id}/stock/items", list_stock_items, methods=["GET"]),
    Route("/api/v1/events/{event_id}/stock/items/{item_id}", read_stock_item, methods=["GET"]),
    Route("/api/v1/events/{event_id}/stock/items/{item_id}", update_stock_item, methods=["PATCH"]),
    Route("/api/v1/events/{event_id}/stock/movements", create_stock_movement, methods=["POST"]),
    Route("/api/v1/events/{event_id}/stock/movements", list_stock_movements, methods=["GET"]),
]
