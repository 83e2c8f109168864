"""``realtime.hub`` in-process, on both databases: a Hub given its own
providers, sockets that are plain recorders (no websocket, no uvicorn), and
the real bus underneath. tests/realtime/test_ws.py drives the same hub
through real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from realtime import hub as hub_module
from realtime.connection import Connection
from realtime.core import Since
from realtime.hub import Hub
from realtime.outbox import publish
from realtime.tables import BusItem
from server.auth import Principal
from server.background import running
from server.context import Muster
from server.db import Database

WAIT = 10.0


class Socket:
    """What a connection sends, decoded, and how it was closed."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        self.seen.append(orjson.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    async def until(self, condition: Callable[[list[dict[str, Any]]], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not condition(self.seen):  # noqa: ASYNC110 - the writer has no event to wait on
                await asyncio.sleep(0.01)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.seen if m["type"] == kind]


def connection(
    socket: Socket, event_id: int, topics: tuple[str, ...], account: int = 1, role: str = "command"
) -> Connection:
    conn = Connection(
        socket.send_text,
        socket.close,
        queue_size=64,
        principal=Principal(account, role, event_id, None, "token", "screen"),
        event_id=event_id,
        topics=topics,
        connection_id=f"c{account}",
    )
    return conn


def counted(data: dict[str, Any]) -> tuple[Callable[[Database, int], Any], list[int]]:
    calls: list[int] = []

    async def provider(_db: Database, event_id: int) -> dict[str, Any]:
        calls.append(event_id)
        return {**data, "call": len(calls)}

    return provider, calls


@pytest.fixture
async def hub(ctx: Muster) -> AsyncIterator[Hub]:
    """A second hub on the app's database, running its loops, with the
    providers each test gives it (the app's own hub runs beside it, untouched)."""
    hub = Hub(ctx, {})
    await hub.start()
    try:
        async with running(*hub.background()):
            yield hub
    finally:
        hub.stop()


async def test_a_stream_subscriber_gets_a_snapshot_then_every_message_once_in_order(
    ctx: Muster, hub: Hub, event: dict[str, Any]
) -> None:
    hub.providers["alerts"], _calls = counted({"alerts": []})
    socket = Socket()
    await hub.subscribe(connection(socket, event["id"], ("alerts",)), {})
    await socket.until(lambda seen: len(seen) == 1)
    [snapshot] = socket.seen
    assert snapshot["type"] == "snapshot" and snapshot["data"]["call"] == 1
    for n in range(3):
        async with ctx.db.writing() as session:
            publish(session, event["id"], "alerts", {"n": n})
        ctx.changed(event["id"], "alerts")
    await socket.until(lambda seen: len(seen) == 4)
    updates = socket.of("update")
    assert [u["data"]["n"] for u in updates] == [0, 1, 2]
    offsets = [u["offset"] for u in updates]
    assert offsets == sorted(offsets) and offsets[0] > snapshot["offset"]
    assert {u["epoch"] for u in updates} == {snapshot["epoch"]} == {hub.bus_epoch}


async def test_a_resume_replays_exactly_what_was_missed(hub: Hub, event: dict[str, Any]) -> None:
    hub.providers["alerts"], calls = counted({"alerts": []})
    first = Socket()
    await hub.subscribe(connection(first, event["id"], ("alerts",)), {})
    await first.until(lambda seen: len(seen) == 1)
    start = first.seen[0]["offset"]
    for n in range(1, 4):
        hub.publish(event["id"], "alerts", start + n, {"n": n})
    again = Socket()
    since = {"alerts": Since(hub.bus_epoch, start + 1)}
    await hub.subscribe(connection(again, event["id"], ("alerts",), account=2), since)
    await again.until(lambda seen: len(seen) == 3)
    resume, *replayed = again.seen
    assert resume == {
        "type": "resume",
        "topic": "alerts",
        "epoch": hub.bus_epoch,
        "offset": start + 1,
        "count": 2,
    }
    assert [m["data"]["n"] for m in replayed] == [2, 3]
    assert calls == [event["id"]], "a replay reads no snapshot"


async def test_a_state_topic_coalesces_a_burst_of_changes(hub: Hub, event: dict[str, Any]) -> None:
    """A hundred changes in a row are a few recomputations, not a hundred,
    and the last update shows the state after the last change."""
    state = {"n": 0}

    async def provider(_db: Database, _event_id: int) -> dict[str, Any]:
        return dict(state)

    hub.providers["stock"] = provider
    socket = Socket()
    await hub.subscribe(connection(socket, event["id"], ("stock",)), {})
    await socket.until(lambda seen: len(seen) == 1)
    for n in range(1, 101):
        state["n"] = n
        hub.mark(event["id"], ("stock",))
    await socket.until(lambda seen: seen[-1]["data"]["n"] == 100)
    assert len(socket.of("update")) < 10
    assert [m["type"] for m in socket.seen[:1]] == ["snapshot"]


async def test_a_state_update_goes_out_in_slices_and_never_out_of_order(
    hub: Hub, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other work runs between the slices of an update's fan-out (a door's
    answer need not wait for ten thousand screens), and updates made while
    one is on its way reach every socket after it, the newest only."""
    monkeypatch.setattr(hub_module, "FAN_OUT_SLICE", 3)
    eid = event["id"]
    hub.providers["stock"], _calls = counted({"items": []})
    written: list[tuple[int, int] | str] = []

    def recording(n: int) -> Connection:
        def write_now(text: str) -> bool:
            written.append((n, orjson.loads(text)["offset"]))
            return True

        async def never(_text: str) -> None:
            raise AssertionError("every write went straight to the socket")

        async def close(_code: int, _reason: str) -> None:
            pass

        return Connection(
            never,
            close,
            queue_size=64,
            principal=Principal(n, "command", eid, None, "token", "screen"),
            event_id=eid,
            topics=("stock",),
            connection_id=f"c{n}",
            write_now=write_now,
        )

    for n in range(10):
        await hub.subscribe(recording(n), {})
    written.clear()  # the snapshots

    def meanwhile() -> None:
        written.append("other work")
        hub._spread((eid, "stock"), 11, '{"type":"update","offset":11}')
        hub._spread((eid, "stock"), 12, '{"type":"update","offset":12}')

    hub._spread((eid, "stock"), 10, '{"type":"update","offset":10}')
    asyncio.get_running_loop().call_soon(meanwhile)
    async with asyncio.timeout(WAIT):
        while len(written) < 21:  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(0.01)
    assert written.index("other work") == 3, written
    for n in range(10):
        assert [o for w in written if isinstance(w, tuple) and w[0] == n for o in w[1:]] == [10, 12]


async def test_hundreds_of_sockets_arriving_in_a_second_are_a_storm(
    hub: Hub, event: dict[str, Any]
) -> None:
    """``storming`` counts subscriptions in this second of the clock and the
    last; a storm spaces the state updates (``STORM_UPDATE_SPACING``)."""
    assert not hub.storming(50.5)
    for _ in range(hub_module.STORM_ARRIVALS - 1):
        hub._arrived(50)
    assert not hub.storming(50.5)
    hub._arrived(50)
    assert hub.storming(50.9) and hub.storming(51.9)  # the second after still counts
    assert not hub.storming(52.0)
    hub._arrived(53)
    assert not hub.storming(53.1)  # 52 had none


async def test_a_message_reaches_only_the_sockets_of_its_audience(
    hub: Hub, event: dict[str, Any]
) -> None:
    hub.providers["broadcasts"], _calls = counted({"broadcasts": []})
    screen, door, staff = Socket(), Socket(), Socket()
    eid = event["id"]
    await hub.subscribe(connection(screen, eid, ("broadcasts",), 1, "command"), {})
    await hub.subscribe(connection(door, eid, ("broadcasts",), 2, "door"), {})
    await hub.subscribe(connection(staff, eid, ("broadcasts",), 3, "staff"), {})
    for socket in (screen, door, staff):
        await socket.until(lambda seen: len(seen) == 1)
    offset = screen.seen[0]["offset"]
    hub.publish(eid, "broadcasts", offset + 1, {"n": 1, "audience": {"roles": ["door"]}})
    hub.publish(eid, "broadcasts", offset + 2, {"n": 2, "audience": {"everyone": True}})
    await screen.until(lambda seen: len(seen) == 3)
    await staff.until(lambda seen: len(seen) == 2)
    assert [m["data"]["n"] for m in door.of("update")] == [1, 2]
    assert [m["data"]["n"] for m in screen.of("update")] == [1, 2]  # screens see all
    assert [m["data"]["n"] for m in staff.of("update")] == [2]


async def test_a_revoked_token_closes_its_sockets_and_no_other(
    hub: Hub, event: dict[str, Any]
) -> None:
    hub.providers["alerts"], _calls = counted({"alerts": []})
    revoked, kept = Socket(), Socket()
    revoked_conn = connection(revoked, event["id"], ("alerts",), account=7)
    kept_conn = connection(kept, event["id"], ("alerts",), account=8)
    await hub.subscribe(revoked_conn, {})
    await hub.subscribe(kept_conn, {})
    hub.on_revoked([BusItem(0, 1, None, {"account": 7})])
    await asyncio.wait_for(revoked_conn.closed.wait(), WAIT)
    assert revoked.closed == (4401, "token revoked")
    assert kept_conn.close_code is None and kept.closed is None


async def test_the_last_socket_leaving_forgets_the_topic(hub: Hub, event: dict[str, Any]) -> None:
    hub.providers["stock"], calls = counted({"items": []})
    one, two = Socket(), Socket()
    conns = [
        connection(one, event["id"], ("stock",), 1),
        connection(two, event["id"], ("stock",), 2),
    ]
    for conn in conns:
        await hub.subscribe(conn, {})
    key = (event["id"], "stock")
    assert calls == [event["id"]], "the second socket shares the first's snapshot"
    hub.unsubscribe(conns[0])
    assert key in hub.states and key in hub.subscribers
    hub.unsubscribe(conns[1])
    assert key not in hub.states and key not in hub.subscribers
    hub.publish(event["id"], "nobody", 1, {})
    assert (event["id"], "nobody") not in hub.histories
