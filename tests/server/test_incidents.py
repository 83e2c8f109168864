"""Incidents through the HTTP API: reporting, deduplication, lifecycle, rights."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from server.auth import Principal, create_account
from server.features.incidents import ReportIn, incidents_snapshot, report_incident
from server.models import BusMessage, Incident, utcnow
from tests.conftest import Api


def nonce() -> str:
    return uuid.uuid4().hex


def report_body(**fields: Any) -> dict[str, Any]:
    body = {
        "category": "equipment_failure",
        "severity": "P2",
        "title": "投影仪黑屏 Projector dead",
        "description": "Main stage left projector shows nothing.",
        "nonce": nonce(),
    }
    body.update(fields)
    return body


async def report(api: Api, event: dict[str, Any], expect: int | None = 201, **fields: Any) -> Any:
    return await api.post(
        f"/api/v1/events/{event['id']}/incidents", report_body(**fields), expect=expect
    )


def url(event: dict[str, Any], incident: dict[str, Any], action: str = "") -> str:
    base = f"/api/v1/events/{event['id']}/incidents/{incident['id']}"
    return f"{base}/{action}" if action else base


async def person(
    ctx: Any, client: Any, role: str, event: dict[str, Any], name: str
) -> tuple[Api, int]:
    account, token = await create_account(ctx.db, role, event_id=event["id"], name=name)
    return Api(client, token), account.id


async def messages(ctx: Any, topic: str = "incidents") -> list[dict[str, Any]]:
    async with ctx.db.reading() as session:
        rows = await session.scalars(
            select(BusMessage.payload).where(BusMessage.topic == topic).order_by(BusMessage.id)
        )
        return list(rows)


async def test_report_and_read_back(ctx, api_as, event):
    staff = await api_as("staff", event["id"])
    seen: list[tuple[int, tuple[str, ...]]] = []
    ctx.listeners.append(lambda event_id, topics: seen.append((event_id, topics)))
    created = await report(staff, event, equipment_tag="PROJ-07", location="Main stage")
    assert created["report"] == {"outcome": "created", "repeated": False}
    assert created["status"] == "open" and created["severity"] == "P2"
    assert created["reporter"]["name"] == "staff" and created["assignee"] is None
    assert created["location"] == {"zone": None, "gate": None, "text": "Main stage"}
    assert created["plan"] is None and created["photos"] == []
    assert seen == [(event["id"], ("incidents",))]
    [message] = await messages(ctx)
    assert message["action"] == "reported" and message["incident"]["id"] == created["id"]
    detail = await staff.get(url(event, created))
    assert [e["action"] for e in detail["log"]] == ["reported"]
    assert detail["comments"] == []


async def test_repeated_nonce_reports_once(ctx, api_as, event):
    staff = await api_as("staff", event["id"])
    body = report_body()
    first = await staff.post(f"/api/v1/events/{event['id']}/incidents", body, expect=201)
    again = await staff.post(f"/api/v1/events/{event['id']}/incidents", body, expect=200)
    assert again["id"] == first["id"]
    assert again["report"] == {"outcome": "created", "repeated": True}
    assert again["reports"] == 1
    async with ctx.db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(Incident)) == 1
    assert len(await messages(ctx)) == 1


async def test_bad_reports_are_refused(organiser, api_as, event, zone):
    staff = await api_as("staff", event["id"])
    bad = await report(staff, event, expect=422, category="alien_invasion")
    assert bad["error"]["code"] == "unknown_category"
    assert "medical" in bad["error"]["details"]["categories"]
    assert (await report(staff, event, expect=422, zone=999999))["error"]["code"] == "unknown_zone"
    assert (await report(staff, event, expect=422, severity="P7"))["error"][
        "code"
    ] == "invalid_request"
    assert (await report(staff, event, expect=422, title=""))["error"]["code"] == "invalid_request"
    await report(staff, event, zone=zone["id"], severity="p1")


async def test_event_specific_categories(organiser, api_as, event):
    await organiser.patch(
        f"/api/v1/events/{event['id']}", {"options": {"incident_categories": ["av", "catering"]}}
    )
    staff = await api_as("staff", event["id"])
    await report(staff, event, category="av")
    refused = await report(staff, event, expect=422, category="medical")
    assert refused["error"]["details"]["categories"] == ["av", "catering"]


async def test_duplicate_reports_join_the_open_incident(ctx, api_as, event, gate):
    staff = await api_as("staff", event["id"])
    first = await report(staff, event, equipment_tag="PROJ-07", severity="P3")
    linked = await report(
        staff, event, expect=200, equipment_tag="proj-07", severity="P1", description="Smoke too"
    )
    assert linked["id"] == first["id"]
    assert linked["report"] == {"outcome": "linked", "repeated": False}
    assert linked["reports"] == 2 and linked["severity"] == "P1"
    detail = await staff.get(url(event, first))
    assert [e["action"] for e in detail["log"]] == ["reported", "linked_report"]
    assert detail["log"][1]["data"]["severity_raised_from"] == "P3"
    assert detail["log"][1]["text"] == "Smoke too"
    assert [m["action"] for m in await messages(ctx)] == ["reported", "linked_report"]

    # Same gate and category: joined; another category at the gate: new.
    medical = await report(staff, event, category="medical", gate=gate["id"], location="")
    again = await report(staff, event, expect=200, category="medical", gate=gate["id"], location="")
    assert again["id"] == medical["id"]
    security = await report(staff, event, category="security", gate=gate["id"], location="")
    assert security["id"] != medical["id"]
    forced = await report(staff, event, category="medical", gate=gate["id"], force_new=True)
    assert forced["id"] != medical["id"] and forced["report"]["outcome"] == "created"


async def test_no_duplicate_once_resolved_or_outside_the_window(ctx, organiser, api_as, event):
    staff = await api_as("staff", event["id"])
    first = await report(staff, event, equipment_tag="READER-3")
    await organiser.post(url(event, first, "resolve"), {}, expect=200)
    second = await report(staff, event, equipment_tag="READER-3")
    assert second["id"] != first["id"]
    actor = Principal(0, "staff", event["id"], None, "token", "clock")
    later = await report_incident(
        ctx.db,
        event["id"],
        ReportIn(**report_body(equipment_tag="READER-3")),
        actor,
        window=timedelta(minutes=30),
        now=utcnow() + timedelta(minutes=31),
    )
    assert later.outcome == "created" and later.incident["id"] != second["id"]
    joined = await report_incident(
        ctx.db,
        event["id"],
        ReportIn(**report_body(equipment_tag="READER-3")),
        actor,
        window=timedelta(minutes=30),
        now=utcnow() + timedelta(minutes=40),
    )
    assert joined.outcome == "linked" and joined.incident["id"] == later.incident["id"]


async def test_lifecycle_and_log(ctx, client, organiser, event):
    alice, alice_id = await person(ctx, client, "staff", event, "Alice 李")
    bob, _ = await person(ctx, client, "staff", event, "Bob 王")
    command, _ = await person(ctx, client, "command", event, "Command 指挥")
    incident = await report(bob, event)

    taken = await alice.post(url(event, incident, "ack"), {"note": "on my way"}, expect=200)
    assert taken["status"] == "acknowledged"
    assert taken["assignee"] == {"id": alice_id, "name": "Alice 李", "role": "staff"}
    assert taken["entry"]["action"] == "acknowledged" and taken["entry"]["text"] == "on my way"
    twice = await command.post(url(event, incident, "ack"), {}, expect=409)
    assert twice["error"]["code"] == "invalid_transition"
    assert twice["error"]["details"] == {"status": "acknowledged", "action": "ack"}

    not_hers = await bob.post(url(event, incident, "resolve"), {}, expect=403)
    assert not_hers["error"]["code"] == "resolve_not_assigned"
    done = await alice.post(url(event, incident, "resolve"), {"note": "cable reseated"}, expect=200)
    assert done["status"] == "resolved" and done["resolved_at"]
    again = await alice.post(url(event, incident, "resolve"), {}, expect=409)
    assert again["error"]["code"] == "invalid_transition"
    reopened = await command.post(url(event, incident, "reopen"), {}, expect=200)
    assert reopened["status"] == "open" and reopened["resolved_at"] is None
    assert reopened["escalation_level"] == 0

    detail = await organiser.get(url(event, incident))
    assert [e["action"] for e in detail["log"]] == [
        "reported",
        "acknowledged",
        "resolved",
        "reopened",
    ]
    assert [e["actor"]["name"] for e in detail["log"]] == [
        "Bob 王",
        "Alice 李",
        "Alice 李",
        "Command 指挥",
    ]
    assert detail["log"][2]["text"] == "cable reseated"
    actions = [m["action"] for m in await messages(ctx)]
    assert actions == ["reported", "acknowledged", "resolved", "reopened"]


async def test_assign(ctx, client, organiser, api_as, event):
    alice, alice_id = await person(ctx, client, "staff", event, "Alice 李")
    bob, bob_id = await person(ctx, client, "staff", event, "Bob 王")
    incident = await report(bob, event)
    by_id = await organiser.post(url(event, incident, "assign"), {"assignee": alice_id}, expect=200)
    assert by_id["assignee"] == {"id": alice_id, "name": "Alice 李", "role": "staff"}
    assert by_id["status"] == "open"
    by_name = await organiser.post(
        url(event, incident, "assign"), {"assignee": "Bob 王"}, expect=200
    )
    assert by_name["assignee"]["id"] == bob_id
    outsider = await organiser.post(
        url(event, incident, "assign"), {"assignee": "电工老李"}, expect=200
    )
    assert outsider["assignee"] == {"id": None, "name": "电工老李", "role": None}
    unknown = await organiser.post(url(event, incident, "assign"), {"assignee": 999999}, expect=422)
    assert unknown["error"]["code"] == "unknown_assignee"
    await person(ctx, client, "staff", event, "Bob 王")
    ambiguous = await organiser.post(
        url(event, incident, "assign"), {"assignee": "Bob 王"}, expect=422
    )
    assert ambiguous["error"]["code"] == "ambiguous_assignee"

    # Staff take only what nobody has, and only for themselves.
    fresh = await report(bob, event, equipment_tag="X-1")
    await alice.post(url(event, fresh, "assign"), {"assignee": bob_id}, expect=403)
    mine = await alice.post(url(event, fresh, "assign"), {"assignee": "me"}, expect=200)
    assert mine["assignee"]["id"] == alice_id
    await bob.post(url(event, fresh, "assign"), {"assignee": "me"}, expect=403)
    await alice.post(url(event, fresh, "resolve"), {}, expect=200)
    closed = await organiser.post(url(event, fresh, "assign"), {"assignee": "me"}, expect=409)
    assert closed["error"]["code"] == "invalid_transition"


async def test_door_reports_and_comments_but_does_not_run_incidents(ctx, api_as, event, gate):
    door = await api_as("door", event["id"], gate["id"])
    incident = await report(
        door, event, category="equipment_failure", gate=gate["id"], equipment_tag="READER-1"
    )
    for action, body in (
        ("ack", {}),
        ("assign", {"assignee": "me"}),
        ("resolve", {}),
        ("reopen", {}),
    ):
        refused = await door.post(url(event, incident, action), body, expect=403)
        assert refused["error"]["code"] == "forbidden", action
    commented = await door.post(
        url(event, incident, "comments"), {"text": "still dead"}, expect=201
    )
    assert commented["entry"]["action"] == "commented"


async def test_comments_with_nonce_are_stored_once(ctx, api_as, event):
    staff = await api_as("staff", event["id"])
    incident = await report(staff, event)
    body = {"text": "需要备用投影仪 need a spare", "nonce": "c-1"}
    first = await staff.post(url(event, incident, "comments"), body, expect=201)
    again = await staff.post(url(event, incident, "comments"), body, expect=200)
    assert again["entry"] == first["entry"]
    detail = await staff.get(url(event, incident))
    assert [c["text"] for c in detail["comments"]] == [body["text"]]
    empty = await staff.post(url(event, incident, "comments"), {"text": ""}, expect=422)
    assert empty["error"]["code"] == "invalid_request"


async def test_list_filters(ctx, client, organiser, event):
    alice, _ = await person(ctx, client, "staff", event, "Alice 李")
    bob, _ = await person(ctx, client, "staff", event, "Bob 王")
    a = await report(bob, event, equipment_tag="A")
    b = await report(bob, event, equipment_tag="B", category="power")
    c = await report(organiser, event, equipment_tag="C")
    await alice.post(url(event, a, "ack"), {}, expect=200)
    await organiser.post(url(event, c, "resolve"), {}, expect=200)
    base = f"/api/v1/events/{event['id']}/incidents"
    everything = await organiser.get(base)
    assert [i["id"] for i in everything["incidents"]] == [c["id"], b["id"], a["id"]]
    active = await organiser.get(base + "?status=active")
    assert {i["id"] for i in active["incidents"]} == {a["id"], b["id"]}
    resolved = await organiser.get(base + "?status=resolved")
    assert [i["id"] for i in resolved["incidents"]] == [c["id"]]
    mine = await alice.get(base + "?mine=1")
    assert [i["id"] for i in mine["incidents"]] == [a["id"]]
    power = await organiser.get(base + "?category=power")
    assert [i["id"] for i in power["incidents"]] == [b["id"]]
    bad = await organiser.get(base + "?status=lost", expect=422)
    assert bad["error"]["code"] == "invalid_request"
    await organiser.get(base + "/999999", expect=404)

    snapshot = await incidents_snapshot(ctx.db, event["id"])
    assert [i["id"] for i in snapshot["incidents"]] == [a["id"], b["id"]]
    assert snapshot["open"] == 1 and snapshot["acknowledged"] == 1
