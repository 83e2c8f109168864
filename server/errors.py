"""The few exceptions the API raises, each with a stable code, and the one
JSON shape every error takes: ``{"error": {"code", "message", "details"}}``.

A rate limit passed is a ``429 rate_limited`` with ``Retry-After`` (the
seconds until its window ends, also in ``details.retry_after``).

A database that cannot be reached is a ``503`` with the code
``database_unavailable`` and ``Retry-After``, whatever route met it and
whichever of the drivers' errors said so (``server.availability``); a
``500 internal_error`` is left for bugs.

``tests/server/test_errors.py`` guards the shape.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import asyncpg
import sqlalchemy.exc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from server.access_log import redact_target
from server.availability import RETRY_AFTER_SECONDS, DependencyHealth, DependencyUnavailable
from server.responses import json_response
from server.security_headers import headers_for

log = logging.getLogger("muster")


class MusterError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Any = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class InvalidRequest(MusterError):
    status = 422
    code = "invalid_request"


class Unauthorized(MusterError):
    status = 401
    code = "unauthorized"


class Forbidden(MusterError):
    status = 403
    code = "forbidden"


class NotFound(MusterError):
    status = 404
    code = "not_found"


class Conflict(MusterError):
    status = 409
    code = "conflict"


class PayloadTooLarge(MusterError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(MusterError):
    """A rate limit was passed (``server.rate_limits``): 429 with ``Retry-After``."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int, *, code: str | None = None) -> None:
        super().__init__(message, {"retry_after": retry_after}, code=code)
        self.retry_after = retry_after


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, *, retry_after: int | None = None
) -> Response:
    headers = None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif status == 503:
        headers = {"Retry-After": str(retry_after or RETRY_AFTER_SECONDS)}
    elif status == 429 and retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
    return json_response(error_body(code, message, details), status=status, headers=headers)


def unavailable_response(health: DependencyHealth) -> Response:
    """The answer while a dependency is away: 503, its code, Retry-After (counted)."""
    health.refused += 1
    return error_response(
        503,
        health.code,
        f"The {health.name} is unavailable; try again shortly.",
        {"retry_after": RETRY_AFTER_SECONDS},
    )


async def handle_muster_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MusterError)
    retry_after = exc.retry_after if isinstance(exc, TooManyRequests) else None
    return error_response(exc.status, exc.code, exc.message, exc.details, retry_after=retry_after)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    path = request.url.path
    log.exception("unhandled error on %s %s", request.method, redact_target(path), exc_info=exc)
    response = error_response(500, "internal_error", "Internal server error")
    # Starlette answers this outside every middleware, SecurityHeaders included.
    response.headers.update(dict(headers_for(path)))
    return response


#: Every kind of error a driver raises when the database cannot be reached.
#: Handled by Starlette's exception middleware, not as a 500 (its error
#: middleware logs, answers and re-raises, and uvicorn then logs a second
#: traceback and drops the client's connection).
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    sqlalchemy.exc.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    sqlite3.Error,
    DependencyUnavailable,
)


def exception_handlers(health: DependencyHealth) -> dict[Any, Any]:
    """The app's handlers: the one error shape for every error; 503 while
    ``health``'s dependency is away."""

    async def handle_driver_error(request: Request, exc: Exception) -> Response:
        if health.absorb(exc):
            return unavailable_response(health)
        return await handle_unexpected(request, exc)

    return {
        MusterError: handle_muster_error,
        HTTPException: handle_http_exception,
        **dict.fromkeys(DRIVER_ERRORS, handle_driver_error),
        Exception: handle_unexpected,
    }
