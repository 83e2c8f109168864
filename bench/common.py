"""Pieces every benchmark uses: a scratch PostgreSQL database, a free
loopback port, percentiles."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from server.app import create_app
from server.auth import create_account
from server.context import Muster
from server.settings import Settings

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"

#: The columns of the plain valid tickets a bench COPYs in (one record each).
TICKET_COLUMNS = [
    "event_id",
    "type_id",
    "holder_name",
    "holder_email",
    "code",
    "secret",
    "generation",
    "status",
    "created_at",
]
#: The columns of the scans a bench COPYs in, as the doors would have left them.
SCAN_COLUMNS = [
    "event_id",
    "ticket_id",
    "gate_id",
    "direction",
    "nonce",
    "scanned_at",
    "received_at",
    "status",
    "from_zone_id",
    "to_zone_id",
    "offline",
    "response",
]


@contextlib.asynccontextmanager
async def scratch_database(admin_dsn: str = DEFAULT_PG) -> AsyncIterator[str]:
    """A new, empty database for the block (its asyncpg DSN); dropped after."""
    name = f"muster_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin_dsn.rsplit("/", 1)[0] + f"/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy URL (asyncpg driver) of a plain PostgreSQL DSN."""
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time used so far by every PostgreSQL process on this machine (its
    backends come and go, so the sum over the ones alive at both readings
    undercounts only the short-lived ones)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        if name.startswith("postgres"):
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def bundle_parts(bundle: dict[str, Any]) -> str:
    """The big parts of an offline bundle and their size as JSON, for a figure."""
    return ", ".join(
        f"{name} {len(orjson.dumps(bundle[name])) / 1024:.0f} KB"
        for name in ("admitted_set", "display", "revocations")
        if name in bundle
    )


@contextlib.asynccontextmanager
async def organiser_with_event(
    settings: Settings, request_timeout: float = 600
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any], Muster]]:
    """Muster in this process (httpx through ASGI, no sockets), a client signed
    in as an organiser, and a new event starting now."""
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app):
        ctx: Muster = app.state.muster
        _account, token = await create_account(ctx.db, "organiser", name="bench")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {token}"},
            timeout=request_timeout,
        ) as http:
            now = datetime.now(UTC)
            answer = await http.post(
                "/api/v1/events",
                json={
                    "name": "bench",
                    "starts_at": now.isoformat(),
                    "ends_at": (now + timedelta(hours=8)).isoformat(),
                },
            )
            yield http, answer.json(), ctx


async def headcount_messages(url: str, token: str) -> AsyncIterator[dict[str, Any]]:
    """A screen on the websocket at ``url``: every ``headcount`` message it
    gets (the snapshot, then the updates), pings answered."""
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None) as ws:
        hello = {"type": "hello", "token": token, "topics": ["headcount"]}
        await ws.send(orjson.dumps(hello).decode())
        async for raw in ws:
            message = orjson.loads(raw)
            if message["type"] == "ping":
                await ws.send('{"type": "pong"}')
            elif message.get("topic") == "headcount":
                yield message
