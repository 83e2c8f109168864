"""Exactly-once walk-ins under concurrent syncs, against the real PostgreSQL.

Many tasks send the same registration (one nonce) at the same instant — a
phone's retries, its outbox and a second tab — and many others bind one
blank to different people: each nonce is recorded once, each blank bound
once, one person admitted. With the guards removed (``walk_ins.GUARDED``:
``ON CONFLICT DO NOTHING`` on the nonce, ``WHERE status = 'blank'`` on the
binding) the same rushes fail, so the tests can fail.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from server.context import Muster
from server.features import walk_ins
from server.features.walk_ins import WalkInRequest, register_walk_in
from server.models import Scan, Ticket, WalkIn
from tests.server.test_walk_ins import supervisor_phone

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

TASKS = 24


def request(blank: int, gate: int, nonce: str, name: str) -> WalkInRequest:
    return WalkInRequest(
        nonce=nonce,
        blank=blank,
        holder_name=name,
        holder_email="",
        holder_phone="13700000000",
        language="",
        gate_id=gate,
        registered_at=datetime.now(UTC),
        offline=True,
    )


async def rush(ctx: Muster, event_id: int, device: int, requests: list[WalkInRequest]) -> list[Any]:
    start = asyncio.Event()

    async def one(item: WalkInRequest) -> Any:
        await start.wait()
        return await register_walk_in(ctx, event_id, device, item)

    tasks = [asyncio.create_task(one(item)) for item in requests]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def setup(client: Any, organiser: Any, event: Any, ctx: Muster) -> tuple[int, int]:
    _lead, paired = await supervisor_phone(client, organiser, event["id"])
    return paired["walk_in_blanks"][0]["ticket"], paired["device"]["id"]


async def tally(ctx: Muster, event_id: int, blank: int) -> tuple[int, int, int, str]:
    async with ctx.db.reading() as session:
        rows = await session.scalar(
            select(func.count()).select_from(WalkIn).where(WalkIn.event_id == event_id)
        )
        bound = await session.scalar(
            select(func.count()).select_from(WalkIn).where(WalkIn.status == "ok")
        )
        scans = await session.scalar(
            select(func.count()).select_from(Scan).where(Scan.event_id == event_id)
        )
        name = await session.scalar(select(Ticket.holder_name).where(Ticket.id == blank))
    return int(rows or 0), int(bound or 0), int(scans or 0), str(name)


async def same_nonce(ctx: Muster, event: Any, blank: int, device: int, gate: int) -> list[Any]:
    nonce = uuid.uuid4().hex
    return await rush(
        ctx, event["id"], device, [request(blank, gate, nonce, "陈静") for _ in range(TASKS)]
    )


async def test_one_nonce_from_many_tasks_is_one_walk_in(client, organiser, event, gate, ctx):
    blank, device = await setup(client, organiser, event, ctx)
    answers = await same_nonce(ctx, event, blank, device, gate["id"])
    assert not [a for a in answers if isinstance(a, BaseException)]
    assert {a["walk_in"]["id"] for a in answers} and len({a["walk_in"]["id"] for a in answers}) == 1
    assert sum(not a["repeated"] for a in answers) == 1
    assert {a["scan"]["status"] for a in answers} == {"ok"}
    assert await tally(ctx, event["id"], blank) == (1, 1, 1, "陈静")
    headcount = await organiser.get(f"/api/v1/events/{event['id']}/headcount")
    assert (headcount["expected"], headcount["checked_in"]) == (1, 1)


async def test_without_the_guard_one_nonce_fails(client, organiser, event, gate, ctx, monkeypatch):
    blank, device = await setup(client, organiser, event, ctx)
    monkeypatch.setattr(walk_ins, "GUARDED", False)
    answers = await same_nonce(ctx, event, blank, device, gate["id"])
    failed = [a for a in answers if isinstance(a, BaseException)]
    rows, _bound, _scans, _name = await tally(ctx, event["id"], blank)
    # Twins that both found no row insert both: the unique index refuses all
    # but one with an error the phone would see (no guard: no "answer as before").
    assert failed or rows > 1


async def many_people(ctx: Muster, event: Any, blank: int, device: int, gate: int) -> list[Any]:
    people = [request(blank, gate, uuid.uuid4().hex, f"Guest {i}") for i in range(TASKS)]
    return await rush(ctx, event["id"], device, people)


async def test_one_blank_for_many_people_is_bound_once(client, organiser, event, gate, ctx):
    blank, device = await setup(client, organiser, event, ctx)
    answers = await many_people(ctx, event, blank, device, gate["id"])
    assert not [a for a in answers if isinstance(a, BaseException)]
    [winner] = [a for a in answers if a["walk_in"]["status"] == "ok"]
    losers = [a for a in answers if a is not winner]
    assert {a["walk_in"]["reason"] for a in losers} == {"blank_taken"}
    rows, bound, scans, name = await tally(ctx, event["id"], blank)
    assert (rows, bound, scans) == (TASKS, 1, 1)
    assert name == winner["walk_in"]["holder_name"]


async def test_without_the_guard_one_blank_is_bound_twice(
    client, organiser, event, gate, ctx, monkeypatch
):
    blank, device = await setup(client, organiser, event, ctx)
    monkeypatch.setattr(walk_ins, "GUARDED", False)
    answers = await many_people(ctx, event, blank, device, gate["id"])
    bound = [
        a for a in answers if not isinstance(a, BaseException) and a["walk_in"]["status"] == "ok"
    ]
    assert len(bound) > 1, "no guard, and still bound once: the race did not happen"
