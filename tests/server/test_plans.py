"""Emergency plans: kept by the organiser, attached to incidents of their category."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from server.features.incidents import incidents_snapshot
from server.models import BusMessage
from tests.server.test_incidents import report, url

MEDICAL_PLAN = {
    "category": "medical",
    "title_zh": "医疗急救预案",
    "title_en": "Medical emergency",
    "steps_zh": "1. 呼叫现场医护 **分机 120**\n2. 疏散围观人群\n3. 指引救护车到北门",
    "steps_en": "1. Call the on-site medic, **ext. 120**\n2. Clear the crowd\n3. Guide the ambulance to the north gate",
}


def plans_url(event: dict[str, Any]) -> str:
    return f"/api/v1/events/{event['id']}/plans"


async def test_plan_is_attached_to_incidents_of_its_category(ctx, organiser, api_as, event):
    plan = await organiser.post(plans_url(event), MEDICAL_PLAN, expect=201)
    assert plan["title"] == {"zh": "医疗急救预案", "en": "Medical emergency"}
    assert plan["steps"]["zh"].startswith("1. 呼叫现场医护")
    staff = await api_as("staff", event["id"])
    medical = await report(staff, event, category="medical", severity="P1")
    assert medical["plan"]["id"] == plan["id"]
    assert medical["plan"]["steps"]["en"] == MEDICAL_PLAN["steps_en"]
    other = await report(staff, event, category="power")
    assert other["plan"] is None

    taken = await staff.post(url(event, medical, "ack"), {}, expect=200)
    assert taken["plan"]["id"] == plan["id"]
    async with ctx.db.reading() as session:
        payloads = list(
            await session.scalars(
                select(BusMessage.payload)
                .where(BusMessage.topic == "incidents")
                .order_by(BusMessage.id)
            )
        )
    medical_messages = [p for p in payloads if p["incident"]["id"] == medical["id"]]
    assert [p["action"] for p in medical_messages] == ["reported", "acknowledged"]
    assert all(p["incident"]["plan"]["id"] == plan["id"] for p in medical_messages)
    snapshot = await incidents_snapshot(ctx.db, event["id"])
    by_id = {i["id"]: i for i in snapshot["incidents"]}
    assert by_id[medical["id"]]["plan"]["title"]["en"] == "Medical emergency"


async def test_edits_reach_open_incidents(organiser, api_as, event):
    plan = await organiser.post(plans_url(event), MEDICAL_PLAN, expect=201)
    staff = await api_as("staff", event["id"])
    medical = await report(staff, event, category="medical")
    changed = await organiser.patch(
        f"{plans_url(event)}/{plan['id']}", {"steps_en": "1. Call ext. 119 now"}
    )
    assert changed["steps"] == {"zh": MEDICAL_PLAN["steps_zh"], "en": "1. Call ext. 119 now"}
    detail = await staff.get(url(event, medical))
    assert detail["plan"]["steps"]["en"] == "1. Call ext. 119 now"
    listed = await staff.get(plans_url(event))
    assert [p["category"] for p in listed["plans"]] == ["medical"]
    one = await staff.get(f"{plans_url(event)}/{plan['id']}")
    assert one["id"] == plan["id"]


async def test_plan_rules(organiser, api_as, event):
    await organiser.post(plans_url(event), MEDICAL_PLAN, expect=201)
    again = await organiser.post(plans_url(event), MEDICAL_PLAN, expect=409)
    assert again["error"]["code"] == "plan_exists"
    unknown = await organiser.post(
        plans_url(event), {**MEDICAL_PLAN, "category": "ufo"}, expect=422
    )
    assert unknown["error"]["code"] == "unknown_category"
    empty = await organiser.post(
        plans_url(event), {"category": "power", "steps_zh": " ", "steps_en": ""}, expect=422
    )
    assert empty["error"]["code"] == "plan_needs_steps"
    await organiser.get(f"{plans_url(event)}/999999", expect=404)
    for role in ("command", "staff", "door"):
        caller = await api_as(role, event["id"])
        refused = await caller.post(
            plans_url(event), {**MEDICAL_PLAN, "category": "power"}, expect=403
        )
        assert refused["error"]["code"] == "forbidden"
