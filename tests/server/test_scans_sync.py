"""POST /scans/sync: an offline queue replayed in scan-time order, idempotent by
nonce, with second admissions stored as conflicts and raised as alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.context import Muster
from server.models import Alert, Scan
from tests.conftest import Api
from tests.server.test_scans import issue, scan


@pytest.fixture(autouse=True)
def no_venue_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("checkin.venue.VENUE_CACHE_SECONDS", -1.0)


def item(secret: str, gate: int, nonce: str, at: datetime, direction: str = "in") -> dict[str, Any]:
    return {
        "secret": secret,
        "gate": gate,
        "direction": direction,
        "nonce": nonce,
        "scanned_at": at.isoformat(),
    }


async def sync(api: Api, event_id: int, items: list[dict[str, Any]], expect: int = 200) -> Any:
    return await api.post(f"/api/v1/events/{event_id}/scans/sync", {"scans": items}, expect=expect)


async def test_replayed_in_scan_time_order(
    ctx: Muster, api_as: Any, event: Any, gate: Any, ticket: Any
) -> None:
    door = await api_as("door", event["id"], gate["id"])
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    # Sent out of order: the exit happened after the entry and the re-entry last.
    answer = await sync(
        door,
        event["id"],
        [
            item(ticket["secret"], gate["id"], "s-2", t0 + timedelta(minutes=2), "out"),
            item(ticket["secret"], gate["id"], "s-3", t0 + timedelta(minutes=3)),
            item(ticket["secret"], gate["id"], "s-1", t0 + timedelta(minutes=1)),
        ],
    )
    assert [r["nonce"] for r in answer["results"]] == ["s-2", "s-3", "s-1"]  # request order
    assert [r["status"] for r in answer["results"]] == ["ok", "ok", "ok"]
    assert all(r["offline"] and not r["conflict"] for r in answer["results"])
    assert answer["counts"] == {"ok": 3, "error": 0, "conflict": 0, "repeated": 0}
    assert abs(datetime.fromisoformat(answer["server_time"]) - datetime.now(UTC)) < timedelta(
        seconds=30
    )
    snap = await door.get(f"/api/v1/events/{event['id']}/headcount")
    assert (snap["inside"], snap["checked_in"]) == (1, 1)
    async with ctx.db.reading() as session:
        log = (await session.scalars(select(Scan).order_by(Scan.scanned_at))).all()
    assert [s.nonce for s in log] == ["s-1", "s-2", "s-3"] and all(s.offline for s in log)
    assert log[0].scanned_at == t0 + timedelta(minutes=1)


async def test_idempotent_by_nonce(api_as: Any, event: Any, gate: Any, ticket: Any) -> None:
    door = await api_as("door", event["id"], gate["id"])
    at = datetime.now(UTC) - timedelta(minutes=1)
    items = [
        item(ticket["secret"], gate["id"], "r-1", at),
        item(ticket["secret"], gate["id"], "r-1", at),
    ]
    first = await sync(door, event["id"], items)
    assert first["counts"] == {"ok": 1, "error": 0, "conflict": 0, "repeated": 1}
    assert first["results"][1]["repeated"] and first["results"][1]["status"] == "ok"
    again = await sync(door, event["id"], items[:1])
    assert again["counts"]["repeated"] == 1 and again["results"][0]["status"] == "ok"
    online = await scan(door, event["id"], ticket["secret"], gate["id"], nonce="r-1")
    assert online["status"] == "ok" and online["offline"]  # the stored offline answer
    snap = await door.get(f"/api/v1/events/{event['id']}/headcount")
    assert snap["inside"] == 1 and snap["gates"][0]["in"] == 1


async def test_second_admission_is_a_conflict(
    ctx: Muster, api_as: Any, organiser: Api, event: Any, zone: Any, gate: Any, ticket: Any
) -> None:
    side = await organiser.post(
        f"/api/v1/events/{event['id']}/gates", {"name": "Side", "to_zone": zone["id"]}, expect=201
    )
    north = await api_as("door", event["id"], gate["id"])
    south = await api_as("door", event["id"], side["id"])
    at = datetime.now(UTC) - timedelta(minutes=5)
    first = await sync(north, event["id"], [item(ticket["secret"], gate["id"], "n-1", at)])
    assert first["results"][0]["status"] == "ok"
    second = await sync(
        south,
        event["id"],
        [
            item(ticket["secret"], side["id"], "s-1", at + timedelta(seconds=30)),
            {
                **item(ticket["secret"], side["id"], "s-2", at + timedelta(seconds=40)),
                "local_status": "error",
            },
            {  # a phone refuses a code it cannot read, as the server does
                **item("GARBAGE", side["id"], "s-3", at + timedelta(seconds=50)),
                "local_status": "error",
                "local_reason": "invalid",
            },
        ],
    )
    conflict, seen, junk = second["results"]
    assert (conflict["status"], conflict["reason"], conflict["conflict"]) == (
        "error",
        "already_inside",
        True,
    )
    async with ctx.db.reading() as session:
        log = {s.nonce: s for s in (await session.scalars(select(Scan))).all()}
        alerts = (await session.scalars(select(Alert).where(Alert.kind == "conflict"))).all()
    assert conflict["conflict_with"] == log["n-1"].id == log["s-1"].conflict_with
    # The phone itself refused the later one: no second admission happened.
    assert (seen["reason"], seen["conflict"]) == ("already_inside", False)
    assert (junk["reason"], junk["ticket"]) == ("invalid", None)
    assert second["counts"] == {"ok": 0, "error": 3, "conflict": 1, "repeated": 0}
    [alert] = alerts
    assert alert.data["ticket"] == ticket["id"] and alert.data["conflict_with"] == log["n-1"].id
    snap = await north.get(f"/api/v1/events/{event['id']}/headcount")
    assert snap["inside"] == 1  # never merged into the count


async def test_batch_respects_capacity_and_exits(organiser: Api, event: Any) -> None:
    room = await organiser.post(
        f"/api/v1/events/{event['id']}/zones", {"name": "Room", "capacity": 2}, expect=201
    )
    door_gate = await organiser.post(
        f"/api/v1/events/{event['id']}/gates", {"name": "D", "to_zone": room["id"]}, expect=201
    )
    people = [await issue(organiser, event["id"], name=f"P{i}") for i in range(3)]
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    answer = await sync(
        organiser,
        event["id"],
        [
            item(people[0]["secret"], door_gate["id"], "c-1", t0),
            item(people[1]["secret"], door_gate["id"], "c-2", t0 + timedelta(seconds=1)),
            item(people[2]["secret"], door_gate["id"], "c-3", t0 + timedelta(seconds=2)),
            item(people[0]["secret"], door_gate["id"], "c-4", t0 + timedelta(seconds=3), "out"),
            item(people[2]["secret"], door_gate["id"], "c-5", t0 + timedelta(seconds=4)),
            item(people[1]["secret"], door_gate["id"], "c-6", t0 + timedelta(seconds=5), "out"),
            item(people[1]["secret"], door_gate["id"], "c-7", t0 + timedelta(seconds=6), "out"),
        ],
    )
    reasons = [r["reason"] for r in answer["results"]]
    assert reasons == [None, None, "zone_full", None, None, None, "not_inside"]
    snap = await organiser.get(f"/api/v1/events/{event['id']}/headcount")
    assert next(z for z in snap["zones"] if z["id"] == room["id"])["inside"] == 1
    assert (await scan(organiser, event["id"], people[2]["secret"], door_gate["id"]))[
        "reason"
    ] == "already_inside"


async def test_sync_rights_and_limits(
    api_as: Any, organiser: Api, event: Any, zone: Any, gate: Any, ticket: Any
) -> None:
    door = await api_as("door", event["id"], gate["id"])
    side = await organiser.post(
        f"/api/v1/events/{event['id']}/gates", {"name": "Side", "to_zone": zone["id"]}, expect=201
    )
    at = datetime.now(UTC)
    refused = await sync(
        door, event["id"], [item(ticket["secret"], side["id"], "x-1", at)], expect=403
    )
    assert refused["error"]["code"] == "wrong_gate"
    unknown = await sync(
        organiser, event["id"], [item(ticket["secret"], 424242, "x-2", at)], expect=422
    )
    assert unknown["error"]["code"] == "unknown_gate"
    too_many = [item(ticket["secret"], gate["id"], f"x-{i}", at) for i in range(5001)]
    await sync(door, event["id"], too_many, expect=422)
    empty = await sync(door, event["id"], [])
    assert empty["results"] == [] and empty["counts"]["ok"] == 0


async def test_a_refusal_at_the_door_stands_and_every_divergence_is_alerted(
    ctx: Muster, api_as: Any, organiser: Api, event: Any, zone: Any, gate: Any
) -> None:
    door = await api_as("door", event["id"], gate["id"])
    turned_away, let_in, revoked = [await issue(organiser, event["id"], name=n) for n in "ABC"]
    await organiser.post(f"/api/v1/tickets/{revoked['id']}/revoke", {}, expect=200)
    at = datetime.now(UTC) - timedelta(minutes=1)
    answer = await sync(
        door,
        event["id"],
        [
            {  # the phone's seen set was stale: it refused someone outside
                **item(turned_away["secret"], gate["id"], "d-1", at),
                "local_status": "error",
                "local_reason": "already_inside",
            },
            # the phone had not heard of the revocation: it let the holder in
            item(revoked["secret"], gate["id"], "d-2", at),
            item(let_in["secret"], gate["id"], "d-3", at),
        ],
    )
    refused, revoked_in, fine = answer["results"]
    async with ctx.db.reading() as session:
        log = {s.nonce: s for s in (await session.scalars(select(Scan))).all()}
        alerts = (await session.scalars(select(Alert).where(Alert.kind == "conflict"))).all()
    assert (refused["status"], refused["reason"], refused["conflict"]) == (
        "error",
        "already_inside",
        True,
    )
    assert refused["conflict_with"] == log["d-1"].id == log["d-1"].conflict_with
    assert (revoked_in["reason"], revoked_in["conflict_with"]) == ("revoked", log["d-2"].id)
    assert fine["status"] == "ok" and not fine["conflict"]
    assert answer["counts"]["conflict"] == 2
    assert sorted(a.data["divergence"] for a in alerts) == ["door_admitted", "door_refused"]
    snap = await door.get(f"/api/v1/events/{event['id']}/headcount")
    assert snap["inside"] == 1  # the one turned away is not counted inside


async def test_an_online_answer_the_phone_never_showed_is_a_conflict(
    ctx: Muster, api_as: Any, event: Any, gate: Any, ticket: Any
) -> None:
    # The phone asked online and, the answer being late, turned the holder
    # away on its own judgement; the request still arrived and admitted.
    door = await api_as("door", event["id"], gate["id"])
    online = await scan(door, event["id"], ticket["secret"], gate["id"], nonce="o-1")
    assert online["status"] == "ok"
    queued = {
        **item(ticket["secret"], gate["id"], "o-1", datetime.now(UTC)),
        "local_status": "error",
        "local_reason": "already_inside",
    }
    answer = await sync(door, event["id"], [queued])
    [result] = answer["results"]
    async with ctx.db.reading() as session:
        logged = (await session.scalars(select(Scan).where(Scan.nonce == "o-1"))).one()
        [alert] = (await session.scalars(select(Alert).where(Alert.kind == "conflict"))).all()
    assert (result["status"], result["repeated"], result["conflict"]) == ("ok", True, True)
    assert result["conflict_with"] == logged.id == logged.conflict_with
    assert answer["counts"] == {"ok": 0, "error": 0, "conflict": 1, "repeated": 1}
    assert alert.data["divergence"] == "door_refused" and alert.data["nonce"] == "o-1"
    again = await sync(door, event["id"], [queued])  # sent twice: marked once
    assert again["counts"]["conflict"] == 0
    async with ctx.db.reading() as session:
        assert len((await session.scalars(select(Alert))).all()) == 1


async def test_local_reason_must_be_a_reason_code(api_as: Any, event: Any, gate: Any) -> None:
    door = await api_as("door", event["id"], gate["id"])
    bad = {**item("X", gate["id"], "r-1", datetime.now(UTC)), "local_reason": "nope"}
    refused = await sync(door, event["id"], [bad], expect=422)
    assert refused["error"]["code"] == "invalid_request"
