"""Small request and response helpers shared by the route modules."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from server.context import muster
from server.errors import InvalidRequest, NotFound, PayloadTooLarge
from server.fields import fits_int, storable
from server.responses import JSONResponse, json_response

__all__ = [
    "JSONResponse",
    "json_response",
    "parse_body",
    "path_int",
    "read_json",
    "read_limited",
    "validate",
]

M = TypeVar("M", bound=BaseModel)


async def read_limited(request: Request, limit: int, code: str = "payload_too_large") -> bytes:
    """The body, refused with 413 (``code``) as soon as it passes ``limit`` bytes:
    by its declared length before reading, else while it streams in, so a
    100 MB body costs no more memory than ``limit``."""
    too_large = PayloadTooLarge(
        f"The request body is over {limit} bytes.", {"max_bytes": limit}, code=code
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(
    request: Request,
    *,
    optional: bool = False,
    max_bytes: int | None = None,
    screen_unstorable: bool = True,
) -> Any:
    """The JSON body, at most ``max_bytes`` (default ``MUSTER_JSON_MAX_BYTES``);
    with ``optional`` an empty body is ``{}``. ``screen_unstorable=False`` is for
    the scan routes only: a scan holding a NUL byte is that scan's ``invalid``
    answer (``server.fields``), never a 422 that would refuse the good scans
    of its batch."""
    limit = max_bytes if max_bytes is not None else muster(request).settings.json_max_bytes
    body = await read_limited(request, limit)
    if not body:
        if optional:
            return {}
        raise InvalidRequest("The request body is empty; JSON expected.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise InvalidRequest(
            f"The request body nests deeper than {MAX_JSON_DEPTH} levels.",
            {"max_depth": MAX_JSON_DEPTH},
            code="json_too_deep",
        )
    unstorable = first_unstorable(data) if screen_unstorable else None
    if unstorable is not None:
        raise InvalidRequest(
            "The request body holds a text with a NUL byte or a number past 64 bits.",
            {"field": unstorable},
            code="unstorable_value",
        )
    return data


#: The deepest JSON a body may nest. Stored JSON (an event's ``options``) is
#: written back out by orjson, which refuses more than 254 levels: a deeper
#: value accepted once would make every listing that holds it a 500.
MAX_JSON_DEPTH = 32


def first_unstorable(value: Any) -> str | None:
    """The path of the first text with a NUL byte or integer past 64 bits in
    ``value``, which no column of either database could hold (``server.fields``),
    or None. Checked once for every JSON body, whatever its model says."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not storable(item):
                return path
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not fits_int(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if not storable(key):
                    return path
                stack.append((child, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            stack.extend((child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(item))
    return None


def json_depth(value: Any) -> int:
    """How deep ``value`` nests (a scalar is 0, ``[]`` is 1); iterative, so a
    deep value cannot exhaust the stack."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _params(ctx: dict[str, Any] | None) -> dict[str, Any]:
    """The plain values of a validation error's context (``max_length``, ``ge``…)."""
    return {
        k: v
        for k, v in (ctx or {}).items()
        if isinstance(v, str | int | float | bool) and not isinstance(v, Exception)
    }


def validate(model: type[M], data: Any) -> M:
    """``data`` as ``model``; a mismatch is ``invalid_request`` with a line per field:
    ``{"field", "code", "params", "message"}`` — ``code`` is pydantic's error
    type (``missing``, ``string_too_long``…) or our own (``unknown_timezone``),
    which pages word from ``params``; ``message`` is English, for developers."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {
                "field": ".".join(str(p) for p in err["loc"]),
                "code": err["type"],
                "params": _params(err.get("ctx")),
                "message": err["msg"],
            }
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidRequest("The request body does not match the schema.", details) from None


async def parse_body(
    request: Request,
    model: type[M],
    *,
    max_bytes: int | None = None,
    screen_unstorable: bool = True,
) -> M:
    body = await read_json(request, max_bytes=max_bytes, screen_unstorable=screen_unstorable)
    return validate(model, body)


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
