"""Two real ``muster serve`` processes on one PostgreSQL database: a broadcast sent
on one reaches a phone's socket on the other; that phone's acknowledgement, sent
to both at once (its offline queue flushed twice, the same nonce and new ones),
is counted once, and both processes answer the same receipts."""

from __future__ import annotations

import uuid
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


def test_an_ack_sent_to_two_processes_counts_once(pg_url: str, tmp_path: Any) -> None:
    env = {"MUSTER_DATABASE_URL": pg_url}
    first = start_server(tmp_path / "a", env)
    try:
        second = start_server(tmp_path / "b", env)
        second.token = first.token
        try:
            counted_once(first, second)
        finally:
            second.stop()
    finally:
        first.stop()


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
        member = ok(api.post(f"/api/v1/events/{e}/staff", json={"name": "李娜", "team": "安保"}))
        ok(api.post(f"/api/v1/events/{e}/staff", json={"name": "王强", "team": "物资"}))
        code = ok(api.post(f"/api/v1/staff/{member['id']}/pairing-codes", json={}))
        token = ok(api.post("/api/v1/devices/pair", json={"code": code["code"]}))["token"]

    with connect(second.ws_url(e), compression=None) as ws:
        hello = {"type": "hello", "token": token, "topics": ["broadcasts"], "since": {}}
        ws.send(orjson.dumps(hello).decode())
        until(ws, lambda m: m.get("topic") == "broadcasts" and m["type"] == "snapshot")
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
