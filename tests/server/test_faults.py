"""Faults during a door rush, against real ``muster serve`` processes on a
throwaway PostgreSQL cluster (``tests/pgcluster.py``): PostgreSQL restarted,
one of two processes killed, a process told to stop.

Each rush is bounded in time and tickets, loopback only. The doors
(``tests/faults.py``) retry a nonce after a 5xx or a network error until
answered, as a phone's outbox does; afterwards the scan log is checked
against every answer the doors got.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.conftest import Api
from tests.faults import (
    Rush,
    check_nothing_lost_or_doubled,
    headcount_inside,
    make_venue,
    scan_log,
)
from tests.pgcluster import PgCluster
from tests.realtime.conftest import Client
from tests.servers import LiveServer, servers_on, start_server

#: Quicker clocks than production's, so that recovery is seen within seconds.
QUICK = {"MUSTER_BUS_POLL_INTERVAL": "0.5", "MUSTER_STATE_UPDATES_PER_SECOND": "10"}
DOORS = 16


@pytest.fixture
def database(pg_cluster: PgCluster) -> str:
    return pg_cluster.create_database("muster")


@pytest.fixture
def two_processes(database: str, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    with servers_on(tmp_path, {"MUSTER_DATABASE_URL": database, **QUICK}) as (first, second):
        yield first, second


def after(seconds: float, action: Any) -> tuple[threading.Thread, dict[str, float]]:
    """Run ``action`` on a thread ``seconds`` from now; the moments it began and ended."""
    marks: dict[str, float] = {}

    def run() -> None:
        time.sleep(seconds)
        marks["began"] = time.monotonic()
        action()
        marks["ended"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, marks


async def watch(server: LiveServer, token: str, event_id: int) -> Client:
    client = Client(await connect(server.ws_url(event_id)))
    await client.send({"type": "hello", "token": token, "topics": ["headcount", "admissions"]})
    await client.until(lambda m: m.get("topic") == "headcount" and m["type"] == "snapshot")
    return client


def tracebacks(*servers: LiveServer) -> list[str]:
    return [line for s in servers for line in s.output if "Traceback" in line]


async def test_postgresql_restarted_mid_rush(
    two_processes: tuple[LiveServer, LiveServer], database: str, pg_cluster: PgCluster
) -> None:
    a, b = two_processes
    venue = await make_venue(a.base_url, a.token, database, tickets=3000)
    screen = await watch(a, venue.command_token, venue.event_id)
    rush = Rush([a.base_url, b.base_url], venue, DOORS)

    def outage() -> None:
        pg_cluster.stop()
        time.sleep(1.5)
        pg_cluster.start()

    thread, marks = after(1.5, outage)
    await rush.run(6.0)
    thread.join()

    during = rush.statuses(marks["began"], marks["ended"])
    later = rush.statuses(marks["ended"])
    assert set(rush.statuses()) <= {200, 503}, rush.statuses()  # never a 500, never a drop
    assert during[503] > 0, during
    assert later[200] > 0, later  # scans resume by themselves
    refusals = [x for x in rush.attempts if x.status == 503]
    assert all(x.retry_after == "2" and x.code == "database_unavailable" for x in refusals)

    admitted = check_nothing_lost_or_doubled(rush, await scan_log(database, venue.event_id))
    assert len(admitted) == await headcount_inside(b.base_url, venue.command_token, venue.event_id)
    # The screen's socket stayed open through the outage and catches up by itself.
    await screen.until(
        lambda m: m.get("topic") == "headcount" and m["data"]["inside"] == len(admitted)
    )
    await screen.ws.close()
    for server in (a, b):
        outages = [line for line in server.output if line.startswith("database unavailable")]
        backs = [line for line in server.output if line.startswith("database available again")]
        assert len(outages) == len(backs) == 1, server.output[-20:]
    assert not tracebacks(a, b)


async def test_kill_9_of_one_of_two_processes_mid_rush(
    two_processes: tuple[LiveServer, LiveServer], database: str
) -> None:
    a, b = two_processes
    venue = await make_venue(a.base_url, a.token, database, tickets=3000)
    rush = Rush([a.base_url, b.base_url], venue, DOORS)
    thread, _marks = after(1.5, a.process.kill)
    await rush.run(5.0)
    thread.join()
    assert a.process.wait(10) == -signal.SIGKILL

    moved = {x.nonce for x in rush.attempts if x.status == "network" and x.base == a.base_url}
    assert moved, "no scan was cut off by the kill"
    assert set(rush.statuses()) <= {200, "network"}, rush.statuses()
    answered = {nonce for nonce, _answer in rush.acknowledged.values()}
    assert moved <= answered, "every scan cut off on A was answered by B"
    admitted = check_nothing_lost_or_doubled(rush, await scan_log(database, venue.event_id))
    assert len(admitted) == await headcount_inside(b.base_url, venue.command_token, venue.event_id)

    # A retried nonce gets its first answer, whichever process answers.
    async with httpx.AsyncClient(timeout=10) as http:
        door = Api(http, venue.door_token)
        for ticket, (nonce, first) in list(rush.acknowledged.items())[:20]:
            secret = next(t["secret"] for t in venue.tickets if t["id"] == ticket)
            again = await door.post(
                f"{b.base_url}/api/v1/events/{venue.event_id}/scans",
                {"secret": secret, "gate": venue.gate_id, "direction": "in", "nonce": nonce},
                expect=200,
            )
            assert (again["status"], again["reason"]) == (first["status"], first["reason"])
    assert not tracebacks(b)


async def test_sigterm_mid_rush_answers_requests_in_flight_and_says_going_away(
    database: str, tmp_path: Path
) -> None:
    server = start_server(tmp_path, {"MUSTER_DATABASE_URL": database, **QUICK})
    try:
        venue = await make_venue(server.base_url, server.token, database, tickets=3000)
        screen = await watch(server, venue.command_token, venue.event_id)
        rush = Rush([server.base_url], venue, DOORS)
        thread, marks = after(1.5, lambda: server.process.send_signal(signal.SIGTERM))
        await rush.run(3.5)
        thread.join()
        assert await screen.close_code() == 1001
        assert server.process.wait(20) == -signal.SIGTERM  # ends by the signal (README)
    finally:
        if server.process.poll() is None:
            server.process.kill()

    statuses = rush.statuses()
    assert set(statuses) <= {200, "network"}, statuses
    assert rush.statuses(marks["began"])[200] > 0, "requests in flight at the signal are answered"
    # Every scan the server took was answered: none is logged unacknowledged.
    log = await scan_log(database, venue.event_id)
    acknowledged = {nonce for nonce, _answer in rush.acknowledged.values()}
    assert {nonce for nonce, _t, _s in log} == acknowledged
    check_nothing_lost_or_doubled(rush, log)
    assert not tracebacks(server)


async def test_websockets_that_stall_and_vanish_leave_no_memory_behind(tmp_path: Path) -> None:
    """500 sockets say hello, stop reading while headcount updates flow, and
    vanish (a reset, no close frame); the server's resident memory comes
    back near what it was after a first such round (which warms up the
    allocator's pools, the caches and the hub's tables)."""
    server = start_server(tmp_path, QUICK)
    try:
        venue = await make_venue(server.base_url, server.token, _sqlite_url(tmp_path), 600)
        port = int(server.base_url.rsplit(":", 1)[1])
        rss: list[float] = [_rss_mb(server)]

        async def one_round(tickets: list[dict[str, Any]]) -> None:
            sockets = await asyncio.gather(
                *(_stalled_socket(port, venue.event_id, venue.command_token) for _ in range(500))
            )
            # Scans for 3 s: the headcount changes, an update to every socket ten times a second.
            await Rush([server.base_url], replace(venue, tickets=tickets), 8).run(3.0)
            rss.append(_rss_mb(server))  # all 500 held, with what they did not read
            for sock in sockets:
                sock.transport.abort()  # vanish: no close frame, a reset
            await _until_no_sockets(server)
            rss.append(_rss_mb(server))

        await one_round(venue.tickets[:300])
        await one_round(venue.tickets[300:])
        start, _held1, warm, held, after = rss
        print(
            f"server RSS: {start:.1f} MB at start, {warm:.1f} after a first round,"
            f" {held:.1f} with 500 stalled sockets, {after:.1f} after they vanished"
        )
        assert after - warm < 20, rss
    finally:
        server.stop()


def _sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir.resolve() / 'muster.db'}"


def _rss_mb(server: LiveServer) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return kb / 1024


class _Stalled(asyncio.Protocol):
    """A websocket client that says hello and then never reads a byte."""

    def __init__(self, hello: bytes) -> None:
        self.hello = hello
        self.transport: asyncio.Transport
        self.upgraded = asyncio.get_running_loop().create_future()
        self.received = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data
        if not self.upgraded.done() and b"\r\n\r\n" in self.received:
            self.upgraded.set_result(self.received.startswith(b"HTTP/1.1 101"))
            self.transport.write(self.hello)
            self.transport.pause_reading()  # stall


async def _stalled_socket(port: int, event_id: int, token: str) -> _Stalled:
    hello = orjson.dumps({"type": "hello", "token": token, "topics": ["headcount"]})
    loop = asyncio.get_running_loop()
    # A small receive buffer: the server's sends back up after a few kilobytes.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    _transport, protocol = await loop.create_connection(
        lambda: _Stalled(_masked_text_frame(hello)), sock=sock
    )
    protocol.transport.write(
        f"GET /ws/events/{event_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert await asyncio.wait_for(protocol.upgraded, 30)
    return protocol


def _masked_text_frame(payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    size = len(payload)
    head = bytes((0x81, 0x80 | size)) if size < 126 else bytes((0x81, 0xFE)) + size.to_bytes(2)
    return head + mask + masked


async def _until_no_sockets(server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        for _ in range(300):
            metrics = (await http.get(f"{server.base_url}/metrics")).text
            if "muster_ws_connections 0" in metrics:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("sockets still held:\n" + metrics)
