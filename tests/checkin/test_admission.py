"""``checkin.admission`` on both databases: the single path and the entry to the door line.

Each test observes what it names in the database (the scan log, the ticket
row, the zone counters), not only the answer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from checkin.admission import admit, admit_one, door_line
from checkin.answers import ScanRequest
from checkin.store import PgStore
from checkin.store.sqlite import SqliteStore
from server.context import Muster
from server.models import Alert, Scan, Ticket, ZoneShard
from tests.checkin.test_admission_race import issue_many
from tests.conftest import Api


def request(secret: str, gate_id: int, direction: str = "in", nonce: str = "") -> ScanRequest:
    return ScanRequest(
        secret, gate_id, direction, nonce or uuid.uuid4().hex, datetime.now(UTC), None
    )


async def logged(ctx: Muster, event_id: int) -> list[tuple[str, str | None]]:
    async with ctx.db.reading() as session:
        rows = await session.execute(
            select(Scan.status, Scan.reason).where(Scan.event_id == event_id).order_by(Scan.id)
        )
        return [(status, reason) for status, reason in rows]


async def inside(ctx: Muster, zone_id: int) -> int:
    async with ctx.db.reading() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(ZoneShard.inside), 0)).where(ZoneShard.zone_id == zone_id)
        )
        return int(total or 0)


async def test_admit_one_moves_the_ticket_counts_it_and_logs_the_scan(
    ctx: Muster, organiser: Api, event: Any, zone: Any, gate: Any
) -> None:
    (ticket,) = await issue_many(organiser, event["id"], 1)
    answer = await admit_one(ctx, event["id"], request(ticket["secret"], gate["id"]))
    assert (answer["status"], answer["ticket"]["zone"]) == ("ok", zone["id"])
    async with ctx.db.reading() as session:
        row = await session.get(Ticket, ticket["id"])
        assert row is not None and row.zone_id == zone["id"] and row.checked_in_at is not None
    assert await inside(ctx, zone["id"]) == 1
    assert await logged(ctx, event["id"]) == [("ok", None)]

    again = await admit_one(ctx, event["id"], request(ticket["secret"], gate["id"]))
    assert (again["status"], again["reason"]) == ("error", "already_inside")
    assert await inside(ctx, zone["id"]) == 1  # a refusal moves nothing, and is logged
    assert await logged(ctx, event["id"]) == [("ok", None), ("error", "already_inside")]


async def test_a_repeated_nonce_answers_as_stored_and_writes_nothing(
    ctx: Muster, organiser: Api, event: Any, zone: Any, gate: Any
) -> None:
    (ticket,) = await issue_many(organiser, event["id"], 1)
    scan = request(ticket["secret"], gate["id"])
    first = await admit(ctx, event["id"], scan)
    out = await admit(ctx, event["id"], request(ticket["secret"], gate["id"], "out"))
    assert out["status"] == "ok"
    # The nonce again after the ticket left: the stored answer (in), no move.
    assert await admit(ctx, event["id"], scan) == first
    assert await inside(ctx, zone["id"]) == 0
    assert len(await logged(ctx, event["id"])) == 2


async def test_a_forged_secret_is_refused_and_logged(ctx: Muster, event: Any, gate: Any) -> None:
    answer = await admit(ctx, event["id"], request("NOT-A-SECRET", gate["id"]))
    assert (answer["status"], answer["reason"], answer["ticket"]) == ("error", "invalid", None)
    assert await logged(ctx, event["id"]) == [("error", "invalid")]


async def test_a_nonce_no_column_holds_is_answered_and_logged_nowhere(
    ctx: Muster, organiser: Api, event: Any, gate: Any
) -> None:
    (ticket,) = await issue_many(organiser, event["id"], 1)
    answer = await admit(ctx, event["id"], request(ticket["secret"], gate["id"], nonce="a\x00b"))
    assert (answer["status"], answer["reason"]) == ("error", "invalid")
    assert await logged(ctx, event["id"]) == []


async def test_the_last_place_is_taken_once_then_zone_full_and_its_alert(
    ctx: Muster, organiser: Api, event: Any
) -> None:
    room = await organiser.post(
        f"/api/v1/events/{event['id']}/zones", {"name": "Room", "capacity": 2}, expect=201
    )
    door = await organiser.post(
        f"/api/v1/events/{event['id']}/gates",
        {"name": "Room door", "to_zone": room["id"]},
        expect=201,
    )
    tickets = await issue_many(organiser, event["id"], 3)
    answers = [await admit_one(ctx, event["id"], request(t["secret"], door["id"])) for t in tickets]
    assert [(a["status"], a["reason"]) for a in answers] == [
        ("ok", None),
        ("ok", None),
        ("error", "zone_full"),
    ]
    assert await inside(ctx, room["id"]) == 2
    async with ctx.db.reading() as session:
        kinds = (
            await session.scalars(select(Alert.kind).where(Alert.event_id == event["id"]))
        ).all()
    assert "zone_full" in kinds


async def test_a_scan_is_written_by_the_door_lines_batch(
    ctx: Muster, organiser: Api, event: Any, gate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ticket,) = await issue_many(organiser, event["id"], 1)
    batches: list[int] = []
    store = SqliteStore if ctx.db.is_sqlite else PgStore
    apply_batch = store.apply_batch

    async def counted(pg: Any, *args: Any) -> Any:
        batches.append(len(args[2]))  # the batch's scan-log rows
        return await apply_batch(pg, *args)

    monkeypatch.setattr(store, "apply_batch", counted)
    answer = await admit(ctx, event["id"], request(ticket["secret"], gate["id"]))
    assert answer["status"] == "ok"
    assert batches == [1]  # written by the line's batch, not the single path
    assert door_line(ctx, event["id"]).batches == 1
