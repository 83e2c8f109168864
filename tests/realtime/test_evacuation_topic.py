"""The ``evacuation`` state topic on a real server, on SQLite and PostgreSQL: every
phone role gets it; a start, each account and the all-clear arrive as updates."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from server.settings import Settings
from tests.realtime.conftest import Open, Served, make_venue, opened, scan, serve
from tests.server.test_scans_sync import item, sync


async def test_start_accounts_and_all_clear_reach_a_staff_phone(
    served: Served, open_socket: Open
) -> None:
    venue = await make_venue(served)
    door = served.api(await served.token("door", venue.event_id, venue.gate_id))
    for ticket in venue.tickets:
        await scan(door, venue, ticket)
    phone = await open_socket(
        venue.event_id, await served.token("staff", venue.event_id), ["evacuation"]
    )
    first = await phone.until(lambda m: m.get("topic") == "evacuation")
    assert first["type"] == "snapshot" and first["data"]["active"] is False

    command = served.api(await served.token("command", venue.event_id))
    started = await command.post(
        f"/api/v1/events/{venue.event_id}/evacuations",
        {"kind": "drill", "message": "演练 drill"},
        expect=201,
    )
    shown = await phone.until(lambda m: m.get("topic") == "evacuation" and m["data"]["active"])
    assert shown["type"] == "update"
    assert shown["data"]["evacuation"]["id"] == started["id"]
    assert shown["data"]["evacuation"]["message"] == "演练 drill"
    assert shown["data"]["evacuation"]["missing"] == 3

    await door.post(
        f"/api/v1/evacuations/{started['id']}/accounts",
        {"nonce": uuid.uuid4().hex, "secret": venue.tickets[0]["secret"]},
        expect=200,
    )
    await phone.until(
        lambda m: (
            m.get("topic") == "evacuation"
            and m["data"]["active"]
            and m["data"]["evacuation"]["accounted"] == 1
        )
    )
    await command.post(f"/api/v1/evacuations/{started['id']}/all-clear", expect=200)
    ended = await phone.until(lambda m: m.get("topic") == "evacuation" and not m["data"]["active"])
    assert ended["data"]["last"]["id"] == started["id"]


async def test_a_late_offline_scan_updates_a_running_roll(realtime_settings: Settings) -> None:
    """A door offline at the alarm syncs its admission afterwards: the topic
    brings the person onto the roll without any account, and without the
    hub's safety-net recompute (set to ten minutes here): the sync says so."""
    quiet = replace(realtime_settings, bus_poll_interval=600.0)
    async with serve(quiet) as served, opened(served) as open_socket:
        await late_scan_joins(served, open_socket)


async def late_scan_joins(served: Served, open_socket: Open) -> None:
    venue = await make_venue(served)
    door = served.api(await served.token("door", venue.event_id, venue.gate_id))
    inside, offline, _never = venue.tickets
    await scan(door, venue, inside)
    before_the_alarm = datetime.now(UTC) - timedelta(seconds=5)
    command = served.api(await served.token("command", venue.event_id))
    await command.post(
        f"/api/v1/events/{venue.event_id}/evacuations", {"kind": "drill"}, expect=201
    )
    phone = await open_socket(
        venue.event_id, await served.token("staff", venue.event_id), ["evacuation"]
    )
    first = await phone.until(lambda m: m.get("topic") == "evacuation")
    assert first["data"]["evacuation"]["total"] == 1
    synced = await sync(
        door,
        venue.event_id,
        [item(offline["secret"], venue.gate_id, uuid.uuid4().hex, before_the_alarm)],
    )
    assert synced["results"][0]["status"] == "ok"
    late = await phone.until(
        lambda m: m.get("topic") == "evacuation" and m["data"]["evacuation"]["total"] == 2
    )
    assert late["data"]["evacuation"]["missing"] == 2


async def test_an_unchanged_roll_is_not_sent_again_at_each_poll(
    served: Served, open_socket: Open
) -> None:
    """The hub recomputes the topic at every poll (``bus_poll_interval``, 0.5 s
    here); a roll nobody touched is the same picture, so the phone gets it
    once: no clock in it ticks (the pages count the time since ``started_at``)."""
    venue = await make_venue(served)
    command = served.api(await served.token("command", venue.event_id))
    door = served.api(await served.token("door", venue.event_id, venue.gate_id))
    await scan(door, venue, venue.tickets[0])
    started = await command.post(
        f"/api/v1/events/{venue.event_id}/evacuations", {"kind": "drill"}, expect=201
    )
    hub = served.hub
    provide = hub.providers["evacuation"]
    computed = asyncio.Condition()
    polls = 0

    async def counted(db: Any, event_id: int) -> Any:
        nonlocal polls
        data = await provide(db, event_id)
        async with computed:
            polls += 1
            computed.notify_all()
        return data

    hub.providers["evacuation"] = counted
    phone = await open_socket(
        venue.event_id, await served.token("staff", venue.event_id), ["evacuation"]
    )
    first = await phone.until(lambda m: m.get("topic") == "evacuation")
    assert first["type"] == "snapshot" and first["data"]["active"] is True
    async with computed:
        seen = polls
        await asyncio.wait_for(computed.wait_for(lambda: polls >= seen + 2), 10)
    # Whatever the two polls sent is queued before the pong.
    await phone.send({"type": "ping", "t": 1})
    await phone.until(lambda m: m.get("type") == "pong")
    assert [m["type"] for m in phone.seen if m.get("topic") == "evacuation"] == ["snapshot"]

    # A change still arrives.
    await door.post(
        f"/api/v1/evacuations/{started['id']}/accounts",
        {"nonce": uuid.uuid4().hex, "secret": venue.tickets[0]["secret"]},
        expect=200,
    )
    changed = await phone.until(lambda m: m.get("topic") == "evacuation")
    assert changed["type"] == "update" and changed["data"]["evacuation"]["accounted"] == 1
