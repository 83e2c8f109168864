"""``muster serve`` told to stop (SIGTERM): every websocket is closed with
1001 (the README's "going away", not uvicorn's 1012), and the process ends
by SIGTERM itself, or with status 0 after SIGINT, as the README says."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.realtime.conftest import Client
from tests.servers import start_server


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stopped_server_says_going_away_and_ends_by_the_signal(
    tmp_path: Path, stop: signal.Signals
) -> None:
    server = start_server(tmp_path)
    try:
        token = server.token
        api = server.api()
        event = api.post(
            "/api/v1/events",
            json={
                "name": "发布会",
                "starts_at": "2026-12-01T09:00:00+08:00",
                "ends_at": "2026-12-01T18:00:00+08:00",
                "timezone": "Asia/Shanghai",
            },
        ).json()
        clients = []
        for _ in range(3):
            client = Client(await connect(server.ws_url(event["id"])))
            await client.send({"type": "hello", "token": token, "topics": ["headcount"]})
            await client.until(lambda m: m.get("topic") == "headcount")
            clients.append(client)

        server.process.send_signal(stop)
        assert [await c.close_code() for c in clients] == [1001, 1001, 1001]
        assert server.process.wait(20) == (-stop if stop == signal.SIGTERM else 0)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    assert not [line for line in server.output if "Traceback" in line], server.output
