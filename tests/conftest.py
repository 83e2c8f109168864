"""Fixtures shared by every suite.

Database tests run twice, on SQLite and on PostgreSQL (127.0.0.1:5432, or
``MUSTER_TEST_PG``). Each test gets a database of its own, cloned from a
migrated template, and dropped afterwards. Without a reachable PostgreSQL
the PostgreSQL half is skipped, except in CI (``CI=true``), where it fails.

Fixtures chain small pieces: ``app`` → ``client`` → ``organiser`` →
``event`` → ``zone`` → ``gate`` → ``ticket``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from server.app import create_app
from server.auth import create_account
from server.context import Muster
from server.migrate import upgrade
from server.settings import Settings, load_settings
from tests import pgcluster
from tests.pgcluster import PgCluster

PG_DSN = os.environ.get("MUSTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_base() -> str:
    return PG_DSN.rsplit("/", 1)[0]


def sqlalchemy_pg_url(dbname: str) -> str:
    return f"{_pg_base()}/{dbname}".replace("postgresql://", "postgresql+asyncpg://", 1)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_available() -> bool:
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {PG_DSN}: {exc}")
        return False
    return True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: they are the slowest, and the rest give a
    quick verdict first."""
    for item in items:
        if item.path.parent.name == "browser":
            item.add_marker(pytest.mark.browser)
    items.sort(key=lambda item: item.path.parent.name == "browser")


class TemplateDatabases:
    """Migrated template databases, made once per test session."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.tag = uuid.uuid4().hex[:8]
        self.sqlite_template: Path | None = None
        self.pg_template: str | None = None

    def sqlite(self) -> Path:
        if self.sqlite_template is None:
            path = self.tmp / "template.db"
            asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
            self.sqlite_template = path
        return self.sqlite_template

    def postgres(self) -> str:
        if self.pg_template is None:
            name = f"muster_tpl_{self.tag}"
            asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
            asyncio.run(upgrade(sqlalchemy_pg_url(name)))
            self.pg_template = name
        return self.pg_template

    def drop(self) -> None:
        if self.pg_template is not None:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_template}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemplateDatabases]:
    found = TemplateDatabases(tmp_path_factory.mktemp("db"))
    yield found
    found.drop()


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _pg_available()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, templates: TemplateDatabases, pg_available: bool, tmp_path: Path
) -> Iterator[str]:
    """A fresh, migrated database for one test, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "muster.db"
        shutil.copy(templates.sqlite(), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable")
    with postgres_clone(templates) as url:
        yield url


@pytest.fixture
def pg_url(templates: TemplateDatabases, pg_available: bool) -> Iterator[str]:
    """A PostgreSQL database of its own (for tests of several processes on one)."""
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable")
    with postgres_clone(templates) as url:
        yield url


@contextlib.contextmanager
def postgres_clone(templates: TemplateDatabases) -> Iterator[str]:
    """A PostgreSQL database cloned from the migrated template; dropped after."""
    name = f"muster_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{templates.postgres()}"'))
    try:
        yield sqlalchemy_pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    base = load_settings({"MUSTER_DATA_DIR": str(tmp_path)})
    from starlette.datastructures import Secret

    return replace(base, database_url=Secret(database_url), token_cache_seconds=0.0)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def ctx(app: Starlette) -> Muster:
    found: Muster = app.state.muster
    return found


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://muster.test") as http:
        yield http


class Api:
    """An HTTP client that sends one bearer token and checks status codes."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, expect: int | None = None, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = await self.http.request(method, path, headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response

    async def get(self, path: str, expect: int | None = 200, **kw: Any) -> Any:
        return await self.call("GET", path, expect, **kw)

    async def post(self, path: str, json: Any = None, expect: int | None = None, **kw: Any) -> Any:
        return await self.call("POST", path, expect, json=json, **kw)

    async def patch(self, path: str, json: Any = None, expect: int | None = 200, **kw: Any) -> Any:
        return await self.call("PATCH", path, expect, json=json, **kw)


async def token_for(
    ctx: Muster, role: str, event_id: int | None = None, gate_id: int | None = None
) -> str:
    _account, token = await create_account(
        ctx.db, role, event_id=event_id, gate_id=gate_id, name=role
    )
    return token


@pytest.fixture
async def organiser(ctx: Muster, client: httpx.AsyncClient) -> Api:
    return Api(client, await token_for(ctx, "organiser"))


@pytest.fixture
async def api_as(ctx: Muster, client: httpx.AsyncClient) -> Any:
    """``await api_as(role, event_id, gate_id)`` → an Api with a new token of that role."""

    async def make(role: str, event_id: int | None = None, gate_id: int | None = None) -> Api:
        return Api(client, await token_for(ctx, role, event_id, gate_id))

    return make


def event_body(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {
        "name": "新品发布会 2026",
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=8)).isoformat(),
        "timezone": "Asia/Shanghai",
    }
    body.update(overrides)
    return body


@pytest.fixture
async def event(organiser: Api) -> dict[str, Any]:
    created: dict[str, Any] = await organiser.post("/api/v1/events", event_body(), expect=201)
    return created


@pytest.fixture
async def zone(organiser: Api, event: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = await organiser.post(
        f"/api/v1/events/{event['id']}/zones", {"name": "Hall A", "capacity": 2000}, expect=201
    )
    return created


@pytest.fixture
async def gate(organiser: Api, event: dict[str, Any], zone: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = await organiser.post(
        f"/api/v1/events/{event['id']}/gates",
        {"name": "North door", "from_zone": None, "to_zone": zone["id"]},
        expect=201,
    )
    return created


@pytest.fixture
async def ticket(organiser: Api, event: dict[str, Any], gate: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = await organiser.post(
        f"/api/v1/events/{event['id']}/tickets",
        {"holder_name": "王伟", "holder_email": "wang@example.com"},
        expect=201,
    )
    return created


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster of this test's own (``tests/pgcluster.py``),
    for tests that stop, restart or kill the database."""
    if not pgcluster.available():
        if IN_CI:
            pytest.fail(f"PostgreSQL binaries are required in CI: none in {pgcluster.PG_BIN}")
        pytest.skip(f"no PostgreSQL binaries in {pgcluster.PG_BIN}")
    with pgcluster.throwaway_cluster() as cluster:
        yield cluster


async def open_venue(
    organiser: Api, tickets: int = 0, capacity: int = 2000
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """An event with one zone, one gate into it from outside, and ``tickets``
    tickets, made through the API: (event, zone, gate, tickets)."""
    event = await organiser.post("/api/v1/events", event_body(), expect=201)
    eid = event["id"]
    zone = await organiser.post(
        f"/api/v1/events/{eid}/zones", {"name": "Hall A", "capacity": capacity}, expect=201
    )
    gate = await organiser.post(
        f"/api/v1/events/{eid}/gates",
        {"name": "North door", "from_zone": None, "to_zone": zone["id"]},
        expect=201,
    )
    issued: list[dict[str, Any]] = []
    if tickets:
        answer = await organiser.post(
            f"/api/v1/events/{eid}/tickets",
            {"tickets": [{"holder_name": f"嘉宾 {i}"} for i in range(tickets)]},
            expect=201,
        )
        issued = answer["tickets"]
    return event, zone, gate, issued
