"""Two real ``muster serve`` processes on one PostgreSQL database: a broadcast sent
on one reaches a phone's socket on the other; that phone's acknowledgement, sent
to both at once (its offline queue flushed twice, the same nonce and new ones),
is counted once, and both processes answer the same receipts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
from websockets.sync.client import connect

from tests.conftest import event_body
from tests.servers import LiveServer, start_server

WAIT = 15.0


def ok(answer: httpx.Response) -> Any:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def on_two_processes(
    pg_url: str, tmp_path: Any, run: Callable[[LiveServer, LiveServer], None]
) -> None:
    env = {"MUSTER_DATABASE_URL": pg_url}
    first = start_server(tmp_path / "a", env)
    try:
        second = start_server(tmp_path / "b", env)
        second.token = first.token
        try:
            run(first, second)
        finally:
            second.stop()
    finally:
        first.stop()


def test_an_ack_sent_to_two_processes_counts_once(pg_url: str, tmp_path: Any) -> None:
    on_two_processes(pg_url, tmp_path, counted_once)


def roster_phone(api: Any, e: int, name: str, team: str) -> tuple[dict[str, Any], str]:
    """A roster member and the token of a phone paired to them."""
    member = ok(api.post(f"/api/v1/events/{e}/staff", json={"name": name, "team": team}))
    code = ok(api.post(f"/api/v1/staff/{member['id']}/pairing-codes", json={}))
    return member, ok(api.post("/api/v1/devices/pair", json={"code": code["code"]}))["token"]


def hello_broadcasts(ws: Any, token: str) -> None:
    hello = {"type": "hello", "token": token, "topics": ["broadcasts"], "since": {}}
    ws.send(orjson.dumps(hello).decode())
    until(ws, lambda m: m.get("topic") == "broadcasts" and m["type"] == "snapshot")


def until(ws: Any, check: Any) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = orjson.loads(ws.recv(timeout=WAIT))
        if message["type"] == "ping":
            ws.send(orjson.dumps({"type": "pong"}).decode())
        elif check(message):
            return message


def counted_once(first: LiveServer, second: LiveServer) -> None:
    with first.api() as api:
        e = ok(api.post("/api/v1/events", json=event_body()))["id"]
        _member, token = roster_phone(api, e, "李娜", "安保")
        ok(api.post(f"/api/v1/events/{e}/staff", json={"name": "王强", "team": "物资"}))

    with connect(second.ws_url(e), compression=None) as ws:
        hello_broadcasts(ws, token)
        with first.api() as api:
            body = {
                "text_zh": "全体集合",
                "audience": {"teams": ["security"]},
                "priority": "urgent",
            }
            sent = ok(api.post(f"/api/v1/events/{e}/broadcasts", json=body))
        shown = until(ws, lambda m: m.get("topic") == "broadcasts" and m["type"] == "update")
        assert shown["data"]["broadcast"]["id"] == sent["id"]

    nonce = uuid.uuid4().hex
    nonces = [nonce] * 6 + [uuid.uuid4().hex for _ in range(6)]

    def ack(i: int) -> Any:
        server = (first, second)[i % 2]
        with server.api(token) as phone:
            return ok(phone.post(f"/api/v1/broadcasts/{sent['id']}/ack", json={"nonce": nonces[i]}))

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(ack, range(len(nonces))))
    assert sum(a["first"] for a in answers) == 1
    assert len({a["acked_at"] for a in answers}) == 1
    receipts = []
    for server in (first, second):
        with server.api() as api:
            receipts.append(ok(api.get(f"/api/v1/broadcasts/{sent['id']}"))["receipts"])
    assert receipts[0] == receipts[1]
    assert (receipts[0]["expected"], receipts[0]["acked"]) == (1, 1)


def test_a_member_moved_on_one_process_reaches_a_socket_on_the_other(
    pg_url: str, tmp_path: Any
) -> None:
    """The organiser moves 李娜 to Hall A on the first process; her socket on the
    second gets a broadcast to Hall A without reconnecting (the ``roster`` bus
    message makes its hub read her facts again before what follows)."""
    on_two_processes(pg_url, tmp_path, moved_across)


def moved_across(first: LiveServer, second: LiveServer) -> None:
    with first.api() as api:
        e = ok(api.post("/api/v1/events", json=event_body()))["id"]
        hall = ok(api.post(f"/api/v1/events/{e}/zones", json={"name": "Hall A"}))
        member, token = roster_phone(api, e, "李娜", "安保")
    with connect(second.ws_url(e), compression=None) as ws:
        hello_broadcasts(ws, token)
        with first.api() as api:
            ok(api.patch(f"/api/v1/staff/{member['id']}", json={"zone": hall["id"]}))
            body = {"text_en": "Hall A: water", "audience": {"zones": [hall["id"]]}}
            sent = ok(api.post(f"/api/v1/events/{e}/broadcasts", json=body))
        shown = until(ws, lambda m: m.get("topic") == "broadcasts" and m["type"] == "update")
        assert shown["data"]["broadcast"]["id"] == sent["id"]
