"""Liveness, readiness and metrics for whoever runs Muster."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from server.context import muster
from server.errors import error_response
from server.http import json_response
from server.responses import JSONResponse


async def healthz(_request: Request) -> JSONResponse:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers."""
    try:
        await muster(request).db.ping()
    except Exception as exc:
        response = error_response(
            503, "database_unavailable", f"The database is unreachable: {exc}"
        )
        assert isinstance(response, JSONResponse)
        return response
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
