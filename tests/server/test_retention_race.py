"""Many shredders at once: the claim lets exactly one run the shred — and a
claim without its guard (read, then update unconditionally) does not."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from server.db import Database
from server.features.retention import claim, event_clock, shred
from server.features.retention_rules import claimable
from server.models import AuditEntry, Event, utcnow
from tests.conftest import event_body

SHREDDERS = 12


async def unguarded_claim(db: Database, event_id: int, now) -> bool:
    async with db.reading() as session:
        event = await session.get(Event, event_id)
        assert event is not None
        free = claimable(event_clock(event), now)
    await asyncio.sleep(0)  # another shredder runs here, as it would on a busy server
    if free:
        async with db.writing() as session:
            await session.execute(
                update(Event).where(Event.id == event_id).values(shred_claimed_at=now)
            )
    return free


async def race(db: Database, event_id: int, take) -> int:
    ran = 0
    now = utcnow()

    async def shredder() -> None:
        nonlocal ran
        if await take(db, event_id, now):
            ran += 1
            await shred(db, event_id, now=now)

    await asyncio.gather(*(shredder() for _ in range(SHREDDERS)))
    return ran


async def shred_entries(db: Database, event_id: int) -> int:
    async with db.reading() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.event_id == event_id, AuditEntry.action == "shred")
        )
        return len(rows.all())


async def test_concurrent_shredders_run_the_shred_once(organiser, ctx):
    event = await organiser.post("/api/v1/events", event_body(), expect=201)
    assert await race(ctx.db, event["id"], claim) == 1
    assert await shred_entries(ctx.db, event["id"]) == 1


async def test_without_the_guard_several_run_it(organiser, ctx):
    event = await organiser.post("/api/v1/events", event_body(), expect=201)
    assert await race(ctx.db, event["id"], unguarded_claim) > 1
    # The finishing step's own guard still records it once.
    assert await shred_entries(ctx.db, event["id"]) == 1
