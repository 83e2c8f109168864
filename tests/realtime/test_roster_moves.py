"""A member the organiser moves reaches their open socket's audience at once
(issue 16), on a real server and real sockets, SQLite and PostgreSQL: the
``roster`` bus message written with the change makes the hub read the open
sockets' facts again before it fans out what came after, so a broadcast to
the new zone reaches the phone without a reconnect, and one to the old zone
no longer does."""

from __future__ import annotations

from tests.realtime.conftest import Open, Served
from tests.realtime.test_broadcast_topic import broadcast_ids, is_broadcast
from tests.server.broadcast_world import make_floor, urgent


async def test_a_member_moved_by_the_organiser_gets_the_new_zones_broadcasts_at_once(
    served: Served, open_socket: Open
) -> None:
    organiser = served.api(await served.token("organiser"))
    floor = await make_floor(served.http, organiser)  # 王强 in Hall B, Tom in no zone
    e = floor.event_id
    sockets = {
        n: await open_socket(e, floor.phones[n].token, ["broadcasts"]) for n in ("王强", "Tom")
    }
    for client in sockets.values():
        await client.until(lambda m: m.get("topic") == "broadcasts")

    # Tom to Hall A, 王强 out of Hall B: no tap on either phone, no reconnect.
    tom, wang = floor.members["Tom"]["id"], floor.members["王强"]["id"]
    await organiser.patch(f"/api/v1/staff/{tom}", {"zone": floor.hall_a}, expect=200)
    await organiser.patch(f"/api/v1/staff/{wang}", {"zone": None}, expect=200)
    to_a = await organiser.post(floor.url(), urgent({"zones": [floor.hall_a]}), expect=201)
    to_b = await organiser.post(floor.url(), urgent({"zones": [floor.hall_b]}), expect=201)
    last = await organiser.post(floor.url(), urgent({"everyone": True}), expect=201)
    for client in sockets.values():
        await client.until(is_broadcast("broadcast", last["id"]))
    assert broadcast_ids(sockets["Tom"]) == [to_a["id"], last["id"]]
    assert broadcast_ids(sockets["王强"]) == [last["id"]]
    assert to_b["id"] not in broadcast_ids(sockets["Tom"])

    # A shift started on a phone moves it too (its socket stays open here).
    await floor.phones["王强"].post(
        "/api/v1/devices/me/duty", {"action": "start", "zone": floor.hall_b}, expect=200
    )
    again = await organiser.post(floor.url(), urgent({"zones": [floor.hall_b]}), expect=201)
    await sockets["王强"].until(is_broadcast("broadcast", again["id"]))


async def test_a_gate_moved_to_another_zone_moves_its_staff_at_once(
    served: Served, open_socket: Open
) -> None:
    """李娜 has no zone of her own: she is in her gate's. The organiser moves
    that gate from Hall A to Hall B with her socket open; the broadcasts to
    Hall B reach her from then on, and those to Hall A no longer do."""
    organiser = served.api(await served.token("organiser"))
    floor = await make_floor(served.http, organiser)  # 李娜: door at North, into Hall A
    li = await open_socket(floor.event_id, floor.phones["李娜"].token, ["broadcasts"])
    await li.until(lambda m: m.get("topic") == "broadcasts")
    before = await organiser.post(floor.url(), urgent({"zones": [floor.hall_a]}), expect=201)
    await li.until(is_broadcast("broadcast", before["id"]))

    gate = f"/api/v1/events/{floor.event_id}/gates/{floor.gate_a}"
    await organiser.patch(gate, {"to_zone": floor.hall_b}, expect=200)
    to_a = await organiser.post(floor.url(), urgent({"zones": [floor.hall_a]}), expect=201)
    to_b = await organiser.post(floor.url(), urgent({"zones": [floor.hall_b]}), expect=201)
    last = await organiser.post(floor.url(), urgent({"everyone": True}), expect=201)
    await li.until(is_broadcast("broadcast", last["id"]))
    assert broadcast_ids(li) == [before["id"], to_b["id"], last["id"]]
    assert to_a["id"] not in broadcast_ids(li)
