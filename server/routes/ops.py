"""Liveness, readiness and metrics for whoever runs Muster."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from server.context import muster
from server.errors import unavailable_response
from server.http import json_response
from server.responses import JSONResponse

log = logging.getLogger("muster")


async def healthz(_request: Request) -> JSONResponse:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the database answers (else 503 ``database_unavailable``, no driver text)."""
    db = muster(request).db
    try:
        await db.ping()
    except Exception as exc:
        if not db.health.absorb(exc):
            log.exception("readiness check failed", exc_info=exc)
        return unavailable_response(db.health)
    db.health.recovered()
    return json_response({"status": "ok", "database": "ok"})


async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics in the text exposition format."""
    return PlainTextResponse(
        request.app.state.metrics.render(), media_type="text/plain; version=0.0.4"
    )


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
