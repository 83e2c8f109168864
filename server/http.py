"""Small request and response helpers shared by the route modules."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from server.errors import InvalidRequest, NotFound
from server.fields import fits_int
from server.responses import JSONResponse, json_response

__all__ = ["JSONResponse", "json_response", "parse_body", "path_int", "read_json", "validate"]

M = TypeVar("M", bound=BaseModel)


async def read_json(request: Request) -> Any:
    body = await request.body()
    if not body:
        raise InvalidRequest("The request body is empty; JSON expected.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidRequest("The request body does not match the schema.", details) from None


async def parse_body(request: Request, model: type[M]) -> M:
    return validate(model, await read_json(request))


def path_int(request: Request, name: str) -> int:
    """An id from the path; one no database could hold names nothing (404)."""
    raw = request.path_params[name]
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or not fits_int(value):
        raise NotFound(f"No {name.removesuffix('_id')} {raw!r}.")
    return value
