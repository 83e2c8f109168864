"""Two real ``muster serve`` processes on one PostgreSQL database: a token
revoked through process A is refused by process B at once and its socket on
B is closed with 4401 within a second, though B caches tokens for minutes
and polls its bus every 30 s (so the NOTIFY wake-up and the
``token_revocations`` log did it). Also from the command line.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from server.auth import create_account
from server.db import Database
from tests.conftest import Api, event_body
from tests.realtime.conftest import Client
from tests.servers import ROOT, LiveServer, servers_on

SLOW_EVERYTHING = {
    "MUSTER_TOKEN_CACHE_SECONDS": "300",
    "MUSTER_BUS_POLL_INTERVAL": "30",
}


@pytest.fixture
def two_processes(pg_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    env = {"MUSTER_DATABASE_URL": pg_url, **SLOW_EVERYTHING}
    with servers_on(tmp_path, env) as (first, second):
        yield first, second


async def watch(server: LiveServer, event_id: int, token: str) -> Client:
    client = Client(await connect(server.ws_url(event_id), compression=None))
    await client.send({"type": "hello", "token": token, "topics": ["headcount"]})
    await client.until(lambda m: m.get("topic") == "headcount")
    return client


async def closed_within(client: Client, seconds: float) -> int | None:
    started = time.monotonic()
    code = await client.close_code(wait=5)
    assert time.monotonic() - started < seconds, f"closed after {time.monotonic() - started:.2f} s"
    return code


async def test_revoked_on_one_process_cut_off_on_the_other(
    two_processes: tuple[LiveServer, LiveServer], pg_url: str
) -> None:
    a, b = two_processes
    db = Database(pg_url)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            organiser = Api(http, a.token)
            event = await organiser.post(f"{a.base_url}/api/v1/events", event_body(), expect=201)
            eid = event["id"]
            headcount = f"{b.base_url}/api/v1/events/{eid}/headcount"
            account, command = await create_account(db, "command", event_id=eid, name="lost")
            _kept, other = await create_account(db, "command", event_id=eid, name="kept")
            lost = Api(http, command)
            await lost.get(headcount)  # cached on B for 300 s
            on_b = await watch(b, eid, command)
            kept_on_b = await watch(b, eid, other)

            await organiser.post(f"{a.base_url}/api/v1/tokens/{account.id}/revoke", expect=200)
            assert await closed_within(on_b, 1.0) == 4401
            await lost.get(headcount, expect=401)
            await Api(http, other).get(headcount)
            await kept_on_b.send({"type": "ping", "t": 1})
            await kept_on_b.until(lambda m: m.get("type") == "pong")

            # From the command line, while both run.
            on_a = await watch(a, eid, other)
            on_b_again = await watch(b, eid, other)
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "server.cli", "token", "revoke", str(_kept.id)],
                cwd=ROOT,
                env={**os.environ, "MUSTER_DATABASE_URL": pg_url},
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            started = time.monotonic()
            assert await on_a.close_code(wait=5) == 4401
            assert await on_b_again.close_code(wait=5) == 4401
            assert await kept_on_b.close_code(wait=5) == 4401
            assert time.monotonic() - started < 1.5
            for server in (a, b):
                await Api(http, other).get(
                    f"{server.base_url}/api/v1/events/{eid}/headcount", expect=401
                )
    finally:
        await db.dispose()
