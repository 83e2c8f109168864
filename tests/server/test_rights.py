"""Tokens, roles and events: the cases around the role table.

Every operation's 401 and 403 — no token, another event's token, each role
the table leaves out — is tests/server/test_role_table.py, which walks
/openapi.json against server/features/rights.py. Here: a bound organiser, revoked and
unknown tokens, the token cache, and the router's order.
"""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from server.app import api_routes
from tests.conftest import event_body


async def test_staff_cannot_look_up_tickets_but_door_can(api_as, event, ticket):
    staff = await api_as("staff", event["id"])
    door = await api_as("door", event["id"])
    url = f"/api/v1/events/{event['id']}/tickets?q=王"
    assert (await staff.get(url, expect=403))["error"]["code"] == "forbidden"
    assert len((await door.get(url))["tickets"]) == 1


async def test_bound_organiser_cannot_create_events_or_see_others(organiser, api_as, event):
    bound = await api_as("organiser", event["id"])
    await bound.post("/api/v1/events", event_body(), expect=403)
    other = await organiser.post("/api/v1/events", event_body(name="Other"), expect=201)
    listed = await bound.get("/api/v1/events")
    assert [e["id"] for e in listed["events"]] == [event["id"]]
    await bound.get(f"/api/v1/events/{other['id']}", expect=403)


async def test_revoked_or_unknown_token(client, ctx, organiser):
    from sqlalchemy import update

    from server.models import Account, utcnow

    await organiser.get("/api/v1/events")
    async with ctx.db.writing() as session:
        await session.execute(update(Account).values(revoked_at=utcnow()))
    ctx.tokens.forget()
    assert (await organiser.get("/api/v1/events", expect=401))["error"]["code"] == "unauthorized"
    bad = await client.get("/api/v1/events", headers={"Authorization": "Bearer mst_nope"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_tokens_requests_in_flight_share_one_lookup(ctx, organiser, monkeypatch):
    """When a cached token expires, a door's requests in flight wait for one
    query instead of each taking a database connection for its own."""
    import asyncio

    token = organiser.token
    ctx.tokens.forget()
    load = ctx.tokens._load
    loads = 0

    async def counted(digest):
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return await load(digest)

    monkeypatch.setattr(ctx.tokens, "_load", counted)
    principals = await asyncio.gather(*(ctx.tokens.verify(token) for _ in range(50)))
    assert loads == 1
    assert len({p.account_id for p in principals}) == 1 and principals[0].role == "organiser"
    assert await ctx.tokens.verify("mst_nope") is None
    assert loads == 2


@pytest.mark.parametrize("fillers", [("1", "abc"), ("sync", "annul"), ("x.csv", "1")])
def test_route_order_does_not_decide_which_route_answers(fillers):
    """The router tries routes in order and the scans come first (server.app):
    that is harmless only while no path of one route is also a path of
    another with the same method."""
    from starlette.routing import Match

    routes = [r for r in api_routes() if isinstance(r, Route)]
    for route in routes:
        for method in sorted((route.methods or set()) - {"HEAD"}):
            params = re.findall(r"{(\w+)}", route.path)
            for filler in fillers:
                path = route.path
                for name in params:
                    path = path.replace("{" + name + "}", filler)
                scope = {"type": "http", "method": method, "path": path, "root_path": ""}
                takers = [r.path for r in routes if r.matches(scope)[0] == Match.FULL]
                assert takers == [route.path], (method, path, takers)
