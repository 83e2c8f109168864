"""SQLite serves a busy door line: 64 doors at once, and another process
writing at the same time, never see "database is locked".

In process, every write goes through ``Database.write_lock``; against other
processes (a CLI import, say) the WAL journal and the busy timeout wait
instead of failing. This test runs the real HTTP app with 64 concurrent
doors, each ticket scanned twice from different doors, while a second
engine — standing in for another process, it does not share the lock —
keeps writing to the same file.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from server.auth import create_account
from server.db import Database
from server.models import Scan
from tests.conftest import Api

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

DOORS = 64
TICKETS = 160


async def test_sixty_four_doors_and_another_writer(
    ctx, organiser: Api, api_as, event, zone, gate, database_url: str
) -> None:
    issued = await organiser.post(
        f"/api/v1/events/{event['id']}/tickets",
        {"tickets": [{"holder_name": f"Guest {i}"} for i in range(TICKETS)]},
        expect=201,
    )
    secrets = [t["secret"] for t in issued["tickets"]]
    doors = [await api_as("door", event["id"], gate["id"]) for _ in range(8)]
    work: asyncio.Queue[str] = asyncio.Queue()
    for secret in secrets + secrets:  # every ticket twice
        work.put_nowait(secret)
    statuses: list[int] = []
    answers: Counter[str] = Counter()

    async def door(n: int) -> None:
        api = doors[n % len(doors)]
        while not work.empty():
            secret = work.get_nowait()
            response = await api.http.post(
                f"/api/v1/events/{event['id']}/scans",
                json={
                    "secret": secret,
                    "gate": gate["id"],
                    "direction": "in",
                    "nonce": uuid.uuid4().hex,
                    "scanned_at": datetime.now(UTC).isoformat(),
                },
                headers=api.headers,
            )
            statuses.append(response.status_code)
            body = response.json()
            answers[body.get("reason") or body.get("status")] += 1

    other_process = Database(database_url)
    stop = asyncio.Event()

    async def other_writer() -> int:
        writes = 0
        while not stop.is_set() and writes < 500:
            # Not through ctx.db: its lock would hide the contention.
            await create_account(other_process, "staff", event_id=event["id"], name=f"w{writes}")
            writes += 1
            await asyncio.sleep(0)
        return writes

    writer = asyncio.create_task(other_writer())
    try:
        await asyncio.gather(*(door(n) for n in range(DOORS)))
    finally:
        stop.set()
        writes = await writer
        await other_process.dispose()

    assert set(statuses) == {200}, Counter(statuses)
    assert answers == {"ok": TICKETS, "already_inside": TICKETS}
    assert writes > 0
    async with ctx.db.reading() as session:
        admitted = await session.scalar(
            select(func.count()).where(Scan.event_id == event["id"], Scan.status == "ok")
        )
    assert admitted == TICKETS
