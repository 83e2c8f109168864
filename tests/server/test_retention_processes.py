"""The retention clock with two real ``muster serve`` processes on PostgreSQL:
an event past its retention is shredded once, nothing of its attendees is
left in any table, its report is unchanged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TemplateDatabases, postgres_clone
from tests.server.retention_seed import (
    SEEDED,
    count_rows,
    find_in_database,
    past_retention,
    scan_body,
    seed_event,
)
from tests.servers import start_server


@pytest.fixture
def pg_url(templates: TemplateDatabases, pg_available: bool) -> Iterator[str]:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable")
    with postgres_clone(templates) as url:
        yield url


async def seed_over_http(base_url: str, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as api:

        def check(response: httpx.Response) -> Any:
            assert response.status_code < 300, (response.request.url, response.text)
            return response.json()

        async def post(path: str, body: Any, token: str | None = None) -> Any:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return check(await api.post(path, json=body, headers=headers))

        async def patch(path: str, body: Any) -> Any:
            return check(await api.patch(path, json=body))

        async def get(path: str) -> Any:
            return check(await api.get(path))

        return await seed_event(post, patch, get)


def wait_shredded(api: httpx.Client, event_id: int, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        event = api.get(f"/api/v1/events/{event_id}").json()
        if event["shredded_at"] is not None:
            return dict(event)
        time.sleep(0.1)
    raise AssertionError("the event was not shredded in time")


def test_two_processes_shred_an_event_past_its_retention_once(pg_url, tmp_path):
    env = {
        "MUSTER_DATABASE_URL": pg_url,
        "MUSTER_RETENTION_CHECK_INTERVAL": "0.2",
    }
    first = start_server(tmp_path / "a", env)
    try:
        second = start_server(tmp_path / "b", env)
        second.token = first.token
        try:
            with first.api() as a, second.api() as b:
                seed = asyncio.run(seed_over_http(first.base_url, first.token))
                eid, gate = seed["event"]["id"], seed["gate"]["id"]
                assert asyncio.run(find_in_database(pg_url, SEEDED))
                report = a.get(f"/api/v1/events/{eid}/report").json()
                # Past its retention from now on: both clocks see it due.
                b.patch(f"/api/v1/events/{eid}", json=past_retention(seed["event"]))
                wait_shredded(a, eid)
                assert a.get(f"/api/v1/events/{eid}/report").json() == report
                trail = a.get(f"/api/v1/events/{eid}/audit").json()["entries"]
                refused = b.post(
                    f"/api/v1/events/{eid}/scans",
                    json=scan_body(seed["tickets"][2]["secret"], gate),
                ).json()
        finally:
            second.stop()
    finally:
        first.stop()
    assert [e["action"] for e in trail] == ["shred"]
    # The 3 holders' tickets, the walk-in's and the 19 blanks its phone still held.
    assert trail[0]["actor"] is None and trail[0]["data"]["tickets"] == 3 + 20
    assert (refused["status"], refused["reason"]) == ("error", "retired")
    assert asyncio.run(find_in_database(pg_url, SEEDED)) == []
    # Both clocks went on looking until the processes stopped: still one shred.
    assert asyncio.run(count_rows(pg_url, "audit_entries")) == 1
