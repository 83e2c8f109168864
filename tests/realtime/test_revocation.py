"""Revoking a token cuts it off at once, websocket included, on SQLite and PostgreSQL:
``GET /api/v1/tokens`` lists every kind without a secret, ``POST …/revoke``
refuses the token on the next request even with a long token cache, and its
open socket is closed with 4401 within a second (``server.features.tokens``,
``realtime.hub.Hub.on_revoked``). Two real processes: test_cross_process.py.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from server.settings import Settings
from tests.realtime.conftest import Open, Served, make_venue

#: Far beyond the waits here: a refusal proves the cache was dropped, not aged.
LONG_CACHE = 300.0


@pytest.fixture
def realtime_settings(settings: Settings) -> Settings:
    return replace(
        settings,
        token_cache_seconds=LONG_CACHE,
        state_updates_per_second=20.0,
        bus_poll_interval=30.0,  # delivery within the waits proves the wake-up
        bus_notify_interval=0.02,
    )


async def closed_within(client: Any, seconds: float) -> int | None:
    started = time.monotonic()
    code: int | None = await client.close_code(wait=5)
    assert time.monotonic() - started < seconds, "the socket stayed open"
    return code


async def test_tokens_are_listed_without_secrets(served: Served) -> None:
    venue = await make_venue(served)
    door = await served.token("door", venue.event_id, venue.gate_id)
    listed = (await venue.organiser.get("/api/v1/tokens"))["tokens"]
    kinds = {(t["role"], t["kind"]) for t in listed}
    assert {("organiser", "token"), ("door", "token")} <= kinds
    text = str(listed)
    assert door not in text and venue.organiser.token not in text
    assert all("token_hash" not in t and "token" not in t for t in listed)
    assert [t["yours"] for t in listed].count(True) == 1
    await served.api(door).get("/api/v1/tokens", expect=403)
    bound = await served.token("organiser", venue.event_id)
    await served.api(bound).get("/api/v1/tokens", expect=403)


async def test_a_revoked_token_is_refused_at_once_and_its_socket_closed_4401(
    served: Served, open_socket: Open
) -> None:
    venue = await make_venue(served)
    command = await served.token("command", venue.event_id)
    watcher = await served.token("command", venue.event_id)
    phone = served.api(command)
    await phone.get(f"/api/v1/events/{venue.event_id}/headcount")  # cached now
    socket = await open_socket(venue.event_id, command, ["headcount", "alerts"])
    other = await open_socket(venue.event_id, watcher, ["headcount"])
    await socket.until(lambda m: m.get("topic") == "alerts")
    await other.until(lambda m: m.get("topic") == "headcount")
    listed = (await venue.organiser.get("/api/v1/tokens"))["tokens"]
    target = min(t["id"] for t in listed if t["role"] == "command")  # the first: ``command``
    answer = await venue.organiser.post(f"/api/v1/tokens/{target}/revoke", expect=200)
    assert answer["revoked_at"] is not None
    await phone.get(f"/api/v1/events/{venue.event_id}/headcount", expect=401)
    assert await closed_within(socket, 1.0) == 4401
    # Another token's socket stays open.
    await other.send({"type": "ping", "t": 1})
    await other.until(lambda m: m.get("type") == "pong")
    # Revoking twice changes nothing; an unknown id is 404; one's own token is refused.
    await venue.organiser.post(f"/api/v1/tokens/{target}/revoke", expect=200)
    await venue.organiser.post("/api/v1/tokens/999999/revoke", expect=404)
    mine = next(t["id"] for t in listed if t["yours"])
    own = await venue.organiser.post(f"/api/v1/tokens/{mine}/revoke", expect=409)
    assert own["error"]["code"] == "own_token"


async def test_an_unpaired_phone_is_cut_off_at_once(served: Served, open_socket: Open) -> None:
    venue = await make_venue(served)
    base = f"/api/v1/events/{venue.event_id}"
    made = await venue.organiser.post(
        f"{base}/pairing-codes", {"role": "door", "gate": venue.gate_id}, expect=201
    )
    claim = await served.http.post("/api/v1/devices/pair", json={"code": made["code"]})
    assert claim.status_code == 201, claim.text
    paired = claim.json()
    phone = served.api(paired["token"])
    await phone.get(f"{base}/offline-bundle")
    socket = await open_socket(venue.event_id, paired["token"], ["admissions", "headcount"])
    await socket.until(lambda m: m.get("topic") == "headcount")
    await venue.organiser.post(f"{base}/devices/{paired['device']['id']}/revoke", expect=200)
    await phone.get(f"{base}/offline-bundle", expect=401)
    assert await closed_within(socket, 1.0) == 4401
    # A new socket with it is refused at the hello.
    again = await open_socket(venue.event_id, paired["token"], ["headcount"])
    assert await asyncio.wait_for(again.close_code(), 5) == 4401


async def test_a_member_taken_off_the_roster_is_cut_off_at_once(
    served: Served, open_socket: Open
) -> None:
    venue = await make_venue(served)
    member = await venue.organiser.post(
        f"/api/v1/events/{venue.event_id}/staff", {"name": "赵磊", "team": "tech"}, expect=201
    )
    made = await venue.organiser.post(f"/api/v1/staff/{member['id']}/pairing-codes", {}, expect=201)
    claim = await served.http.post("/api/v1/devices/pair", json={"code": made["code"]})
    assert claim.status_code == 201, claim.text
    token = claim.json()["token"]
    socket = await open_socket(venue.event_id, token, ["headcount"])
    await socket.until(lambda m: m.get("topic") == "headcount")
    await venue.organiser.call("DELETE", f"/api/v1/staff/{member['id']}", expect=200)
    await served.api(token).get("/api/v1/devices/me", expect=401)
    assert await closed_within(socket, 1.0) == 4401


async def test_a_member_re_paired_on_a_new_phone_loses_the_old_one_at_once(
    served: Served, open_socket: Open
) -> None:
    """A lost phone is the usual reason to re-pair: the new phone's claim
    revokes the person's earlier phones (401, socket closed 4401), unless the
    code was made with ``keep_other_phones`` (a supervisor's second phone)."""
    venue = await make_venue(served)
    member = await venue.organiser.post(
        f"/api/v1/events/{venue.event_id}/staff",
        {
            "name": "李娜",
            "team": "security",
            "role": "door",
            "gate": venue.gate_id,
            "supervisor": True,
        },
        expect=201,
    )
    url = f"/api/v1/staff/{member['id']}/pairing-codes"

    async def pair(body: dict[str, Any]) -> str:
        made = await venue.organiser.post(url, body, expect=201)
        claim = await served.http.post("/api/v1/devices/pair", json={"code": made["code"]})
        assert claim.status_code == 201, claim.text
        token: str = claim.json()["token"]
        return token

    lost = await pair({})
    socket = await open_socket(venue.event_id, lost, ["headcount"])
    await socket.until(lambda m: m.get("topic") == "headcount")
    await served.api(lost).get("/api/v1/devices/me", expect=200)  # cached now
    new = await pair({})
    await served.api(lost).get("/api/v1/devices/me", expect=401)
    assert await closed_within(socket, 1.0) == 4401
    await served.api(new).get("/api/v1/devices/me", expect=200)

    # A second phone made to keep the others: both stay, socket included.
    kept = await open_socket(venue.event_id, new, ["headcount"])
    await kept.until(lambda m: m.get("topic") == "headcount")
    second = await pair({"keep_other_phones": True})
    await served.api(second).get("/api/v1/devices/me", expect=200)
    await served.api(new).get("/api/v1/devices/me", expect=200)
    await kept.send({"type": "ping", "t": 1})
    await kept.until(lambda m: m.get("type") == "pong")
    devices = (await venue.organiser.get(f"/api/v1/events/{venue.event_id}/devices"))["devices"]
    live = [d for d in devices if d["staff"] == member["id"] and d.get("revoked_at") is None]
    assert len(live) == 2
