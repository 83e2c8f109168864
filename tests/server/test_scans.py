"""POST /scans and /scans/{nonce}/annul, on SQLite and PostgreSQL: every reason
code, nonce idempotency, exits and re-entry, gates bound to door tokens, the
annul window and rights, and the scan log left behind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.context import Muster
from server.models import Alert, Scan
from tests.conftest import Api, event_body


@pytest.fixture(autouse=True)
def no_venue_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests edit the venue and scan at once; production waits for the TTL.
    monkeypatch.setattr("checkin.venue.VENUE_CACHE_SECONDS", -1.0)


@pytest.fixture
async def door(api_as: Any, event: dict[str, Any], gate: dict[str, Any]) -> Api:
    api: Api = await api_as("door", event["id"], gate["id"])
    return api


async def scan(
    api: Api,
    event_id: int,
    secret: str,
    gate_id: int,
    direction: str = "in",
    nonce: str | None = None,
    expect: int = 200,
) -> Any:
    body = {
        "secret": secret,
        "gate": gate_id,
        "direction": direction,
        "nonce": nonce or uuid.uuid4().hex,
        "scanned_at": datetime.now(UTC).isoformat(),
    }
    return await api.post(f"/api/v1/events/{event_id}/scans", body, expect=expect)


async def issue(
    organiser: Api, event_id: int, ticket_type: int | None = None, name: str = "李娜"
) -> Any:
    body: dict[str, Any] = {"holder_name": name}
    if ticket_type is not None:
        body["ticket_type"] = ticket_type
    return await organiser.post(f"/api/v1/events/{event_id}/tickets", body, expect=201)


async def scans_of(ctx: Muster, event_id: int) -> list[Scan]:
    async with ctx.db.reading() as session:
        rows = await session.scalars(
            select(Scan).where(Scan.event_id == event_id).order_by(Scan.id)
        )
        return list(rows.all())


async def test_admit_then_already_inside(
    ctx: Muster, door: Api, event: Any, gate: Any, zone: Any, ticket: Any
) -> None:
    first = await scan(door, event["id"], ticket["secret"], gate["id"])
    assert first["status"] == "ok" and first["reason"] is None
    assert first["ticket"]["id"] == ticket["id"]
    assert first["ticket"]["holder_name"] == "王伟"
    assert first["ticket"]["zone"] == zone["id"]
    assert first["zone"] == {"id": zone["id"], "name": "Hall A"}
    again = await scan(door, event["id"], ticket["secret"], gate["id"])
    assert (again["status"], again["reason"]) == ("error", "already_inside")
    log = await scans_of(ctx, event["id"])
    assert [(s.status, s.reason) for s in log] == [("ok", None), ("error", "already_inside")]
    assert all(s.device_id is not None and s.gate_id == gate["id"] for s in log)
    assert (log[0].from_zone_id, log[0].to_zone_id) == (None, zone["id"])
    assert log[0].received_at >= log[0].scanned_at - timedelta(seconds=5)


async def test_repeated_nonce_returns_first_answer_and_changes_nothing(
    ctx: Muster, door: Api, event: Any, gate: Any, ticket: Any
) -> None:
    first = await scan(door, event["id"], ticket["secret"], gate["id"], nonce="n-1")
    again = await scan(door, event["id"], ticket["secret"], gate["id"], nonce="n-1")
    assert again == first and first["status"] == "ok"
    out = await scan(door, event["id"], ticket["secret"], gate["id"], "out", nonce="n-1")
    assert out == first  # even a different request: a nonce is one scan
    assert len(await scans_of(ctx, event["id"])) == 1
    counts = await door.get(f"/api/v1/events/{event['id']}/headcount")
    assert counts["inside"] == 1


async def test_exit_and_reentry(door: Api, event: Any, gate: Any, ticket: Any) -> None:
    not_in = await scan(door, event["id"], ticket["secret"], gate["id"], "out")
    assert (not_in["status"], not_in["reason"]) == ("error", "not_inside")
    assert (await scan(door, event["id"], ticket["secret"], gate["id"]))["status"] == "ok"
    out = await scan(door, event["id"], ticket["secret"], gate["id"], "out")
    assert out["status"] == "ok" and out["ticket"]["zone"] is None and out["zone"] is None
    back = await scan(door, event["id"], ticket["secret"], gate["id"])
    assert back["status"] == "ok"  # the default ticket type allows re-entry
    snap = await door.get(f"/api/v1/events/{event['id']}/headcount")
    assert snap["gates"][0]["in"] == 2 and snap["gates"][0]["out"] == 1
    assert snap["gates"][0]["refused"] == 1
    assert (snap["inside"], snap["checked_in"]) == (1, 1)


async def test_no_reentry_type(organiser: Api, door: Api, event: Any, gate: Any) -> None:
    once = await organiser.post(
        f"/api/v1/events/{event['id']}/ticket-types", {"name": "单次", "reentry": False}, expect=201
    )
    ticket = await issue(organiser, event["id"], once["id"])
    assert (await scan(door, event["id"], ticket["secret"], gate["id"]))["status"] == "ok"
    assert (await scan(door, event["id"], ticket["secret"], gate["id"], "out"))["status"] == "ok"
    back = await scan(door, event["id"], ticket["secret"], gate["id"])
    assert (back["status"], back["reason"]) == ("error", "already_inside")


async def test_invalid_codes(door: Api, event: Any, gate: Any, ticket: Any) -> None:
    junk = await scan(door, event["id"], "HELLO", gate["id"])
    assert (junk["status"], junk["reason"], junk["ticket"]) == ("error", "invalid", None)
    secret = ticket["secret"]
    forged = secret[:60] + ("A" if secret[60] != "A" else "B") + secret[61:]
    assert (await scan(door, event["id"], forged, gate["id"]))["reason"] == "invalid"


async def test_wrong_event(organiser: Api, door: Api, event: Any, gate: Any) -> None:
    other = await organiser.post("/api/v1/events", event_body(name="Other"), expect=201)
    foreign = await issue(organiser, other["id"])
    answer = await scan(door, event["id"], foreign["secret"], gate["id"])
    assert (answer["status"], answer["reason"]) == ("error", "wrong_event")


async def test_revoked_and_reissued(
    organiser: Api, door: Api, event: Any, gate: Any, ticket: Any
) -> None:
    await organiser.post(f"/api/v1/tickets/{ticket['id']}/revoke", {"reissue": True}, expect=200)
    old = await scan(door, event["id"], ticket["secret"], gate["id"])
    assert (old["status"], old["reason"]) == ("error", "revoked")
    assert old["ticket"]["id"] == ticket["id"]
    fresh = await organiser.get(f"/api/v1/tickets/{ticket['id']}")
    assert (await scan(door, event["id"], fresh["secret"], gate["id"]))["status"] == "ok"
    await organiser.post(f"/api/v1/tickets/{ticket['id']}/revoke", {}, expect=200)
    gone = await scan(door, event["id"], fresh["secret"], gate["id"], "out")
    assert gone["reason"] == "revoked"


async def test_validity_window(organiser: Api, door: Api, event: Any, gate: Any) -> None:
    now = datetime.now(UTC)
    later = await organiser.post(
        f"/api/v1/events/{event['id']}/ticket-types",
        {"name": "Tomorrow", "valid_from": (now + timedelta(days=1)).isoformat()},
        expect=201,
    )
    past = await organiser.post(
        f"/api/v1/events/{event['id']}/ticket-types",
        {"name": "Yesterday", "valid_until": (now - timedelta(hours=1)).isoformat()},
        expect=201,
    )
    early = await issue(organiser, event["id"], later["id"])
    late = await issue(organiser, event["id"], past["id"])
    assert (await scan(door, event["id"], early["secret"], gate["id"]))["reason"] == "not_yet_valid"
    assert (await scan(door, event["id"], late["secret"], gate["id"]))["reason"] == "expired"


async def test_wrong_zone_and_inner_gates(
    organiser: Api, door: Api, event: Any, zone: Any, gate: Any
) -> None:
    vip = await organiser.post(f"/api/v1/events/{event['id']}/zones", {"name": "VIP"}, expect=201)
    inner = await organiser.post(
        f"/api/v1/events/{event['id']}/gates",
        {"name": "VIP door", "from_zone": zone["id"], "to_zone": vip["id"]},
        expect=201,
    )
    hall_only = await organiser.post(
        f"/api/v1/events/{event['id']}/ticket-types",
        {"name": "Hall", "zones": [zone["id"]]},
        expect=201,
    )
    plain = await issue(organiser, event["id"], hall_only["id"])
    guest = await issue(organiser, event["id"])
    anywhere = organiser  # an organiser token scans at every gate
    assert (await scan(anywhere, event["id"], guest["secret"], inner["id"]))[
        "reason"
    ] == "not_inside"
    for t in (plain, guest):
        assert (await scan(door, event["id"], t["secret"], gate["id"]))["status"] == "ok"
    refused = await scan(anywhere, event["id"], plain["secret"], inner["id"])
    assert (refused["status"], refused["reason"]) == ("error", "wrong_zone")
    moved = await scan(anywhere, event["id"], guest["secret"], inner["id"])
    assert moved["status"] == "ok" and moved["ticket"]["zone"] == vip["id"]
    outside = await scan(door, event["id"], guest["secret"], gate["id"], "out")
    assert outside["reason"] == "not_inside"  # in VIP, not in the hall
    snap = await organiser.get(f"/api/v1/events/{event['id']}/headcount")
    assert {z["name"]: z["inside"] for z in snap["zones"]} == {"Hall A": 1, "VIP": 1}
    assert snap["inside"] == 2


async def test_zone_full_exact_and_alerts(ctx: Muster, organiser: Api, event: Any) -> None:
    small = await organiser.post(
        f"/api/v1/events/{event['id']}/zones",
        {"name": "Room", "capacity": 4, "soft_warning": 0.5},
        expect=201,
    )
    door_gate = await organiser.post(
        f"/api/v1/events/{event['id']}/gates",
        {"name": "Room door", "to_zone": small["id"]},
        expect=201,
    )
    tickets = [await issue(organiser, event["id"], name=f"P{i}") for i in range(6)]
    answers = [await scan(organiser, event["id"], t["secret"], door_gate["id"]) for t in tickets]
    # 8 shards share 4 places: whichever shard a ticket starts at, a free
    # place anywhere in the zone is found; the 5th is refused.
    assert [a["status"] for a in answers] == ["ok"] * 4 + ["error"] * 2
    assert answers[4]["reason"] == "zone_full" and answers[4]["zone"]["id"] == small["id"]
    assert answers[4]["ticket"]["zone"] is None
    out = await scan(organiser, event["id"], tickets[0]["secret"], door_gate["id"], "out")
    assert out["status"] == "ok"
    assert (await scan(organiser, event["id"], tickets[4]["secret"], door_gate["id"]))[
        "status"
    ] == "ok"
    snap = await organiser.get(f"/api/v1/events/{event['id']}/headcount")
    room = next(z for z in snap["zones"] if z["id"] == small["id"])
    assert (room["inside"], room["capacity"], room["level"]) == (4, 4, "full")
    async with ctx.db.reading() as session:
        kinds = set(
            (await session.scalars(select(Alert.kind).where(Alert.event_id == event["id"]))).all()
        )
    assert {"zone_near_full", "zone_full"} <= kinds


async def test_bound_door_token_and_rights(
    api_as: Any, organiser: Api, door: Api, event: Any, zone: Any, gate: Any, ticket: Any
) -> None:
    side = await organiser.post(
        f"/api/v1/events/{event['id']}/gates",
        {"name": "Side door", "to_zone": zone["id"]},
        expect=201,
    )
    refused = await scan(door, event["id"], ticket["secret"], side["id"], expect=403)
    assert refused["error"]["code"] == "wrong_gate"
    staff = await api_as("staff", event["id"])
    await scan(staff, event["id"], ticket["secret"], gate["id"], expect=403)
    other = await organiser.post("/api/v1/events", event_body(name="Other"), expect=201)
    foreign_door = await api_as("door", other["id"])
    await scan(foreign_door, event["id"], ticket["secret"], gate["id"], expect=403)
    unknown = await scan(organiser, event["id"], ticket["secret"], 999_999, expect=422)
    assert unknown["error"]["code"] == "unknown_gate"
    bad = await door.post(f"/api/v1/events/{event['id']}/scans", {"secret": "X"}, expect=422)
    assert bad["error"]["code"] == "invalid_request"
    await scan(organiser, 999_999, ticket["secret"], gate["id"], expect=404)


async def test_annul_restores_state(
    ctx: Muster, door: Api, event: Any, gate: Any, ticket: Any
) -> None:
    await scan(door, event["id"], ticket["secret"], gate["id"], nonce="a-1")
    undone = await door.post(f"/api/v1/events/{event['id']}/scans/a-1/annul", expect=200)
    assert undone["ticket"] == {"id": ticket["id"], "zone": None}
    assert undone["scan"]["status"] == "ok"
    snap = await door.get(f"/api/v1/events/{event['id']}/headcount")
    assert (snap["inside"], snap["checked_in"], snap["gates"][0]["in"]) == (0, 0, 0)
    twice = await door.post(f"/api/v1/events/{event['id']}/scans/a-1/annul", expect=200)
    assert twice["annulled_at"] == undone["annulled_at"]
    [logged] = await scans_of(ctx, event["id"])
    assert logged.annulled_at is not None and logged.annulled_by is not None  # marked, kept
    assert (await scan(door, event["id"], ticket["secret"], gate["id"]))["status"] == "ok"


async def test_annul_rights_window_and_supersede(
    ctx: Muster,
    api_as: Any,
    door: Api,
    event: Any,
    gate: Any,
    ticket: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await scan(door, event["id"], ticket["secret"], gate["id"], nonce="b-1")
    other_door = await api_as("door", event["id"], gate["id"])
    denied = await other_door.post(f"/api/v1/events/{event['id']}/scans/b-1/annul", expect=403)
    assert denied["error"]["code"] == "not_own_scan"
    await door.post(f"/api/v1/events/{event['id']}/scans/nope/annul", expect=404)
    await scan(door, event["id"], ticket["secret"], gate["id"], "out", nonce="b-2")
    stale = await door.post(f"/api/v1/events/{event['id']}/scans/b-1/annul", expect=409)
    assert stale["error"]["code"] == "superseded"
    command = await api_as("command", event["id"])
    await command.post(f"/api/v1/events/{event['id']}/scans/b-2/annul", expect=200)
    monkeypatch.setattr(
        ctx,
        "settings",
        ctx.settings.__class__(**{**ctx.settings.__dict__, "annul_window_seconds": 0}),
    )
    await scan(door, event["id"], ticket["secret"], gate["id"], "out", nonce="b-3")
    late = await door.post(f"/api/v1/events/{event['id']}/scans/b-3/annul", expect=409)
    assert late["error"]["code"] == "annul_window_passed"


async def test_the_printed_code_admits_wherever_the_secret_does(
    organiser: Api, door: Api, event: Any, gate: Any, zone: Any
) -> None:
    ticket = await issue(organiser, event["id"], name="王伟")
    code = ticket["code"]
    assert len(code) == 6
    typed = await scan(door, event["id"], code.lower(), gate["id"])  # typed, lower case
    assert (typed["status"], typed["ticket"]["id"], typed["ticket"]["holder_name"]) == (
        "ok",
        ticket["id"],
        "王伟",
    )
    again = await scan(door, event["id"], ticket["secret"], gate["id"])
    assert again["reason"] == "already_inside"  # one ticket, whichever way it came
    out = {
        "secret": code,
        "gate": gate["id"],
        "direction": "out",
        "nonce": uuid.uuid4().hex,
        "scanned_at": datetime.now(UTC).isoformat(),
    }
    synced = await door.post(f"/api/v1/events/{event['id']}/scans/sync", {"scans": [out]})
    assert synced["results"][0]["status"] == "ok"  # offline sync too
    unknown = await scan(door, event["id"], "ZZZZZZ", gate["id"])
    assert unknown["reason"] == "invalid"
    other = await organiser.post(
        "/api/v1/events",
        {"name": "other", "starts_at": event["starts_at"], "ends_at": event["ends_at"]},
        expect=201,
    )
    elsewhere = await issue(organiser, other["id"])
    assert (await scan(door, event["id"], elsewhere["code"], gate["id"]))["reason"] == "invalid"
