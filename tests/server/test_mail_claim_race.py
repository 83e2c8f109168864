"""Many senders claiming at once take each queued mail exactly once — and a
claim without its guard (read, then update unconditionally) does not."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select, update

from server.db import Database
from server.features.mail_sender import claim_next
from server.features.mailings import MailingRequest, create_mailing
from server.models import MailDelivery, utcnow
from tests.conftest import event_body

TICKETS = 120
CLAIMERS = 16


async def queued_mailing(organiser, ctx) -> int:
    event = await organiser.post("/api/v1/events", event_body(), expect=201)
    people = [{"holder_name": f"G{i}", "holder_email": f"g{i}@example.com"} for i in range(TICKETS)]
    await organiser.post(f"/api/v1/events/{event['id']}/tickets", {"tickets": people}, expect=201)
    mailing, queued = await create_mailing(ctx.db, event["id"], MailingRequest("unsent"), None)
    assert queued == TICKETS
    return mailing.id


async def unguarded_claim(db: Database) -> int | None:
    """The claim without its guard: read the oldest queued row, then mark it."""
    async with db.reading() as session:
        found = await session.scalar(
            select(MailDelivery.id)
            .where(MailDelivery.status == "queued")
            .order_by(MailDelivery.id)
            .limit(1)
        )
    if found is None:
        return None
    await asyncio.sleep(0)  # another sender runs here, as it would on a busy server
    async with db.writing() as session:
        await session.execute(
            update(MailDelivery).where(MailDelivery.id == found).values(status="sending")
        )
    return int(found)


async def claim_all(claim) -> Counter[int]:
    claimed: Counter[int] = Counter()

    async def claimer() -> None:
        while (found := await claim()) is not None:
            claimed[found] += 1

    await asyncio.gather(*(claimer() for _ in range(CLAIMERS)))
    return claimed


async def test_concurrent_claims_take_each_mail_once(organiser, ctx):
    await queued_mailing(organiser, ctx)

    async def guarded() -> int | None:
        found = await claim_next(ctx.db, utcnow())
        return None if found is None else found.delivery_id

    claimed = await claim_all(guarded)
    assert len(claimed) == TICKETS
    assert max(claimed.values()) == 1


async def test_without_the_guard_mails_are_claimed_twice(organiser, ctx):
    await queued_mailing(organiser, ctx)
    claimed = await claim_all(lambda: unguarded_claim(ctx.db))
    assert len(claimed) == TICKETS
    assert max(claimed.values()) > 1, "the unguarded claim never raced: the test proves nothing"
