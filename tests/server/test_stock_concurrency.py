"""The ledger stays consistent under concurrent movements.

Many tasks move the same items at once through the HTTP API, resending some
nonces as an offline phone would; the quantity on hand must equal the sum of
the ledger, each nonce must count once, and no issue may take stock below
zero. On PostgreSQL the requests really run in parallel on a pool of
connections; the row lock is what keeps them straight.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
from sqlalchemy import func, select

from server.models import StockMovement
from tests.server.test_stock import ledger_sum, make_item

TASKS = 24
MOVES_PER_TASK = 6


async def send(api: Any, event: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    return await api.http.post(
        f"/api/v1/events/{event['id']}/stock/movements", json=body, headers=api.headers
    )


async def test_concurrent_movements_with_resent_nonces(ctx, organiser, api_as, event):
    staff = await api_as("staff", event["id"])
    a = await make_item(organiser, event, quantity=1000, low_threshold=100)
    b_answer = await staff.post(
        f"/api/v1/events/{event['id']}/stock/movements",
        {
            "kind": "transfer",
            "item": a["id"],
            "quantity": 500,
            "to_location": "Hall B",
            "nonce": "seed",
        },
        expect=201,
    )
    b = b_answer["to_item"]
    rng = random.Random(5)
    plan: list[dict[str, Any]] = []
    for task in range(TASKS):
        for step in range(MOVES_PER_TASK):
            kind = rng.choice(["issue", "receive", "transfer", "transfer_back"])
            body: dict[str, Any] = {"quantity": rng.randint(1, 9), "nonce": f"t{task}-{step}"}
            if kind == "transfer":
                body.update(kind="transfer", item=a["id"], to_item=b["id"])
            elif kind == "transfer_back":
                body.update(kind="transfer", item=b["id"], to_item=a["id"])
            else:
                body.update(kind=kind, item=rng.choice([a["id"], b["id"]]))
            plan.append(body)

    async def phone(bodies: list[dict[str, Any]]) -> list[int]:
        statuses = []
        for body in bodies:
            # Every movement is sent twice, the resend racing the first try.
            first, second = await asyncio.gather(send(staff, event, body), send(staff, event, body))
            assert sorted([first.status_code, second.status_code]) == [200, 201], body
            statuses.append(first.status_code)
        return statuses

    chunks = [plan[i : i + MOVES_PER_TASK] for i in range(0, len(plan), MOVES_PER_TASK)]
    await asyncio.wait_for(asyncio.gather(*(phone(c) for c in chunks)), timeout=120)

    expected_a, expected_b = 500, 500
    for body in plan:
        q = body["quantity"]
        if body["kind"] == "transfer":
            if body["item"] == a["id"]:
                expected_a, expected_b = expected_a - q, expected_b + q
            else:
                expected_a, expected_b = expected_a + q, expected_b - q
        else:
            sign = -1 if body["kind"] == "issue" else 1
            if body["item"] == a["id"]:
                expected_a += sign * q
            else:
                expected_b += sign * q
    items = await staff.get(f"/api/v1/events/{event['id']}/stock/items")
    on_hand = {i["id"]: i["quantity"] for i in items["items"]}
    assert on_hand == {a["id"]: expected_a, b["id"]: expected_b}
    assert await ledger_sum(ctx, a["id"]) == expected_a
    assert await ledger_sum(ctx, b["id"]) == expected_b
    async with ctx.db.reading() as session:
        entries = await session.scalar(select(func.count()).select_from(StockMovement))
    assert entries == len(plan) + 2  # plus the opening stock and the seed transfer


async def test_concurrent_issues_never_go_below_zero(ctx, organiser, api_as, event):
    staff = await api_as("staff", event["id"])
    item = await make_item(organiser, event, quantity=30, low_threshold=5)

    async def issue(n: int) -> int:
        body = {"kind": "issue", "item": item["id"], "quantity": 1, "nonce": f"i{n}"}
        response = await send(staff, event, body)
        return response.status_code

    statuses = await asyncio.wait_for(asyncio.gather(*(issue(n) for n in range(60))), timeout=120)
    assert statuses.count(201) == 30 and statuses.count(409) == 30
    current = await staff.get(f"/api/v1/events/{event['id']}/stock/items/{item['id']}")
    assert current["quantity"] == 0
    assert await ledger_sum(ctx, item["id"]) == 0
