"""GET /api/v1/events/{e}/alerts and POST …/alerts/{id}/ack, on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from server.context import Muster
from server.features.alerts import raise_alert
from server.models import BusMessage
from tests.conftest import Api


async def add_alert(ctx: Muster, event_id: int, cause: str) -> int:
    async with ctx.db.writing() as session:
        alert = await raise_alert(
            session, event_id, "zone_near_full", data={"name": cause}, dedupe_key=cause
        )
        assert alert is not None
        return alert.id


async def ack_messages(ctx: Muster, event_id: int) -> list[dict[str, Any]]:
    async with ctx.db.reading() as session:
        rows = await session.scalars(
            select(BusMessage.payload)
            .where(BusMessage.event_id == event_id, BusMessage.topic == "alerts")
            .order_by(BusMessage.id)
        )
        return [p for p in rows if p["action"] == "acknowledged"]


async def test_list_and_acknowledge(
    ctx: Muster, organiser: Api, api_as: Any, event: dict[str, Any]
) -> None:
    eid = event["id"]
    first = await add_alert(ctx, eid, "Hall A near full")
    second = await add_alert(ctx, eid, "Hall B near full")
    command = await api_as("command", eid)

    listed = await command.get(f"/api/v1/events/{eid}/alerts?open=true")
    assert [a["id"] for a in listed["alerts"]] == [second, first]

    acked = await command.post(f"/api/v1/events/{eid}/alerts/{first}/ack", expect=200)
    assert acked["acknowledged_at"] is not None and acked["id"] == first
    again = await command.post(f"/api/v1/events/{eid}/alerts/{first}/ack", expect=200)
    assert again["acknowledged_at"] == acked["acknowledged_at"]
    [message] = await ack_messages(ctx, eid)
    assert message["alert"]["id"] == first

    still_open = await organiser.get(f"/api/v1/events/{eid}/alerts?open=true")
    assert [a["id"] for a in still_open["alerts"]] == [second]
    closed = await organiser.get(f"/api/v1/events/{eid}/alerts?open=false")
    assert [a["id"] for a in closed["alerts"]] == [first]
    everything = await organiser.get(f"/api/v1/events/{eid}/alerts")
    assert len(everything["alerts"]) == 2

    # Acknowledged, the same cause may raise a new alert.
    assert await add_alert(ctx, eid, "Hall A near full") > second


async def test_rights_and_bad_requests(
    ctx: Muster, organiser: Api, api_as: Any, event: dict[str, Any]
) -> None:
    eid = event["id"]
    alert = await add_alert(ctx, eid, "conflict at North door")
    door = await api_as("door", eid)
    staff = await api_as("staff", eid)
    assert len((await door.get(f"/api/v1/events/{eid}/alerts"))["alerts"]) == 1
    for who in (door, staff):
        refused = await who.post(f"/api/v1/events/{eid}/alerts/{alert}/ack", expect=403)
        assert refused["error"]["code"] == "forbidden"
    other = await organiser.post(
        "/api/v1/events",
        {"name": "Other", "starts_at": event["starts_at"], "ends_at": event["ends_at"]},
        expect=201,
    )
    elsewhere = await api_as("command", other["id"])
    await elsewhere.post(f"/api/v1/events/{eid}/alerts/{alert}/ack", expect=403)
    # An alert of another event is not found through this one.
    missing = await organiser.post(f"/api/v1/events/{other['id']}/alerts/{alert}/ack", expect=404)
    assert missing["error"]["code"] == "not_found"
    bad = await organiser.get(f"/api/v1/events/{eid}/alerts?open=maybe", expect=422)
    assert bad["error"]["code"] == "invalid_request"
    await organiser.get("/api/v1/events/999999/alerts", expect=404)
    async with ctx.db.reading() as session:
        count = await session.scalar(select(func.count()).select_from(BusMessage))
    assert count == 1  # only the raise; refusals published nothing


async def test_screens_acknowledging_at_once_publish_one_message(
    ctx: Muster, api_as: Any, event: dict[str, Any]
) -> None:
    eid = event["id"]
    alert = await add_alert(ctx, eid, "zone full")
    screens = [await api_as("command", eid) for _ in range(8)]
    answers = await asyncio.gather(
        *(s.post(f"/api/v1/events/{eid}/alerts/{alert}/ack", expect=200) for s in screens)
    )
    assert len({a["acknowledged_by"] for a in answers}) == 1
    assert len(await ack_messages(ctx, eid)) == 1
