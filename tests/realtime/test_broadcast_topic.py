"""The ``broadcasts`` topic on a real server and real sockets, on SQLite and
PostgreSQL: each phone gets exactly the broadcasts whose audience includes it,
live and in a replay after a reconnect; command screens get every one and
every acknowledgement."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from tests.realtime.conftest import WAIT, Client, Open, Served
from tests.server.broadcast_world import ack, make_floor, urgent

PHONES = ("李娜", "王强", "Tom", "spare")


def is_broadcast(kind: str, broadcast_id: int | None = None) -> Any:
    def check(m: dict[str, Any]) -> bool:
        if m.get("topic") != "broadcasts" or m["type"] != "update" or m["data"]["kind"] != kind:
            return False
        return broadcast_id is None or m["data"]["broadcast"]["id"] == broadcast_id

    return check


def broadcast_ids(client: Client) -> list[int]:
    return [
        m["data"]["broadcast"]["id"]
        for m in client.seen
        if m.get("topic") == "broadcasts" and m["type"] == "update" and "broadcast" in m["data"]
    ]


async def read_into_the_hub(served: Served, event_id: int, broadcast_id: int) -> None:
    """Until the hub's history of the event's ``broadcasts`` holds the broadcast.

    The table reader reads new rows beside the requests: a committed
    broadcast is in the table (and in any snapshot read from it) before it is
    in the history a replay is planned from; a phone resuming in between gets
    it live after its replay, not in it.
    """
    deadline = asyncio.get_running_loop().time() + WAIT
    while asyncio.get_running_loop().time() < deadline:
        history = served.hub.histories.get((event_id, "broadcasts"))
        for _offset, text in history.items() if history is not None else []:
            data = orjson.loads(text)["data"]
            if data["kind"] == "broadcast" and data["broadcast"]["id"] == broadcast_id:
                return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"broadcast {broadcast_id} not read into the hub")


async def test_each_phone_gets_exactly_its_audience(served: Served, open_socket: Open) -> None:
    organiser = served.api(await served.token("organiser"))
    floor = await make_floor(served.http, organiser)
    e = floor.event_id
    command_token = await served.token("command", e)
    command = served.api(command_token)
    sockets = {n: await open_socket(e, floor.phones[n].token, ["broadcasts"]) for n in PHONES}
    screen = await open_socket(e, command_token, ["broadcasts"])
    for client in (*sockets.values(), screen):
        snapshot = await client.until(lambda m: m.get("topic") == "broadcasts")
        assert snapshot["type"] == "snapshot"

    some = await command.post(
        floor.url(), urgent({"teams": ["security"], "zones": [floor.hall_b]}), expect=201
    )
    person = await command.post(
        floor.url(), urgent({"people": [floor.members["Tom"]["id"]]}), expect=201
    )
    # The last one reaches everyone: once a socket has it, it has had all it will get.
    last = await command.post(floor.url(), urgent({"everyone": True}), expect=201)
    for client in (*sockets.values(), screen):
        await client.until(is_broadcast("broadcast", last["id"]))
    assert broadcast_ids(sockets["李娜"]) == [some["id"], last["id"]]
    assert broadcast_ids(sockets["王强"]) == [some["id"], last["id"]]
    assert broadcast_ids(sockets["Tom"]) == [person["id"], last["id"]]
    assert broadcast_ids(sockets["spare"]) == [last["id"]]
    assert broadcast_ids(screen) == [some["id"], person["id"], last["id"]]

    # An acknowledgement reaches the screens, no phone.
    await ack(floor.phones["王强"], some["id"])
    shown = await screen.until(is_broadcast("ack"))
    assert shown["data"]["ack"]["staff"] == floor.members["王强"]["id"]
    again = await command.post(f"/api/v1/broadcasts/{some['id']}/resend", expect=200)
    assert again["resent_to"] == 1
    await screen.until(is_broadcast("resend", some["id"]))
    marker = await command.post(floor.url(), urgent({"everyone": True}), expect=201)
    for client in sockets.values():
        await client.until(is_broadcast("broadcast", marker["id"]))
    resent = {n for n, c in sockets.items() if any(is_broadcast("resend")(m) for m in c.seen)}
    assert resent == {"李娜"}
    assert not any(is_broadcast("ack")(m) for c in sockets.values() for m in c.seen)


async def test_a_reconnecting_phone_is_replayed_only_its_audience(
    served: Served, open_socket: Open
) -> None:
    organiser = served.api(await served.token("organiser"))
    floor = await make_floor(served.http, organiser)
    e = floor.event_id
    command = served.api(await served.token("command", e))
    tom = await open_socket(e, floor.phones["Tom"].token, ["broadcasts"])
    snapshot = await tom.until(lambda m: m.get("topic") == "broadcasts")
    await tom.ws.close()  # Tom's phone goes offline

    security = await command.post(floor.url(), urgent({"teams": ["security"]}), expect=201)
    await ack(floor.phones["李娜"], security["id"])
    everyone = await command.post(floor.url(), urgent({"everyone": True}), expect=201)
    await read_into_the_hub(served, e, everyone["id"])
    since = {"broadcasts": {"epoch": snapshot["epoch"], "offset": snapshot["offset"]}}
    back = await open_socket(e, floor.phones["Tom"].token, ["broadcasts"], since=since)
    resume = await back.until(lambda m: m.get("topic") == "broadcasts")
    # Three messages since (the security one, 李娜's acknowledgement, the
    # everyone one): Tom's replay has one.
    assert (resume["type"], resume["count"]) == ("resume", 1)
    replayed = await back.until(is_broadcast("broadcast"))
    assert replayed["data"]["broadcast"]["id"] == everyone["id"]
    listed = (await floor.phones["Tom"].get(floor.url()))["broadcasts"]
    assert [b["id"] for b in listed] == [everyone["id"]]
