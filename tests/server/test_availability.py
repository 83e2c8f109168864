"""A database that cannot be reached is a 503 ``database_unavailable`` with
Retry-After on every route and on the websocket hello, never a 500; an
outage is one log line each way; a connection an error left unusable is
thrown away.

The PostgreSQL tests stop a throwaway cluster of their own (``pg_cluster``).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy.exc
from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.routing import Route
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server import availability
from server import db as db_module
from server.app import create_app
from server.availability import DependencyHealth, unreachable
from server.db import Database, asyncpg_dsn
from server.migrate import upgrade
from server.settings import Settings, load_settings
from tests.conftest import Api, event_body, open_venue, token_for
from tests.pgcluster import PgCluster
from tests.realtime.conftest import Client, serve
from tests.server.test_errors import assert_error_shape


def _invalidated() -> sqlalchemy.exc.DBAPIError:
    wrapped = sqlalchemy.exc.DBAPIError("SELECT 1", None, Exception("gone"))
    wrapped.connection_invalidated = True
    return wrapped


def _raised_from(cause: BaseException) -> RuntimeError:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise RuntimeError("while reading the venue") from exc
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
        ConnectionResetError(errno.ECONNRESET, "reset by peer"),
        TimeoutError(),
        OSError(errno.EHOSTUNREACH, "No route to host"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        _invalidated(),
        sqlalchemy.exc.TimeoutError("QueuePool limit of size 20 overflow 20 reached"),
        sqlite3.OperationalError("database is locked"),
        sqlite3.OperationalError("unable to open database file"),
        _raised_from(ConnectionRefusedError(errno.ECONNREFUSED, "refused")),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_connection_level_errors_are_an_outage(exc: BaseException) -> None:
    assert unreachable(exc) is not None


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.UniqueViolationError("duplicate key value"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
        asyncpg.DataError("invalid input for query argument $1"),
        sqlite3.OperationalError("no such table: scans"),
        sqlalchemy.exc.IntegrityError("INSERT", None, Exception("UNIQUE constraint failed")),
        OSError(errno.ENOSPC, "No space left on device"),
        ValueError("a bug"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_other_errors_are_not(exc: BaseException) -> None:
    assert unreachable(exc) is None


async def test_an_outage_is_one_line_when_it_starts_and_one_when_it_ends(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(availability, "PROBE_INTERVAL", 0.01)
    answers = iter([False, False, True])
    probed = asyncio.Event()

    async def probe() -> None:
        if not next(answers):
            raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
        probed.set()

    health = DependencyHealth("database", "database_unavailable", probe)
    with caplog.at_level(logging.WARNING, logger="muster"):
        for _ in range(50):
            assert health.absorb(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
        assert not health.absorb(ValueError("a bug"))
        assert not health.available
        await asyncio.wait_for(probed.wait(), 5)
    assert health.available and health.outages == 1
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unavailable (ConnectionRefusedError)")
    assert lines[1].startswith("database available again after")
    await health.close()


# --- against a database that goes away ------------------------------------------------


def _settings(url: str, tmp_path: Path) -> Settings:
    # Tokens stay cached across the outage, so requests get past the token
    # check and meet the database in the route's own work.
    base = load_settings({"MUSTER_DATA_DIR": str(tmp_path)})
    return replace(base, database_url=Secret(url), token_cache_seconds=600.0)


@pytest.fixture
async def pg_app(pg_cluster: PgCluster, tmp_path: Path) -> AsyncIterator[Starlette]:
    url = pg_cluster.create_database("muster")
    await upgrade(url)
    app = create_app(_settings(url, tmp_path), migrate=False)
    async with app.router.lifespan_context(app):
        yield app


def _sweep_path(route: Route) -> str:
    path = route.path
    for name in route.param_convertors:
        path = path.replace("{" + name + "}", "1")
    return path


async def test_every_route_answers_503_while_postgresql_is_down(
    pg_app: Starlette, pg_cluster: PgCluster, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = pg_app.state.muster
    transport = httpx.ASGITransport(app=pg_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://muster.test") as http:
        organiser = Api(http, await token_for(ctx, "organiser"))
        event, _zone, gate, tickets = await open_venue(organiser, tickets=2)
        eid = event["id"]
        door = Api(http, await token_for(ctx, "door", eid, gate["id"]))

        def scan_body(ticket: dict[str, Any]) -> dict[str, Any]:
            return {
                "secret": ticket["secret"],
                "gate": gate["id"],
                "direction": "in",
                "nonce": uuid.uuid4().hex,
            }

        await door.post(f"/api/v1/events/{eid}/scans", scan_body(tickets[0]), expect=200)
        await door.get(f"/api/v1/events/{eid}/headcount")  # the door token is cached now

        pg_cluster.stop()
        with caplog.at_level(logging.WARNING):
            answers: dict[str, int] = {}
            for route in pg_app.routes:
                if not isinstance(route, Route) or route.methods is None:
                    continue
                for method in sorted(route.methods - {"HEAD"}):
                    path = _sweep_path(route)
                    response = await http.request(method, path, headers=organiser.headers, json={})
                    answers[f"{method} {path}"] = response.status_code
                    assert response.status_code < 500 or response.status_code == 503, (
                        method,
                        path,
                        response.status_code,
                        response.text,
                    )
                    if response.status_code == 503:
                        assert response.headers["retry-after"] == "2"
                        assert_error_shape(response.json(), "database_unavailable")
            scan = await http.post(
                f"/api/v1/events/{eid}/scans",
                json=scan_body(tickets[1]),
                headers=door.headers,
            )
            ready = await http.get("/readyz")
            sync = await http.post(
                f"/api/v1/events/{eid}/scans/sync",
                json={"scans": [{**scan_body(tickets[1]), "scanned_at": event["starts_at"]}]},
                headers=door.headers,
            )
            for response in (scan, ready, sync):
                assert response.status_code == 503, response.text
                assert_error_shape(response.json(), "database_unavailable")
            assert "Connect" not in ready.text and "refused" not in ready.text
            refused = [k for k, status in answers.items() if status == 503]
            assert len(refused) >= 20, answers

            pg_cluster.start()
            # Back by itself: the next scan is admitted, no restart of Muster.
            answer = await door.post(
                f"/api/v1/events/{eid}/scans", scan_body(tickets[1]), expect=200
            )
            assert answer["status"] == "ok"
            for _ in range(100):
                if ctx.db.health.available:
                    break
                await asyncio.sleep(0.05)
    outage_lines = [r.getMessage() for r in caplog.records if r.name == "muster"]
    assert len(outage_lines) == 2, outage_lines
    assert outage_lines[0].startswith("database unavailable")
    assert outage_lines[1].startswith("database available again")
    assert not [r for r in caplog.records if r.exc_info], "no traceback for an outage"


async def _until_running(url: str, pid: int, query: str) -> None:
    """Wait until backend ``pid`` is running ``query`` (seen from another connection)."""
    watcher = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with asyncio.timeout(10):
            while True:
                running = await watcher.fetchval(
                    "SELECT query = $2 AND state = 'active' FROM pg_stat_activity WHERE pid = $1",
                    pid,
                    query,
                )
                if running:
                    return
                await asyncio.sleep(0.01)
    finally:
        await watcher.close()


async def test_a_cancelled_raw_connection_is_thrown_away(pg_cluster: PgCluster) -> None:
    """A query cancelled mid-flight leaves its connection mid-protocol: the next
    user gets another connection (another backend), not that one."""
    db = Database(pg_cluster.url("postgres"))
    try:
        async with db.raw_connection() as conn:
            first_pid = conn.get_server_pid()

        async def slow() -> None:
            async with db.raw_connection() as conn:
                assert conn.get_server_pid() == first_pid  # the pool's one connection
                await conn.execute("SELECT pg_sleep(30)")

        task = asyncio.create_task(slow())
        await _until_running(pg_cluster.url("postgres"), first_pid, "SELECT pg_sleep(30)")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with db.raw_connection() as conn:
            assert conn.get_server_pid() != first_pid
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await db.dispose()


async def test_a_restart_leaves_no_broken_connection_in_either_pool(
    pg_cluster: PgCluster,
) -> None:
    db = Database(pg_cluster.url("postgres"))
    try:
        async with db.raw_connection() as conn:
            assert await conn.fetchval("SELECT 1") == 1
        await db.ping()
        pg_cluster.restart()
        failures = 0
        for _ in range(2):  # at most one failure each: the connection that met the restart
            try:
                async with db.raw_connection() as conn:
                    await conn.fetchval("SELECT 1")
            except Exception as exc:
                assert unreachable(exc) is not None, exc
                failures += 1
            try:
                await db.ping()
            except Exception as exc:
                assert unreachable(exc) is not None, exc
                failures += 1
        async with db.raw_connection() as conn:
            assert await conn.fetchval("SELECT 1") == 1
        await db.ping()
        assert failures <= 2
    finally:
        await db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_locked_sqlite_database_is_503(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 100)
    app = create_app(_settings(database_url, tmp_path), migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://muster.test") as http:
            organiser = Api(http, await token_for(app.state.muster, "organiser"))
            await organiser.get("/api/v1/events")
            holder = sqlite3.connect(database_url.split("///", 1)[1])
            try:
                holder.execute("BEGIN EXCLUSIVE")
                response = await http.post(
                    "/api/v1/events", json=event_body(), headers=organiser.headers
                )
            finally:
                holder.rollback()
                holder.close()
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "2"
            assert_error_shape(response.json(), "database_unavailable")
            await organiser.post("/api/v1/events", event_body(), expect=201)


async def _upgrade_while_thought_available(health: DependencyHealth, url: str) -> Client:
    """A socket upgraded while the process has not noticed the outage (its
    background readers notice within their poll interval: try again then)."""
    for _ in range(50):
        health.recovered()
        try:
            return Client(await connect(url))
        except InvalidStatus:
            await asyncio.sleep(0.01)
    raise AssertionError("the outage was noticed before every upgrade")


async def test_the_websocket_hello_says_the_database_is_away(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    url = pg_cluster.create_database("muster")
    await upgrade(url)
    async with serve(replace(_settings(url, tmp_path), token_cache_seconds=0.0)) as served:
        organiser = served.api(await served.token("organiser"))
        event = await organiser.post("/api/v1/events", event_body(), expect=201)
        command = await served.token("command", event["id"])
        pg_cluster.stop()

        # Not yet known to be away (the hub's readers may have noticed
        # already: as if it went in the instant between the upgrade and the
        # hello), the hello meets it, is told so, and is closed with 1013.
        client = await _upgrade_while_thought_available(
            served.ctx.db.health, served.socket_url(event["id"])
        )
        await client.send({"type": "hello", "token": command, "topics": ["headcount"]})
        said = await client.next()
        assert said["type"] == "error" and said["code"] == "database_unavailable"
        assert said["retry_after"] == 2
        assert await client.close_code() == 1013

        # Known to be away: the upgrade itself is refused, as HTTP routes are.
        with pytest.raises(InvalidStatus) as refused:
            await connect(served.socket_url(event["id"]))
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "2"

        pg_cluster.start()
        for _ in range(100):
            if served.ctx.db.health.available:
                break
            await asyncio.sleep(0.05)
        client = Client(await connect(served.socket_url(event["id"])))
        await client.send({"type": "hello", "token": command, "topics": ["headcount"]})
        snapshot = await client.until(lambda m: m.get("topic") == "headcount")
        assert snapshot["type"] == "snapshot"
        await client.ws.close()
