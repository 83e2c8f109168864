"""Two real ``muster serve`` processes on one PostgreSQL database: a socket on
process A sees what happens through process B, with the same offsets, and a
client resumes on the other process exactly where it stopped.

Polling is set to 30 seconds, far beyond the waits here, so delivery within
them proves the NOTIFY wake-ups (and the gate-health hints) work.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from checkin.admitted import decode_admitted
from server.auth import create_account
from server.db import Database
from tests.conftest import Api, event_body
from tests.realtime.conftest import Client
from tests.servers import LiveServer, servers_on

#: Polling far beyond the waits here: delivery within them proves NOTIFY.
NOTIFY_ONLY = {"MUSTER_BUS_POLL_INTERVAL": "30", "MUSTER_STATE_UPDATES_PER_SECOND": "20"}


@pytest.fixture
def two_processes(pg_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    with servers_on(tmp_path, {"MUSTER_DATABASE_URL": pg_url, **NOTIFY_ONLY}) as (first, second):
        yield first, second


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url)
    yield database
    await database.dispose()


async def hello(
    url: str, token: str, topics: list[str], since: dict[str, Any] | None = None
) -> Client:
    client = Client(await connect(url, compression=None))
    await client.send({"type": "hello", "token": token, "topics": topics, "since": since or {}})
    return client


async def test_a_socket_on_one_process_sees_a_scan_made_through_the_other(
    two_processes: tuple[LiveServer, LiveServer], db: Database
) -> None:
    a, b = two_processes
    assert a.token, "the first process prints the organiser token"
    async with httpx.AsyncClient(timeout=10) as http:
        organiser = Api(http, a.token)
        event = await organiser.post(f"{a.base_url}/api/v1/events", event_body(), expect=201)
        eid = event["id"]
        zone = await organiser.post(
            f"{a.base_url}/api/v1/events/{eid}/zones",
            {"name": "Hall A", "capacity": 100},
            expect=201,
        )
        gate = await organiser.post(
            f"{a.base_url}/api/v1/events/{eid}/gates",
            {"name": "North door", "from_zone": None, "to_zone": zone["id"]},
            expect=201,
        )
        issued = await organiser.post(
            f"{a.base_url}/api/v1/events/{eid}/tickets",
            {"tickets": [{"holder_name": "王伟"}, {"holder_name": "李娜"}]},
            expect=201,
        )
        _account, command = await create_account(db, "command", event_id=eid)
        _account, door_token = await create_account(db, "door", event_id=eid, gate_id=gate["id"])
        door = Api(http, door_token)

        async def scan_through_b(ticket: dict[str, Any]) -> None:
            answer = await door.post(
                f"{b.base_url}/api/v1/events/{eid}/scans",
                {
                    "secret": ticket["secret"],
                    "gate": gate["id"],
                    "direction": "in",
                    "nonce": uuid.uuid4().hex,
                    "scanned_at": "2026-01-01T00:00:00+00:00",
                },
                expect=200,
            )
            assert answer["status"] in ("ok", "error")

        topics = ["headcount", "admissions", "gates"]
        on_a = await hello(a.ws_url(eid), command, topics)
        on_b = await hello(b.ws_url(eid), command, topics)
        for client in (on_a, on_b):
            await client.until(lambda m: m.get("topic") == "gates")
        snapshot_a = next(m for m in on_a.seen if m.get("topic") == "admissions")

        mark_a = len(on_a.seen)
        await scan_through_b(issued["tickets"][0])
        seen_a = await on_a.until(lambda m: m.get("topic") == "admissions")
        seen_b = await on_b.until(lambda m: m.get("topic") == "admissions")
        assert seen_a["data"]["ticket"] == issued["tickets"][0]["id"]
        # The same message, the same offset and epoch, on both processes.
        assert (seen_a["epoch"], seen_a["offset"]) == (seen_b["epoch"], seen_b["offset"])
        assert seen_a["epoch"] == snapshot_a["epoch"] and seen_a["offset"] > snapshot_a["offset"]
        # The headcount update may come before or after the admission. Its
        # gate's tally is A's own sum of the log, from the row A's reader read.
        await on_a.since(
            mark_a,
            lambda m: (
                m.get("topic") == "headcount"
                and m["data"]["inside"] == 1
                and m["data"]["gates"][0]["in"] == 1
                and sum(m["data"]["arrivals_per_minute"]["counts"]) == 0  # scanned in January
            ),
        )
        await on_a.since(
            mark_a,
            lambda m: (
                m.get("topic") == "gates"
                and (m["data"]["gates"][0]["in"], m["data"]["gates"][0]["scans_per_minute"])
                == (1, 1)
            ),
        )

        # Leave process A, miss a scan, come back on process B: exactly the gap.
        await on_a.ws.close()
        await scan_through_b(issued["tickets"][1])
        await on_b.until(lambda m: m.get("topic") == "admissions")
        since = {"admissions": {"epoch": seen_a["epoch"], "offset": seen_a["offset"]}}
        resumed = await hello(b.ws_url(eid), command, ["admissions"], since)
        resume = await resumed.until(lambda m: m.get("topic") == "admissions")
        assert resume["type"] == "resume" and resume["count"] == 1
        missed = await resumed.until(lambda m: m.get("topic") == "admissions")
        assert missed["data"]["ticket"] == issued["tickets"][1]["id"]

        # A door phone connected to A shows online on B's gate health.
        phone = Client(await connect(a.ws_url(eid)))
        await phone.ws.send(
            orjson.dumps({"type": "hello", "token": door_token, "topics": ["admissions"]}).decode()
        )
        await phone.until(lambda m: m.get("topic") == "admissions")
        await phone.send({"type": "status", "queue": 3})
        shown = await on_b.until(
            lambda m: (
                m.get("topic") == "gates"
                and any(d["online"] and d["queue"] == 3 for d in m["data"]["devices"])
            )
        )
        assert shown["data"]["gates"][0]["online"] == 1
        for client in (on_b, resumed, phone):
            await client.ws.close()


async def test_an_annul_through_one_process_reaches_the_doors_on_the_other(
    two_processes: tuple[LiveServer, LiveServer], db: Database
) -> None:
    """The annulment is a bus message woken by NOTIFY like the others, and a
    door joining the other process after it gets an admitted set without it."""
    a, b = two_processes
    async with httpx.AsyncClient(timeout=10) as http:
        organiser = Api(http, a.token)
        eid = (await organiser.post(f"{a.base_url}/api/v1/events", event_body(), expect=201))["id"]
        zone = await organiser.post(
            f"{a.base_url}/api/v1/events/{eid}/zones", {"name": "Hall A"}, expect=201
        )
        gate = await organiser.post(
            f"{a.base_url}/api/v1/events/{eid}/gates",
            {"name": "North door", "from_zone": None, "to_zone": zone["id"]},
            expect=201,
        )
        [ticket] = (
            await organiser.post(
                f"{a.base_url}/api/v1/events/{eid}/tickets",
                {"tickets": [{"holder_name": "王伟"}]},
                expect=201,
            )
        )["tickets"]
        _account, door_token = await create_account(db, "door", event_id=eid, gate_id=gate["id"])
        _account, command = await create_account(db, "command", event_id=eid)
        door = Api(http, door_token)
        topics = ["admissions", "annulments"]
        phone = await hello(a.ws_url(eid), door_token, topics)
        await phone.until(lambda m: m.get("topic") == "annulments")
        screen = await hello(a.ws_url(eid), command, ["headcount"])

        def gate_in(n: int) -> Callable[[dict[str, Any]], bool]:
            return lambda m: m.get("topic") == "headcount" and m["data"]["gates"][0]["in"] == n

        await screen.until(gate_in(0))

        nonce = uuid.uuid4().hex
        body = {
            "secret": ticket["secret"],
            "gate": gate["id"],
            "direction": "in",
            "nonce": nonce,
            "scanned_at": "2026-01-01T00:00:00+00:00",
        }
        await door.post(f"{b.base_url}/api/v1/events/{eid}/scans", body, expect=200)
        admitted = await phone.until(lambda m: m.get("topic") == "admissions")
        assert admitted["data"]["ticket"] == ticket["id"]
        await screen.until(gate_in(1))
        await door.post(f"{b.base_url}/api/v1/events/{eid}/scans/{nonce}/annul", {}, expect=200)
        annulled = await phone.until(lambda m: m.get("topic") == "annulments")
        assert annulled["type"] == "update"
        assert (annulled["data"]["ticket"], annulled["data"]["checked_in"]) == (ticket["id"], False)
        # A's sums of the log are counted again after the annulment B made.
        await screen.until(lambda m: gate_in(0)(m) and m["data"]["inside"] == 0)

        later = await hello(a.ws_url(eid), door_token, ["admissions"])
        snapshot = await later.until(lambda m: m.get("topic") == "admissions")
        assert decode_admitted(snapshot["data"]) == []
        for client in (phone, later, screen):
            await client.ws.close()
