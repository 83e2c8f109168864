"""Realtime fixtures: a real uvicorn server on loopback (in this process, on
the test's database) and a small websocket client that speaks the protocol."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from realtime.hub import HUB, Hub
from server.app import create_app
from server.context import Muster
from server.settings import Settings
from tests.conftest import Api, open_venue, token_for
from tests.servers import free_port

#: How long a test waits for a message it expects (generous: 2 shared cores).
WAIT = 10.0


@dataclass
class Served:
    base_url: str
    ws_url: str
    ctx: Muster
    http: httpx.AsyncClient

    @property
    def hub(self) -> Hub:
        """The served app's running hub."""
        hub = self.ctx.part(HUB)
        assert hub is not None, "the hub is not running"
        return hub

    def api(self, token: str) -> Api:
        return Api(self.http, token)

    async def token(
        self, role: str, event_id: int | None = None, gate_id: int | None = None
    ) -> str:
        return await token_for(self.ctx, role, event_id, gate_id)

    def socket_url(self, event_id: int) -> str:
        return f"{self.ws_url}/ws/events/{event_id}"


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Served]:
    """Run the app under uvicorn on a free loopback port for the block."""
    app = create_app(settings, migrate=False)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws_per_message_deflate=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=WAIT) as http:
            yield Served(base, f"ws://127.0.0.1:{port}", app.state.muster, http)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@pytest.fixture
def realtime_settings(settings: Settings) -> Settings:
    """Quick clocks so the tests do not wait on production intervals."""
    return replace(
        settings, state_updates_per_second=20.0, bus_poll_interval=0.5, bus_notify_interval=0.02
    )


@pytest.fixture
async def served(realtime_settings: Settings) -> AsyncIterator[Served]:
    async with serve(realtime_settings) as found:
        yield found


@dataclass
class Venue:
    event_id: int
    zone_id: int
    gate_id: int
    organiser: Api
    tickets: list[dict[str, Any]]


async def make_venue(served: Served, tickets: int = 3) -> Venue:
    organiser = served.api(await served.token("organiser"))
    event, zone, gate, issued = await open_venue(organiser, tickets)
    return Venue(event["id"], zone["id"], gate["id"], organiser, issued)


async def scan(door: Api, venue: Venue, ticket: dict[str, Any], direction: str = "in") -> Any:
    return await door.post(
        f"/api/v1/events/{venue.event_id}/scans",
        {
            "secret": ticket["secret"],
            "gate": venue.gate_id,
            "direction": direction,
            "nonce": uuid.uuid4().hex,
            "scanned_at": datetime.now(UTC).isoformat(),
        },
        expect=200,
    )


class Client:
    """A websocket client of the realtime protocol (answers pings itself)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def next(self, wait: float = WAIT) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.ws.recv(), wait))
            if message["type"] == "ping":
                await self.ws.send(orjson.dumps({"type": "pong"}).decode())
                continue
            self.seen.append(message)
            return message

    async def until(
        self, check: Callable[[dict[str, Any]], bool], wait: float = WAIT
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no such message; saw {self.seen[-5:]}")
            message = await self.next(left)
            if check(message):
                return message

    async def since(
        self, mark: int, check: Callable[[dict[str, Any]], bool], wait: float = WAIT
    ) -> dict[str, Any]:
        """A message matching ``check`` among those received after ``seen[mark]``,
        waiting for it if need be: topics interleave in no set order."""
        for message in self.seen[mark:]:
            if check(message):
                return message
        return await self.until(check, wait)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def close_code(self, wait: float = WAIT) -> int | None:
        """Read until the server closes; its close code."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), wait)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


Open = Callable[..., Awaitable[Client]]


@pytest.fixture
async def open_socket(served: Served) -> AsyncIterator[Open]:
    """``await open_socket(event_id, token, topics, since=None)`` → a Client, said hello."""
    async with opened(served) as opener:
        yield opener


@contextlib.asynccontextmanager
async def opened(served: Served) -> AsyncIterator[Open]:
    """``open_socket`` for a server of the test's own; the sockets closed after the block."""
    sockets: list[ClientConnection] = []

    async def opener(
        event_id: int,
        token: str,
        topics: list[str],
        since: dict[str, Any] | None = None,
        url: str | None = None,
        **kwargs: Any,
    ) -> Client:
        ws = await connect(url or served.socket_url(event_id), compression=None, **kwargs)
        sockets.append(ws)
        client = Client(ws)
        hello = {"type": "hello", "token": token, "topics": topics, "since": since or {}}
        await client.send(hello)
        return client

    try:
        yield opener
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
