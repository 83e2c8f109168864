"""The ``evacuation`` state topic on a real server, on SQLite and PostgreSQL: every
phone role gets it; a start, each account and the all-clear arrive as updates."""

from __future__ import annotations

import uuid

from tests.realtime.conftest import Open, Served, make_venue, scan


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
