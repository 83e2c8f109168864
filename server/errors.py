"""The few exceptions the API raises, each with a stable code, and the one
JSON shape every error takes: ``{"error": {"code", "message", "details"}}``.

``tests/server/test_errors.py`` guards the shape.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from server.responses import json_response

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


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return json_response(error_body(code, message, details), status=status, headers=headers)


async def handle_muster_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MusterError)
    return error_response(exc.status, exc.code, exc.message, exc.details)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "Internal server error")


EXCEPTION_HANDLERS = {
    MusterError: handle_muster_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
