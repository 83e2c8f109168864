"""Liveness, readiness and metrics for whoever runs Muster."""

from __future__ import annotations

import ipaddress
import logging
import secrets

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from server.auth import bearer_token
from server.context import muster
from server.errors import Forbidden, Unauthorized, unavailable_response
from server.http import json_response
from server.openapi import answers
from server.responses import JSONResponse

log = logging.getLogger("muster")


async def healthz(_request: Request) -> JSONResponse:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


@answers(503)
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


#: Headers a reverse proxy adds: a request that came through one is not
#: local, whatever address the proxy connected from.
FORWARDED_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (the peer's address as uvicorn saw it) is this machine."""
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_metrics_access(request: Request) -> None:
    """Who may read ``/metrics``: the bearer ``MUSTER_METRICS_TOKEN`` when it
    is set (from anywhere: Prometheus sends it as ``authorization``), else
    only a client on loopback that no proxy forwarded.

    The counters name no person, but they show how busy each door is, how
    many phones are connected and where the errors are: worth keeping from
    whoever is on the venue Wi-Fi.
    """
    expected = str(muster(request).settings.metrics_token)
    if expected:
        given = bearer_token(request) or ""
        if not secrets.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("The metrics token (MUSTER_METRICS_TOKEN) is required.")
        return
    client = request.client.host if request.client else None
    forwarded = any(name in request.headers for name in FORWARDED_HEADERS)
    if forwarded or not is_loopback(client):
        raise Forbidden("/metrics answers on loopback only unless MUSTER_METRICS_TOKEN is set.")


async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics in the text exposition format (token or loopback only)."""
    check_metrics_access(request)
    return PlainTextResponse(
        request.app.state.metrics.render(), media_type="text/plain; version=0.0.4"
    )


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
