"""One phone per member when codes for that member are claimed at once, against
the real PostgreSQL.

Codes made for one roster member without ``keep_other_phones`` leave the member
one phone whichever is claimed last. Claimed at the same instant, each claim
revoked the phones it could see, and neither saw the other's uncommitted token:
both stayed paired. The claim now locks the member's row
(``server.features.staff.lock_member``); with the lock off (``staff.LOCKED``)
the same rush leaves several phones paired, so the test can fail.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from server.context import Muster
from server.features import staff
from server.models import Account
from server.settings import Settings
from tests.conftest import Api
from tests.server.test_staff import add

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

CODES = 8
ROUNDS = 4


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The rush comes from one client address: no claim limit in the way.
    return replace(settings, pairing_claims_per_minute=0)


async def rush(client: httpx.AsyncClient, organiser: Api, staff_id: int) -> list[int]:
    """Make CODES codes for the member, claim them all at once; the statuses."""
    made = [
        await organiser.post(f"/api/v1/staff/{staff_id}/pairing-codes", {}, expect=201)
        for _ in range(CODES)
    ]
    start = asyncio.Event()

    async def claim(code: str) -> int:
        await start.wait()
        answer = await client.post("/api/v1/devices/pair", json={"code": code})
        return answer.status_code

    tasks = [asyncio.create_task(claim(m["code"])) for m in made]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks)


async def paired_phones(ctx: Muster, staff_id: int) -> int:
    async with ctx.db.reading() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(Account)
            .where(Account.staff_id == staff_id, Account.revoked_at.is_(None))
        )
    return int(found or 0)


async def most_phones_left(client: Any, organiser: Api, event: Any, ctx: Muster) -> int:
    """Rush ROUNDS members; the most phones any of them kept paired."""
    most = 0
    for i in range(ROUNDS):
        member = await add(organiser, event["id"], name=f"队员{i}", role="staff")
        assert await rush(client, organiser, member["id"]) == [201] * CODES
        most = max(most, await paired_phones(ctx, member["id"]))
    return most


async def test_codes_claimed_at_once_leave_the_member_one_phone(client, organiser, event, ctx):
    assert await most_phones_left(client, organiser, event, ctx) == 1


async def test_without_the_lock_several_phones_stay_paired(
    client, organiser, event, ctx, monkeypatch
):
    monkeypatch.setattr(staff, "LOCKED", False)
    most = await most_phones_left(client, organiser, event, ctx)
    assert most > 1, "no lock, and still one phone: the race did not happen"
