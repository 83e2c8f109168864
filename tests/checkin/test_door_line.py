"""The door line, on both databases: scans arriving together are written as one batch.

A batch decides a ticket's scans in arrival order, as if one after another;
when another process moves one of its tickets between the batch's read and
its write, the batch's statement rolls back whole and every scan of it is
decided again on the single-scan path.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from checkin import admission, door_line
from checkin.answers import ScanRequest
from checkin.door_line import DoorLine
from checkin.store import PgStore, guard
from checkin.store.sqlite import SqliteStore
from checkin.venue import venues
from server.context import Muster
from server.models import Scan, Ticket
from tests.checkin.test_admission_race import admissions_per_ticket, inside, issue_many
from tests.conftest import Api


def request(secret: str, gate_id: int, direction: str = "in") -> ScanRequest:
    return ScanRequest(secret, gate_id, direction, uuid.uuid4().hex, datetime.now(UTC), None)


async def scan_count(ctx: Muster, event_id: int) -> int:
    async with ctx.db.reading() as session:
        found = await session.scalar(select(func.count()).where(Scan.event_id == event_id))
        return int(found or 0)


def store_class(ctx: Muster) -> type[PgStore | SqliteStore]:
    return SqliteStore if ctx.db.is_sqlite else PgStore


async def test_one_batch_decides_a_tickets_scans_in_order(
    ctx: Muster, organiser: Api, event: Any, zone: Any, gate: Any
) -> None:
    first, second = await issue_many(organiser, event["id"], 2)
    await venues(ctx).get(event["id"])  # cached: the scans join the line at once
    line = DoorLine(ctx, event["id"], admission.admit_one)
    answers = await asyncio.gather(
        line.admit(request(first["secret"], gate["id"])),
        line.admit(request(second["secret"], gate["id"])),
        line.admit(request(first["secret"], gate["id"])),
        line.admit(request(second["secret"], gate["id"], "out")),
    )
    assert (line.batches, line.fallbacks) == (1, 0)
    assert [(a["status"], a["reason"]) for a in answers] == [
        ("ok", None),
        ("ok", None),
        ("error", "already_inside"),
        ("ok", None),
    ]
    assert [a["ticket"]["zone"] for a in answers] == [zone["id"], zone["id"], zone["id"], None]
    assert answers[3]["ticket"]["checked_in_at"] == answers[1]["ticket"]["checked_in_at"]
    assert await inside(ctx, zone["id"]) == 1
    assert await scan_count(ctx, event["id"]) == 4
    async with ctx.db.reading() as session:
        rows = await session.execute(
            select(Ticket.zone_id, Ticket.checked_in_at)
            .where(Ticket.id.in_([first["id"], second["id"]]))
            .order_by(Ticket.id)
        )
    assert [(zone_id, checked_in_at is not None) for zone_id, checked_in_at in rows] == [
        (zone["id"], True),
        (None, True),
    ]


async def test_a_ticket_moved_by_another_process_sends_the_batch_to_the_single_path(
    ctx: Muster,
    organiser: Api,
    event: Any,
    zone: Any,
    gate: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raced, other = await issue_many(organiser, event["id"], 2)
    meddled: list[dict[str, Any]] = []
    store = store_class(ctx)
    apply_batch = store.apply_batch

    async def another_process_first(pg: Any, *args: Any) -> Any:
        # Between the batch's read and its write another door admits the ticket.
        if not meddled:
            meddled.append(
                await admission.admit_one(ctx, event["id"], request(raced["secret"], gate["id"]))
            )
        return await apply_batch(pg, *args)

    monkeypatch.setattr(store, "apply_batch", another_process_first)
    await venues(ctx).get(event["id"])
    line = DoorLine(ctx, event["id"], admission.admit_one)
    answers = await asyncio.gather(
        line.admit(request(raced["secret"], gate["id"])),
        line.admit(request(other["secret"], gate["id"])),
    )
    assert (line.batches, line.fallbacks) == (0, 1)
    assert meddled[0]["status"] == "ok"
    assert [(a["status"], a["reason"]) for a in answers] == [
        ("error", "already_inside"),
        ("ok", None),
    ]
    assert await admissions_per_ticket(ctx, event["id"]) == {raced["id"]: 1, other["id"]: 1}
    assert await inside(ctx, zone["id"]) == 2
    assert await scan_count(ctx, event["id"]) == 3


async def test_a_repeated_nonce_answers_as_the_first(
    ctx: Muster, organiser: Api, event: Any, gate: Any
) -> None:
    (ticket,) = await issue_many(organiser, event["id"], 1)
    await venues(ctx).get(event["id"])
    line = DoorLine(ctx, event["id"], admission.admit_one)
    scan = request(ticket["secret"], gate["id"])
    twice = await asyncio.gather(line.admit(scan), line.admit(scan))
    again = await line.admit(scan)
    assert twice[0] == twice[1] == again
    assert again["status"] == "ok"
    assert await scan_count(ctx, event["id"]) == 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: one lane
@pytest.mark.parametrize("guarded", [True, False])
async def test_two_lanes_of_one_line_admit_a_ticket_once(
    ctx: Muster,
    organiser: Api,
    event: Any,
    zone: Any,
    gate: Any,
    monkeypatch: pytest.MonkeyPatch,
    guarded: bool,
) -> None:
    """A second wave of the same tickets arrives while the first batch is in
    flight, so the second lane reads them outside too; its write must find
    them moved. Without the guard the same test lets them in twice."""
    assert door_line.LANES >= 2
    monkeypatch.setattr(guard, "GUARD_TICKET_STATE", guarded)
    tickets = await issue_many(organiser, event["id"], 20)
    store = store_class(ctx)
    apply_batch = store.apply_batch
    second_wave_read = asyncio.Event()

    async def held(pg: Any, *args: Any) -> Any:
        if not second_wave_read.is_set():  # the first lane waits for the second's read
            await asyncio.wait_for(second_wave_read.wait(), 60)
        return await apply_batch(pg, *args)

    read_batch = store.read_batch
    reads = 0

    async def counted(*args: Any) -> Any:
        nonlocal reads
        seen = await read_batch(*args)
        reads += 1
        return seen

    monkeypatch.setattr(store, "apply_batch", held)
    monkeypatch.setattr(store, "read_batch", counted)
    await venues(ctx).get(event["id"])
    line = DoorLine(ctx, event["id"], admission.admit_one)

    async def until(condition: Any) -> None:
        # The line has no event to wait on: look every millisecond (60 s at most: CI starves).
        async with asyncio.timeout(60):
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.001)

    first = asyncio.gather(*(line.admit(request(t["secret"], gate["id"])) for t in tickets))
    await until(lambda: line.lanes and not line.waiting)  # a lane took the first wave
    second = asyncio.gather(*(line.admit(request(t["secret"], gate["id"])) for t in tickets))
    await until(lambda: len(line.lanes) == 2 and not line.waiting)  # another the second
    await until(lambda: reads == 2)  # and read the tickets, still outside
    second_wave_read.set()
    answers = [*await first, *await second]

    admitted = sum(a["status"] == "ok" for a in answers)
    if guarded:
        assert admitted == 20
        assert (
            sorted(a["reason"] for a in answers if a["status"] != "ok") == ["already_inside"] * 20
        )
        assert await admissions_per_ticket(ctx, event["id"]) == {t["id"]: 1 for t in tickets}
        assert await inside(ctx, zone["id"]) == 20
        assert line.fallbacks >= 1
    else:
        assert admitted > 20  # let in twice: the guard is what prevents it
