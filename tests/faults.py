"""A door rush against real ``muster serve`` processes, for the fault tests
(``tests/server/test_faults.py``) and ``bench/outage.py``.

Each door scans tickets nobody scanned before, one request at a time, each
with a fresh nonce, and retries the same nonce after a 5xx or a network
error (as a phone's outbox does) until it gets an answer or the rush ends.
Every attempt is recorded, so a test can count answers by status code and
check that each acknowledged scan is in the database exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from server.auth import create_account
from server.db import Database
from tests.conftest import Api, open_venue

#: Pause before a door retries a nonce (a phone's outbox retries with backoff;
#: fixed and short here so that the rush keeps pressing on the server).
RETRY_PAUSE = 0.05


@dataclass
class Venue:
    """An event with one zone and one gate, tickets, and a door token for the gate."""

    event_id: int
    zone_id: int
    gate_id: int
    door_token: str
    command_token: str
    tickets: list[dict[str, Any]]


async def make_venue(base_url: str, organiser_token: str, db_url: str, tickets: int) -> Venue:
    """Set up an event through the API; the door and command tokens through the database."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        event, zone, gate, issued = await open_venue(
            Api(http, organiser_token), tickets, capacity=100_000
        )
    eid = event["id"]
    db = Database(db_url)
    try:
        _a, door = await create_account(db, "door", event_id=eid, gate_id=gate["id"])
        _a, command = await create_account(db, "command", event_id=eid)
    finally:
        await db.dispose()
    return Venue(eid, zone["id"], gate["id"], door, command, issued)


@dataclass
class Attempt:
    """One request of a door: what came back, and when (monotonic seconds)."""

    ticket: int
    nonce: str
    status: int | str  # the HTTP status, or "network" (no answer)
    at: float
    base: str = ""  # the server asked
    took: float = 0.0  # seconds from sending to the answer (or the error)
    answer: dict[str, Any] | None = None
    retry_after: str | None = None
    code: str | None = None  # the error code of an error answer


@dataclass
class Rush:
    """``doors`` doors scanning the venue's tickets through ``base_urls`` (in turn)."""

    base_urls: Sequence[str]
    venue: Venue
    doors: int
    attempts: list[Attempt] = field(default_factory=list)
    #: Per ticket the first 200 answer (ticket id -> (nonce, answer)).
    acknowledged: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: Nonces whose door gave up when the rush ended (never answered).
    unanswered: list[str] = field(default_factory=list)
    started: float = 0.0

    async def run(self, seconds: float, stop: Callable[[], bool] | None = None) -> None:
        """Scan until ``seconds`` have passed, ``stop()`` says so, or the tickets run out."""
        self.started = time.monotonic()
        deadline = self.started + seconds
        queue = list(reversed(self.venue.tickets))
        limits = httpx.Limits(max_connections=self.doors * 2, max_keepalive_connections=self.doors)
        headers = {"Authorization": f"Bearer {self.venue.door_token}"}
        async with httpx.AsyncClient(timeout=10, limits=limits, headers=headers) as http:

            def done() -> bool:
                return time.monotonic() >= deadline or (stop is not None and stop())

            async def door(n: int) -> None:
                route = [n % len(self.base_urls)]  # a list: _scan moves the door on
                while queue and not done():
                    ticket = queue.pop()
                    if not await self._scan(http, route, ticket, done):
                        return

            await asyncio.gather(*(door(n) for n in range(self.doors)))

    async def _scan(
        self,
        http: httpx.AsyncClient,
        route: list[int],
        ticket: dict[str, Any],
        done: Callable[[], bool],
    ) -> bool:
        """One ticket at one door, the same nonce until answered; False if the rush
        ended first. After a network error the door tries the next server (as a
        load balancer in front of several processes would)."""
        nonce = uuid.uuid4().hex
        body = {
            "secret": ticket["secret"],
            "gate": self.venue.gate_id,
            "direction": "in",
            "nonce": nonce,
        }
        path = f"/api/v1/events/{self.venue.event_id}/scans"
        while True:
            base = self.base_urls[route[0]]
            sent = time.monotonic()
            try:
                response = await http.post(base + path, json=body)
            except httpx.HTTPError:
                now = time.monotonic()
                self.attempts.append(
                    Attempt(ticket["id"], nonce, "network", now, base=base, took=now - sent)
                )
                route[0] = (route[0] + 1) % len(self.base_urls)
            else:
                now = time.monotonic()
                attempt = Attempt(
                    ticket["id"],
                    nonce,
                    response.status_code,
                    now,
                    base=base,
                    took=now - sent,
                    retry_after=response.headers.get("retry-after"),
                )
                self.attempts.append(attempt)
                if response.status_code == 200:
                    attempt.answer = response.json()
                    self.acknowledged.setdefault(ticket["id"], (nonce, attempt.answer))
                    return True
                if response.headers.get("content-type", "").startswith("application/json"):
                    attempt.code = response.json().get("error", {}).get("code")
                if response.status_code < 500:
                    return True  # a refusal of the request: retrying changes nothing
            if done():
                self.unanswered.append(nonce)
                return False
            await asyncio.sleep(RETRY_PAUSE)

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter[int | str]:
        """Attempts by status between two moments."""
        return Counter(a.status for a in self.attempts if since <= a.at < until)

    def admitted(self) -> set[int]:
        """Tickets whose acknowledged answer admitted them."""
        return {t for t, (_n, answer) in self.acknowledged.items() if answer["status"] == "ok"}


async def scan_log(db_url: str, event_id: int) -> list[tuple[str, int | None, str]]:
    """Every (nonce, ticket, status) the scan log of an event holds."""
    from sqlalchemy import select

    from server.models import Scan

    db = Database(db_url)
    try:
        async with db.reading() as session:
            rows = await session.execute(
                select(Scan.nonce, Scan.ticket_id, Scan.status).where(Scan.event_id == event_id)
            )
            return [(n, t, s) for n, t, s in rows.all()]
    finally:
        await db.dispose()


def check_nothing_lost_or_doubled(rush: Rush, log: list[tuple[str, int | None, str]]) -> set[int]:
    """Assert the scan log against what the doors were told; the tickets admitted.

    Every acknowledged scan is in the log under its nonce with the answer the
    door got; no nonce is logged twice; no ticket is admitted twice; every
    logged nonce is one a door sent.
    """
    by_nonce: dict[str, tuple[int | None, str]] = {}
    for nonce, ticket, status in log:
        assert nonce not in by_nonce, f"nonce {nonce} logged twice"
        by_nonce[nonce] = (ticket, status)
    for ticket, (nonce, answer) in rush.acknowledged.items():
        assert by_nonce.get(nonce) == (ticket, answer["status"]), (
            f"acknowledged scan of ticket {ticket} ({nonce}) not in the log as answered"
        )
    sent = {a.nonce for a in rush.attempts}
    assert set(by_nonce) <= sent, "the log holds scans no door sent"
    admitted = [ticket for ticket, status in by_nonce.values() if status == "ok"]
    assert len(admitted) == len(set(admitted)), "a ticket was admitted twice"
    assert rush.admitted() <= set(admitted)
    return {t for t in admitted if t is not None}


async def headcount_inside(base_url: str, token: str, event_id: int) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await Api(http, token).get(f"{base_url}/api/v1/events/{event_id}/headcount")
    return int(answer["inside"])
