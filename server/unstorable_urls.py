"""Refusing a URL that holds a NUL byte, before any route reads it.

Bodies are screened where they are parsed (``server.http``); a URL's query
and path reach routes as text, and a route that looks one up (an incident
``category``, a ticket search, a page's secret) would hand PostgreSQL a NUL
byte it cannot hold: a 500 (found by schemathesis on
``GET …/incidents?category=%00``). Refused here once, for every route: a
query parameter with a NUL is ``422 unstorable_value`` naming it, a path
with one names nothing (404).
"""

from __future__ import annotations

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import error_response
from server.fields import storable


class UnstorableUrls:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = _refusal(scope)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _refusal(scope: Scope) -> ASGIApp | None:
    if not storable(scope.get("path", "")):
        return error_response(404, "not_found", "No such path.")
    for name, value in QueryParams(scope.get("query_string", b"")).multi_items():
        if not (storable(name) and storable(value)):
            return error_response(
                422,
                "unstorable_value",
                "A query parameter holds a NUL byte.",
                {"field": name.replace("\x00", "")[:64]},
            )
    return None
