"""Two real ``muster serve`` processes on one PostgreSQL database, each running its
task clock: overdue tasks are raised as alerts once, not once per process; a
change made on one reaches a phone's socket on the other; a tick sent to both at
once (the offline queue flushed twice, the same nonce and new ones) is one change."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from websockets.sync.client import connect

from tests.conftest import event_body
from tests.server.test_broadcast_processes import ok, until
from tests.servers import LiveServer, start_server

OVERDUE = 5


def test_overdue_once_and_changes_across_two_processes(pg_url: str, tmp_path: Any) -> None:
    env = {"MUSTER_DATABASE_URL": pg_url, "MUSTER_ESCALATION_CHECK_INTERVAL": "0.1"}
    first = start_server(tmp_path / "a", env)
    try:
        second = start_server(tmp_path / "b", env)
        second.token = first.token
        try:
            across(first, second)
        finally:
            second.stop()
    finally:
        first.stop()


def overdue_alerts(server: LiveServer, e: int) -> list[dict[str, Any]]:
    with server.api() as api:
        alerts = ok(api.get(f"/api/v1/events/{e}/alerts"))["alerts"]
    return [a for a in alerts if a["kind"] == "task_overdue"]


def across(first: LiveServer, second: LiveServer) -> None:
    with first.api() as api:
        e = ok(api.post("/api/v1/events", json=event_body()))["id"]
        member = ok(api.post(f"/api/v1/events/{e}/staff", json={"name": "李娜", "team": "安保"}))
        code = ok(api.post(f"/api/v1/staff/{member['id']}/pairing-codes", json={}))
        token = ok(api.post("/api/v1/devices/pair", json={"code": code["code"]}))["token"]
        mine = ok(
            api.post(
                f"/api/v1/events/{e}/tasks",
                json={"title": "signage", "staff": member["id"], "steps": ["north"]},
            )
        )

    with connect(second.ws_url(e), compression=None) as ws:
        hello = {"type": "hello", "token": token, "topics": ["tasks"], "since": {}}
        ws.send(orjson_text(hello))
        until(ws, lambda m: m.get("topic") == "tasks" and m["type"] == "snapshot")
        # Both clocks run every 0.1 s; five tasks due a minute ago.
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        with first.api() as api:
            for i in range(OVERDUE):
                ok(
                    api.post(
                        f"/api/v1/events/{e}/tasks",
                        json={"title": f"late {i}", "team": "security", "due_at": past},
                    )
                )
        overdue_on_socket(ws, OVERDUE)
        # One more, and its alert: by then each clock has looked at the first five again.
        with first.api() as api:
            marker = ok(
                api.post(
                    f"/api/v1/events/{e}/tasks",
                    json={"title": "marker", "team": "security", "due_at": past},
                )
            )
        assert marker["id"] in overdue_on_socket(ws, 1)
        alerts = overdue_alerts(second, e)
        assert len(alerts) == OVERDUE + 1
        assert len({a["data"]["task"] for a in alerts}) == OVERDUE + 1

    step = mine["steps"][0]["id"]
    nonce = uuid.uuid4().hex
    nonces = [nonce] * 6 + [uuid.uuid4().hex for _ in range(6)]

    def tick(i: int) -> Any:
        server = (first, second)[i % 2]
        with server.api(token) as phone:
            body = {"nonce": nonces[i], "steps": [{"id": step, "done": True}]}
            return ok(phone.patch(f"/api/v1/tasks/{mine['id']}", json=body))

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(tick, range(len(nonces))))
    # The same nonce answers once as new; the other six are changes that find it ticked.
    assert sum(not a["repeated"] for a in answers if a["nonce"] == nonce) == 1
    done_at = {a["task"]["steps"][0]["done_at"] for a in answers}
    assert len(done_at) == 1


def orjson_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def overdue_on_socket(ws: Any, n: int) -> set[int]:
    """The tasks of the next ``n`` distinct ``overdue`` messages on the socket."""
    seen: set[int] = set()
    while len(seen) < n:
        message = until(ws, lambda m: m.get("topic") == "tasks" and m["type"] == "update")
        if message["data"]["action"] == "overdue":
            seen.add(message["data"]["task"]["id"])
    return seen
