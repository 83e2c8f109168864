"""Accounting is exactly-once under 40 phones at once, against the real PostgreSQL.

Forty assembly-point phones account the same people at the same time, each
sending its batch twice (an offline queue resent) with its own times, points
and statuses. Every person must end with the earliest account's time and
place and the latest account's status, count once, and every nonce must be
logged once; people found off the roll (walk-ins scanned at every point) must
join it once. The person's row is locked for the merge: with that lock
removed the same test loses merges (a later account overwrites an earlier
first time), so it can fail.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from server.context import Muster
from server.features import evacuation_accounts
from server.models import EvacuationAccount, EvacuationPerson
from tests.conftest import Api
from tests.server.test_evacuations import make_venue, start
from tests.server.test_scans import issue, scan

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

PHONES = 40
ON_ROLL = 12
WALK_INS = 3


@pytest.fixture(autouse=True)
def no_venue_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("checkin.venue.VENUE_CACHE_SECONDS", -1.0)


async def hammer(organiser: Api, api_as: Any, event: Any) -> dict[str, Any]:
    e = event["id"]
    venue = await make_venue(organiser, e)
    door = await api_as("door", e, venue["gate_a"])
    people = [await issue(organiser, e, name=f"p{i}") for i in range(ON_ROLL)]
    walk_ins = [await issue(organiser, e, name=f"w{i}") for i in range(WALK_INS)]
    for p in people:
        await scan(door, e, p["secret"], venue["gate_a"])
    started = await start(organiser, e)
    t0 = datetime.fromisoformat(started["started_at"])
    rng = random.Random(17)
    points = [venue["point_a"], venue["point_b"]]
    batches: list[list[dict[str, Any]]] = []
    for phone in range(PHONES):
        batch = []
        for i, p in enumerate([*people, *walk_ins]):
            batch.append(
                {
                    "nonce": f"ph{phone}-{i}",
                    "secret": p["secret"],
                    "status": rng.choice(["safe", "needs_help", "safe"]),
                    "point": rng.choice(points),
                    # distinct times, so "earliest" and "latest" are well defined
                    "occurred_at": (t0 + timedelta(milliseconds=phone * 997 + i * 7)).isoformat(),
                }
            )
        rng.shuffle(batch)
        batches.append(batch)
    phones = [await api_as(rng.choice(["staff", "door"]), e) for _ in range(PHONES)]
    path = f"/api/v1/evacuations/{started['id']}/accounts"

    async def send(phone: Api, batch: list[dict[str, Any]]) -> None:
        for _resend in range(2):
            for part in (batch[: len(batch) // 2], batch[len(batch) // 2 :]):
                answer = await phone.post(path, {"accounts": part}, expect=200)
                assert all(r["status"] == "ok" for r in answer["results"])

    await asyncio.gather(*(send(p, b) for p, b in zip(phones, batches, strict=True)))
    expected: dict[str, tuple[datetime, int, str, str]] = {}
    for batch in batches:
        for a in batch:
            at = datetime.fromisoformat(a["occurred_at"])
            first, point, last, status = expected.get(
                a["secret"], (at, a["point"], at, a["status"])
            )
            if at <= first:
                first, point = at, a["point"]
            if at >= last:
                last, status = at, a["status"]
            expected[a["secret"]] = (first, point, last, status)
    return {"started": started, "expected": expected, "people": people, "walk_ins": walk_ins}


async def outcome(ctx: Muster, evacuation_id: int) -> tuple[list[EvacuationPerson], int]:
    async with ctx.db.reading() as session:
        rows = list(
            await session.scalars(
                select(EvacuationPerson).where(EvacuationPerson.evacuation_id == evacuation_id)
            )
        )
        logged = await session.scalar(
            select(func.count())
            .select_from(EvacuationAccount)
            .where(EvacuationAccount.evacuation_id == evacuation_id)
        )
    return rows, int(logged or 0)


async def test_forty_phones_account_each_person_once(ctx, organiser, api_as, event) -> None:
    run = await hammer(organiser, api_as, event)
    rows, logged = await outcome(ctx, run["started"]["id"])
    assert logged == PHONES * (ON_ROLL + WALK_INS)
    assert len(rows) == ON_ROLL + WALK_INS  # each walk-in joined once
    by_ticket = {r.ticket_id: r for r in rows}
    for p in [*run["people"], *run["walk_ins"]]:
        first, point, _last, status = run["expected"][p["secret"]]
        row = by_ticket[p["id"]]
        assert (row.accounted_at, row.point_id, row.status) == (first, point, status), p["id"]
    summary = await organiser.get(f"/api/v1/evacuations/{run['started']['id']}")
    assert (summary["total"], summary["accounted"], summary["missing"]) == (15, 15, 0)


async def test_without_the_row_lock_merges_are_lost(
    ctx, organiser, api_as, event, monkeypatch
) -> None:
    async def unlocked(session: Any, person_ids: list[int]) -> dict[int, dict[str, Any]]:
        rows = await session.execute(evacuation_accounts.people_query(person_ids))
        await asyncio.sleep(0.002)  # what a busy server does between read and write
        return {row.id: dict(row._mapping) for row in rows}

    monkeypatch.setattr(evacuation_accounts, "lock_people", unlocked)
    run = await hammer(organiser, api_as, event)
    rows, _logged = await outcome(ctx, run["started"]["id"])
    by_ticket = {r.ticket_id: r for r in rows}
    wrong = [
        p["id"]
        for p in [*run["people"], *run["walk_ins"]]
        if by_ticket[p["id"]].accounted_at != run["expected"][p["secret"]][0]
        or by_ticket[p["id"]].status != run["expected"][p["secret"]][3]
    ]
    assert wrong, "every merge survived without the lock: the test cannot tell"
