"""The Starlette application factory."""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from checkin import topics as checkin_topics
from realtime import snapshots
from realtime import ws as realtime_ws
from realtime.hub import HUB, Hub, run_hub
from realtime.topics import Provider
from server import __version__
from server.access_log import redact_access_logs
from server.auth import TokenVerifier
from server.context import Muster
from server.db import Database
from server.errors import exception_handlers
from server.features.alerts import alerts_snapshot
from server.features.broadcasts import broadcasts_snapshot
from server.features.escalation import escalation_clock
from server.features.evacuations import evacuation_snapshot
from server.features.gates import gates_snapshot
from server.features.headcount import headcount_snapshot
from server.features.incidents import incidents_snapshot
from server.features.keys import KEYS, KeyStore
from server.features.mail_sender import mail_sender
from server.features.retention import retention_clock
from server.features.scan_tally import ScanTallies
from server.features.stock import stock_snapshot
from server.features.tasks import task_clock, tasks_snapshot
from server.http import json_response
from server.key_sealing import adopt, load_key_encryption_key
from server.metrics import MetricsMiddleware, Registry
from server.migrate import upgrade
from server.openapi import build_openapi
from server.responses import JSONResponse
from server.routes import alerts as alert_routes
from server.routes import broadcasts as broadcast_routes
from server.routes import devices, keys, ops, report, scans, tickets, venue
from server.routes import evacuations as evacuation_routes
from server.routes import incidents as incident_routes
from server.routes import mailings as mailing_routes
from server.routes import plans as plan_routes
from server.routes import retention as retention_routes
from server.routes import staff as staff_routes
from server.routes import stock as stock_routes
from server.routes import tasks as task_routes
from server.routes import tokens as token_routes
from server.routes import walk_ins as walk_in_routes
from server.security_headers import SecurityHeaders
from server.settings import Settings, load_settings
from server.unstorable_urls import UnstorableUrls

log = logging.getLogger("muster")

VERSION = __version__

#: Long-lived parts started with the app and stopped with it (the realtime
#: hub, the escalation clock…): each is called with the context and returns
#: an async context manager that runs for the app's lifetime.
Part = Callable[[Muster], AbstractAsyncContextManager[Any]]

#: Where each realtime topic's snapshot comes from (``realtime.topics``),
#: handed to the hub: the one place that names them.
TOPIC_PROVIDERS: dict[str, Provider] = {
    "headcount": headcount_snapshot,
    "gates": gates_snapshot,
    "stock": stock_snapshot,
    "evacuation": evacuation_snapshot,
    "incidents": incidents_snapshot,
    "alerts": alerts_snapshot,
    "admissions": checkin_topics.admissions_snapshot,
    "revocations": snapshots.revocations_snapshot,
    "broadcasts": broadcasts_snapshot,
    "tasks": tasks_snapshot,
    "annulments": checkin_topics.annulments_snapshot,
}


def run_realtime(ctx: Muster) -> AbstractAsyncContextManager[Hub]:
    """The realtime hub, given every topic's provider; the headcount and the
    gates read the scan log's sums the hub keeps (``server.features.scan_tally``)."""
    tallies = ScanTallies()
    providers: dict[str, Provider] = {
        **TOPIC_PROVIDERS,
        "headcount": functools.partial(headcount_snapshot, tallies=tallies),
        "gates": functools.partial(gates_snapshot, tallies=tallies),
    }
    return run_hub(ctx, providers, tallies)


PARTS: list[Part] = [run_realtime, escalation_clock, task_clock, mail_sender, retention_clock]


def api_routes() -> list[BaseRoute]:
    # The router tries routes in order (~1 µs each): the door scans, most of
    # all requests in a rush, come first. No two routes match the same path.
    return [
        *scans.routes,
        *venue.routes,
        *keys.routes,
        *tickets.routes,
        *mailing_routes.routes,
        *walk_in_routes.routes,
        *devices.routes,
        *staff_routes.routes,
        *token_routes.routes,
        *stock_routes.routes,
        *incident_routes.routes,
        *plan_routes.routes,
        *broadcast_routes.routes,
        *task_routes.routes,
        *evacuation_routes.routes,
        *report.routes,
        *retention_routes.routes,
        *alert_routes.routes,
        *realtime_ws.routes,
        *ops.routes,
    ]


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> Starlette:
    settings = settings or load_settings()
    db = Database(str(settings.database_url))
    kek = load_key_encryption_key(settings)
    ctx = Muster(
        settings=settings,
        db=db,
        tokens=TokenVerifier(db, settings.token_cache_seconds),
    )
    ctx.keep(KEYS, KeyStore(db, kek))
    routes = api_routes()

    async def openapi(_request: Request) -> JSONResponse:
        return json_response(build_openapi(routes, VERSION))

    all_routes: list[BaseRoute] = [*routes, Route("/openapi.json", openapi, methods=["GET"])]
    if settings.pwa_dir.is_dir():
        all_routes.append(
            Mount("/", StaticFiles(directory=settings.pwa_dir, html=True), name="pwa")
        )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if migrate:
            await upgrade(str(settings.database_url))
        # This KEK is the database's (or the process stops here), and keys
        # stored in plain before sealing existed are sealed now.
        await adopt(db, kek)
        async with contextlib.AsyncExitStack() as stack:
            for part in PARTS:
                await stack.enter_async_context(part(ctx))
            yield
        await db.dispose()

    registry = Registry()
    registry.gauge(
        "muster_ws_connections",
        lambda: len(getattr(ctx.part(HUB), "connections", ())),
        "realtime websockets subscribed on this process",
    )
    app = MusterApp(
        routes=all_routes, exception_handlers=exception_handlers(db.health), lifespan=lifespan
    )
    app.state.muster = ctx
    app.state.metrics = registry
    app.add_middleware(UnstorableUrls)
    app.add_middleware(MetricsMiddleware, registry=registry)
    # Added last, so outermost: error answers and 404s get the headers too.
    app.add_middleware(SecurityHeaders)
    return app


#: Seconds a stopping server gives its requests in flight, then cancels them.
SHUTDOWN_GRACE = 30

#: Seconds a stopping server waits for its websockets' close frames to go out.
GOODBYE_WAIT = 2.0


class MusterApp(Starlette):
    """Starlette, with the realtime websockets taken straight to their handler.

    A websocket sits in the app for its whole life, and every layer it passes
    through keeps a coroutine frame (the error and exception middleware, our
    three HTTP middlewares, the router, the route, the session wrappers): ~5
    KB a socket, measured with tracemalloc, at 10,000 screens 50 MB
    (``bench.fanout``). None of those layers does anything for a websocket
    (ours pass it through; an exception in the handler ends the socket
    either way), so ``/ws/events/{event_id}`` skips them. The route stays in
    the table for everything else that reads it.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            params = realtime_ws.realtime_path_params(scope)
            if params is not None:
                scope["app"] = self
                scope["path_params"] = params
                await realtime_ws.realtime_socket(WebSocket(scope, receive, send))
                return
        await super().__call__(scope, receive, send)


class GoingAwayServer(uvicorn.Server):
    """uvicorn's server, closing the realtime sockets with 1001 when it stops.

    On SIGTERM (or SIGINT) uvicorn stops accepting connections, closes every
    connection it holds (websockets with 1012, "service restart"), waits
    for the requests in flight (``SHUTDOWN_GRACE`` at most), stops the app
    (the hub, the background loops, the pools) and ends the process by the
    same signal, which process managers take as a clean stop. The README
    promises 1001 ("going away"), the code every client library knows: this
    stops accepting, has the hub close every socket with 1001, then lets
    uvicorn do the rest (those sockets are closed by then).
    """

    def __init__(self, config: uvicorn.Config, ctx: Muster) -> None:
        super().__init__(config)
        self.ctx = ctx
        # uvicorn.Config has set its loggers up by now: hide what the access
        # log would otherwise keep (ticket secrets, search terms, pairing codes).
        redact_access_logs()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listening in getattr(self, "servers", []):
            listening.close()
        hub = self.ctx.part(HUB)
        if hub is not None:
            await hub.say_goodbye(GOODBYE_WAIT)
        await super().shutdown(sockets)
