"""One bad scan harms no one, on SQLite and PostgreSQL.

A scan the database would refuse (a NUL byte in its secret or nonce, an id
or a time out of range) is refused at the edge, before it joins a batch: a
200 answer ``invalid`` for the scan's own text, a 422 for a malformed body.
And when a batch statement fails anyway — here a trigger refuses one scan's
row, something no validation can see — the door line and the offline sync
retry the others one by one, so only the culprit fails.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from checkin.admission import admit_one
from checkin.answers import ScanRequest
from checkin.door_line import DoorLine
from checkin.venue import venues
from server.context import Muster
from tests.checkin.test_admission_race import admissions_per_ticket, inside, issue_many
from tests.conftest import Api

GENUINE = 40

#: Nonces the trigger below refuses: a fault that passes every validation.
POISON = "poison-"


@pytest.fixture
async def door(api_as: Any, event: dict[str, Any], gate: dict[str, Any]) -> Api:
    api: Api = await api_as("door", event["id"], gate["id"])
    return api


async def poison_scans(ctx: Muster) -> None:
    """Make the database refuse every scan-log row whose nonce starts with POISON."""
    statements = (
        [
            "CREATE TRIGGER poison BEFORE INSERT ON scans WHEN NEW.nonce LIKE 'poison-%'"
            " BEGIN SELECT RAISE(ABORT, 'poisoned scan'); END"
        ]
        if ctx.db.is_sqlite
        else [
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.nonce LIKE 'poison-%' THEN RAISE EXCEPTION 'poisoned scan'; END IF;"
            " RETURN NEW; END $$",
            "CREATE TRIGGER poison BEFORE INSERT ON scans FOR EACH ROW EXECUTE FUNCTION poison()",
        ]
    )
    async with ctx.db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


def body(secret: str, gate_id: int, nonce: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "secret": secret,
        "gate": gate_id,
        "direction": "in",
        "nonce": nonce or uuid.uuid4().hex,
        "scanned_at": datetime.now(UTC).isoformat(),
        **extra,
    }


async def test_a_nul_byte_scan_among_40_concurrent_ones_harms_none(
    ctx: Muster, organiser: Api, door: Api, event: Any, zone: Any, gate: Any
) -> None:
    tickets = await issue_many(organiser, event["id"], GENUINE)
    path = f"/api/v1/events/{event['id']}/scans"
    genuine = [body(t["secret"], gate["id"]) for t in tickets]
    bad = [
        body(tickets[0]["secret"][:10] + "\x00" + tickets[0]["secret"][10:], gate["id"]),
        body(tickets[1]["secret"], gate["id"], nonce="n\x00" + uuid.uuid4().hex),
    ]
    sent = [*genuine[:20], bad[0], *genuine[20:], bad[1]]
    answers = await asyncio.gather(*(door.post(path, b, expect=200) for b in sent))
    by_nonce = {a["nonce"]: a for a in answers}
    assert [by_nonce[b["nonce"]]["status"] for b in genuine] == ["ok"] * GENUINE
    for scan in bad:
        assert (by_nonce[scan["nonce"]]["status"], by_nonce[scan["nonce"]]["reason"]) == (
            "error",
            "invalid",
        )
        assert by_nonce[scan["nonce"]]["ticket"] is None
    assert await admissions_per_ticket(ctx, event["id"]) == {t["id"]: 1 for t in tickets}
    assert await inside(ctx, zone["id"]) == GENUINE
    # The bad secret's scan is logged (its nonce answers as before); the
    # bad nonce cannot be, and answers the same every time anyway.
    again = await door.post(path, bad[0], expect=200)
    assert again == by_nonce[bad[0]["nonce"]]
    again = await door.post(path, bad[1], expect=200)
    assert (again["status"], again["reason"]) == ("error", "invalid")


@pytest.mark.parametrize(
    "change",
    [
        {"gate": 2**63},
        {"gate": -(2**63) - 1},
        {"scanned_at": "0001-01-01T00:00:00+01:00"},
        {"scanned_at": "9999-12-31T23:59:59-01:00"},
        {"nonce": "x" * 65},
    ],
    ids=["gate-too-big", "gate-too-small", "before-year-1-in-utc", "after-9999-in-utc", "nonce"],
)
async def test_a_malformed_scan_body_is_a_422_in_the_error_shape(
    door: Api, event: Any, gate: Any, ticket: Any, change: dict[str, Any]
) -> None:
    path = f"/api/v1/events/{event['id']}/scans"
    refused = await door.post(path, {**body(ticket["secret"], gate["id"]), **change}, expect=422)
    assert set(refused) == {"error"} and refused["error"]["code"]
    item = {**body(ticket["secret"], gate["id"]), **change}
    refused = await door.post(f"{path}/sync", {"scans": [item]}, expect=422)
    assert set(refused) == {"error"}


async def test_a_nul_byte_in_an_annul_nonce_is_a_404(door: Api, event: Any) -> None:
    refused = await door.post(f"/api/v1/events/{event['id']}/scans/n%00x/annul", expect=404)
    assert refused["error"]["code"] == "not_found"


async def test_an_event_id_out_of_range_is_a_404(organiser: Api) -> None:
    refused = await organiser.get(f"/api/v1/events/{2**63}/headcount", expect=404)
    assert refused["error"]["code"] == "not_found"


async def test_nul_bytes_in_a_sync_batch_harm_no_other_item(
    ctx: Muster, organiser: Api, door: Api, event: Any, zone: Any, gate: Any
) -> None:
    tickets = await issue_many(organiser, event["id"], GENUINE)
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    items = [
        body(t["secret"], gate["id"], scanned_at=(t0 + timedelta(seconds=i)).isoformat())
        for i, t in enumerate(tickets)
    ]
    bad_secret = body("\x00" + tickets[0]["secret"], gate["id"], scanned_at=t0.isoformat())
    bad_nonce = body(tickets[1]["secret"], gate["id"], "\x00", scanned_at=t0.isoformat())
    sent = [*items[:20], bad_secret, *items[20:], bad_nonce]
    path = f"/api/v1/events/{event['id']}/scans/sync"
    answer = await door.post(path, {"scans": sent}, expect=200)
    results = {r["nonce"]: r for r in answer["results"]}
    assert [results[i["nonce"]]["status"] for i in items] == ["ok"] * GENUINE
    for scan in (bad_secret, bad_nonce):
        assert (results[scan["nonce"]]["status"], results[scan["nonce"]]["reason"]) == (
            "error",
            "invalid",
        )
    assert answer["counts"] == {"ok": GENUINE, "error": 2, "conflict": 0, "repeated": 0}
    assert await admissions_per_ticket(ctx, event["id"]) == {t["id"]: 1 for t in tickets}
    assert await inside(ctx, zone["id"]) == GENUINE


async def test_a_sync_batch_whose_statement_fails_retries_the_others_one_by_one(
    ctx: Muster, organiser: Api, door: Api, event: Any, zone: Any, gate: Any
) -> None:
    tickets = await issue_many(organiser, event["id"], 10)
    await poison_scans(ctx)
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    items = [
        body(t["secret"], gate["id"], scanned_at=(t0 + timedelta(seconds=i)).isoformat())
        for i, t in enumerate(tickets)
    ]
    culprit = body(
        tickets[0]["secret"],
        gate["id"],
        POISON + uuid.uuid4().hex,
        scanned_at=(t0 - timedelta(seconds=1)).isoformat(),
    )
    path = f"/api/v1/events/{event['id']}/scans/sync"
    answer = await door.post(path, {"scans": [*items[:5], culprit, *items[5:]]}, expect=200)
    # The culprit is not answered: the phone keeps it queued and sends it again.
    assert [r["nonce"] for r in answer["results"]] == [i["nonce"] for i in items]
    assert [r["status"] for r in answer["results"]] == ["ok"] * 10
    assert answer["counts"] == {"ok": 10, "error": 0, "conflict": 0, "repeated": 0, "failed": 1}
    assert await admissions_per_ticket(ctx, event["id"]) == {t["id"]: 1 for t in tickets}
    assert await inside(ctx, zone["id"]) == 10


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_door_line_batch_whose_statement_fails_retries_the_others_one_by_one(
    ctx: Muster, organiser: Api, event: Any, zone: Any, gate: Any
) -> None:
    *tickets, spare = await issue_many(organiser, event["id"], GENUINE + 1)
    await poison_scans(ctx)
    await venues(ctx).get(event["id"])  # cached: every scan joins the line at once

    def scan(secret: str, nonce: str | None = None) -> ScanRequest:
        return ScanRequest(
            secret, gate["id"], "in", nonce or uuid.uuid4().hex, datetime.now(UTC), None
        )

    line = DoorLine(ctx, event["id"], admit_one)
    culprit = scan(spare["secret"], POISON + uuid.uuid4().hex)
    sent = [scan(t["secret"]) for t in tickets[:20]] + [culprit]
    sent += [scan(t["secret"]) for t in tickets[20:]]
    answers = await asyncio.gather(*(line.admit(s) for s in sent), return_exceptions=True)
    failed = answers.pop(20)
    assert isinstance(failed, Exception) and "poisoned scan" in str(failed)
    assert [a if isinstance(a, Exception) else a["status"] for a in answers] == ["ok"] * GENUINE
    # All 41 were one batch, and its statement failed: the culprit alone failed.
    assert (line.batches, line.fallbacks, line.failures) == (0, 0, 1)
    assert await admissions_per_ticket(ctx, event["id"]) == {t["id"]: 1 for t in tickets}
    assert await inside(ctx, zone["id"]) == GENUINE
