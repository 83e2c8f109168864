"""Rate limits on failed token authentications and pairing claims, on both databases.

Counted per client address in the shared database (``server.rate_limits``):
a guesser gets 429 with ``Retry-After``; a valid token, from anywhere, is
never refused; the window passes and the count starts again.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server.context import Muster
from server.db import Database
from server.errors import TooManyRequests
from server.rate_limits import RateLimiter
from tests.conftest import Api

GUESSER = "203.0.113.5"


@pytest.fixture
async def client_at(app: Starlette) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """``client_at(address)``: an HTTP client whose requests come from that address."""
    opened: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://muster.test")
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


@pytest.fixture
def clock(ctx: Muster) -> list[float]:
    """The limiter's wall clock, at the start of a window; tests move ``clock[0]``."""
    now = [1_800_000_000.0]  # a multiple of 60
    ctx.limits.clock = lambda: now[0]
    return now


def assert_limited(response: httpx.Response, at_most: int = 60) -> None:
    assert response.status_code == 429, (response.status_code, response.text)
    assert response.json()["error"]["code"] == "rate_limited"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= at_most
    assert response.json()["error"]["details"] == {"retry_after": retry_after}


async def guess_tokens(http: httpx.AsyncClient, count: int) -> list[httpx.Response]:
    return [
        await http.get(
            "/api/v1/events", headers={"Authorization": f"Bearer mst_{secrets.token_urlsafe(32)}"}
        )
        for _ in range(count)
    ]


async def scan_in(
    door: Api, event: dict[str, Any], gate: dict[str, Any], ticket: dict[str, Any]
) -> Any:
    """One scan in at the gate: answered (200) whatever the decision."""
    return await door.post(
        f"/api/v1/events/{event['id']}/scans",
        {
            "secret": ticket["secret"],
            "gate": gate["id"],
            "direction": "in",
            "nonce": uuid.uuid4().hex,
            "scanned_at": "2026-12-01T09:01:02+08:00",
        },
        expect=200,
    )


async def test_200_token_guesses_get_429(
    ctx: Muster,
    client_at: Callable[[str], httpx.AsyncClient],
    organiser: Api,
    clock: list[float],
) -> None:
    limit = ctx.settings.auth_failures_per_minute
    clock[0] += 15
    answers = await guess_tokens(client_at(GUESSER), 200)
    assert [r.status_code for r in answers[:limit]] == [401] * limit
    for response in answers[limit:]:
        assert_limited(response, at_most=45)
    # The right token from another address works; so does one from the guesser's.
    await organiser.get("/api/v1/events")
    await Api(client_at(GUESSER), organiser.token).get("/api/v1/events")
    # Asking with no token at all is not a guess: still 401.
    assert (await client_at("198.51.100.9").get("/api/v1/events")).status_code == 401


async def test_a_door_at_a_limited_address_keeps_admitting(
    ctx: Muster,
    client_at: Callable[[str], httpx.AsyncClient],
    api_as: Any,
    event: dict[str, Any],
    gate: dict[str, Any],
    ticket: dict[str, Any],
    clock: list[float],
) -> None:
    # A lost phone with a revoked token behind the venue's one NAT address…
    answers = await guess_tokens(client_at(GUESSER), ctx.settings.auth_failures_per_minute + 5)
    assert_limited(answers[-1])
    # …does not stop the door phones behind the same address.
    door = await api_as("door", event["id"], gate["id"])
    at_door = Api(client_at(GUESSER), door.token)
    scan = await scan_in(at_door, event, gate, ticket)
    assert scan["status"] in ("ok", "error")  # an answer, never a 429


async def test_the_window_passes(
    ctx: Muster, client_at: Callable[[str], httpx.AsyncClient], clock: list[float]
) -> None:
    limit = ctx.settings.auth_failures_per_minute
    guesser = client_at(GUESSER)
    answers = await guess_tokens(guesser, limit + 1)
    assert_limited(answers[-1])
    clock[0] += 59.5
    assert_limited((await guess_tokens(guesser, 1))[0], at_most=1)
    clock[0] += 0.5  # the next minute
    assert [r.status_code for r in await guess_tokens(guesser, limit)] == [401] * limit
    assert_limited((await guess_tokens(guesser, 1))[0])


async def test_pairing_guesses_get_429_and_used_codes_look_unknown(
    ctx: Muster,
    client_at: Callable[[str], httpx.AsyncClient],
    organiser: Api,
    event: dict[str, Any],
    clock: list[float],
) -> None:
    limit = ctx.settings.pairing_claims_per_minute
    base = f"/api/v1/events/{event['id']}/pairing-codes"
    guesser = client_at(GUESSER)
    used = (await organiser.post(base, {"role": "door"}, expect=201))["code"]
    assert (
        await client_at("198.51.100.1").post("/api/v1/devices/pair", json={"code": used})
    ).status_code == 201
    unknown = await guesser.post("/api/v1/devices/pair", json={"code": "ZZZZZZZZ"})
    again = await guesser.post("/api/v1/devices/pair", json={"code": used})
    assert unknown.status_code == again.status_code == 404 and unknown.json() == again.json()
    answers = [
        await guesser.post("/api/v1/devices/pair", json={"code": f"{n:08d}"}) for n in range(198)
    ]
    assert [r.status_code for r in answers[: limit - 2]] == [404] * (limit - 2)
    for response in answers[limit - 2 :]:
        assert_limited(response)
    # Past the limit a right code is refused like a wrong one…
    good = (await organiser.post(base, {"role": "door"}, expect=201))["code"]
    assert_limited(await guesser.post("/api/v1/devices/pair", json={"code": good}))
    # …and works from elsewhere.
    other = await client_at("198.51.100.2").post("/api/v1/devices/pair", json={"code": good})
    assert other.status_code == 201


async def test_pairing_many_phones_from_one_address_is_not_limited(
    ctx: Muster,
    client_at: Callable[[str], httpx.AsyncClient],
    organiser: Api,
    event: dict[str, Any],
    clock: list[float],
) -> None:
    venue = client_at(GUESSER)
    for _ in range(ctx.settings.pairing_claims_per_minute + 5):
        code = (
            await organiser.post(
                f"/api/v1/events/{event['id']}/pairing-codes", {"role": "staff"}, expect=201
            )
        )["code"]
        assert (await venue.post("/api/v1/devices/pair", json={"code": code})).status_code == 201


async def test_processes_share_one_count(ctx: Muster, database_url: str) -> None:
    """Two limiters on one database (two ``muster serve`` processes) meet one limit."""
    other_db = Database(database_url)
    try:
        limiters = [
            RateLimiter(db, auth_failures=10, pairing_claims=10, clock=lambda: 1_800_000_030.0)
            for db in (ctx.db, other_db)
        ]
        for n in range(10):
            await limiters[n % 2].count(limiters[n % 2].auth_failures, GUESSER)
        for limiter in limiters:
            with pytest.raises(TooManyRequests) as refused:
                await limiter.count(limiter.auth_failures, GUESSER)
            assert refused.value.retry_after == 30
        # Another address has its own count.
        await limiters[1].count(limiters[1].auth_failures, "198.51.100.3")
    finally:
        await other_db.dispose()


async def test_door_lookups_are_limited_per_token_and_scans_never(
    ctx: Muster,
    api_as: Any,
    organiser: Api,
    event: dict[str, Any],
    gate: dict[str, Any],
    ticket: dict[str, Any],
    clock: list[float],
) -> None:
    limit = ctx.settings.door_lookups_per_minute
    search = f"/api/v1/events/{event['id']}/tickets?q=Wang"
    door = await api_as("door", event["id"], gate["id"])
    for _ in range(limit):
        await door.get(search)
    assert_limited(await door.http.get(search, headers=door.headers))
    # The same phone keeps scanning; another door and the organiser keep looking up.
    scan = await scan_in(door, event, gate, ticket)
    assert scan["status"] in ("ok", "error")
    await (await api_as("door", event["id"], gate["id"])).get(search)
    for _ in range(limit + 5):
        await organiser.get(search)
    clock[0] += 60
    await door.get(search)
