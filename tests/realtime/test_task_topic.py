"""The ``tasks`` topic on a real server and real sockets, on SQLite and PostgreSQL:
each phone gets exactly the tasks of the person holding it and of their team,
live and in a replay after a reconnect; command screens get every one."""

from __future__ import annotations

import uuid
from typing import Any

from tests.realtime.conftest import Client, Open, Served
from tests.server.broadcast_world import make_floor

PHONES = ("李娜", "王强", "Tom", "spare")


def is_task(task_id: int | None = None) -> Any:
    def check(m: dict[str, Any]) -> bool:
        if m.get("topic") != "tasks" or m["type"] != "update":
            return False
        return task_id is None or m["data"]["task"]["id"] == task_id

    return check


def task_ids(client: Client) -> list[int]:
    return [m["data"]["task"]["id"] for m in client.seen if is_task()(m)]


async def test_each_phone_gets_its_persons_and_teams_tasks(
    served: Served, open_socket: Open
) -> None:
    organiser = served.api(await served.token("organiser"))
    floor = await make_floor(served.http, organiser)
    e = floor.event_id
    command_token = await served.token("command", e)
    command = served.api(command_token)
    url = f"/api/v1/events/{e}/tasks"
    sockets = {n: await open_socket(e, floor.phones[n].token, ["tasks"]) for n in PHONES}
    screen = await open_socket(e, command_token, ["tasks"])
    for client in (*sockets.values(), screen):
        snapshot = await client.until(lambda m: m.get("topic") == "tasks")
        assert snapshot["type"] == "snapshot"

    security = await command.post(url, {"title": "signage", "team": "security"}, expect=201)
    wang = await command.post(
        url, {"title": "water", "staff": floor.members["王强"]["id"]}, expect=201
    )
    tech = await command.post(url, {"title": "wifi", "team": "tech"}, expect=201)
    # A change to 王强's task after the others: once he has it, he has had all he will get.
    changed = await floor.phones["王强"].patch(
        f"/api/v1/tasks/{wang['id']}", {"nonce": uuid.uuid4().hex, "status": "doing"}
    )
    assert changed["task"]["status"] == "doing"
    await sockets["王强"].until(
        lambda m: is_task(wang["id"])(m) and m["data"]["action"] == "changed"
    )
    for name, task in (("李娜", security), ("Tom", tech)):
        await sockets[name].until(is_task(task["id"]))
    await screen.until(lambda m: is_task(wang["id"])(m) and m["data"]["action"] == "changed")
    assert task_ids(sockets["李娜"]) == [security["id"]]
    assert task_ids(sockets["王强"]) == [wang["id"], wang["id"]]
    assert task_ids(sockets["Tom"]) == [tech["id"]]
    assert task_ids(sockets["spare"]) == []
    assert task_ids(screen) == [security["id"], wang["id"], tech["id"], wang["id"]]


async def test_a_reconnecting_phone_is_replayed_only_its_tasks(
    served: Served, open_socket: Open
) -> None:
    organiser = served.api(await served.token("organiser"))
    floor = await make_floor(served.http, organiser)
    e = floor.event_id
    command = served.api(await served.token("command", e))
    url = f"/api/v1/events/{e}/tasks"
    tom = await open_socket(e, floor.phones["Tom"].token, ["tasks"])
    snapshot = await tom.until(lambda m: m.get("topic") == "tasks")
    await tom.ws.close()  # Tom's phone goes offline
    screen = await open_socket(e, await served.token("command", e), ["tasks"])
    await screen.until(lambda m: m.get("topic") == "tasks")

    await command.post(url, {"title": "signage", "team": "security"}, expect=201)
    mine = await command.post(
        url, {"title": "wifi", "staff": floor.members["Tom"]["id"]}, expect=201
    )
    last = await command.post(url, {"title": "water", "team": "logistics"}, expect=201)
    # The hub has all three once the screen has the last (the replay reads what it has).
    await screen.until(is_task(last["id"]))
    since = {"tasks": {"epoch": snapshot["epoch"], "offset": snapshot["offset"]}}
    back = await open_socket(e, floor.phones["Tom"].token, ["tasks"], since=since)
    resume = await back.until(lambda m: m.get("topic") == "tasks")
    # Three tasks made since: Tom's replay has his one.
    assert (resume["type"], resume["count"]) == ("resume", 1)
    replayed = await back.until(is_task())
    assert replayed["data"]["task"]["id"] == mine["id"]
