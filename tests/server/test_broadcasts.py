"""Broadcasts over HTTP on SQLite and PostgreSQL: exactly the audience lists and
acknowledges it, each phone's acknowledgement is counted once (twice offline, or
many at once), the receipts by person and team, the re-send to those who have
not acknowledged; and plans confirmed by roster phones, readiness by team."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from server.models import BroadcastAck
from tests.server.broadcast_world import Floor, ack, make_floor, urgent


async def listed(floor: Floor, name: str) -> list[int]:
    return [b["id"] for b in (await floor.phones[name].get(floor.url()))["broadcasts"]]


async def test_a_broadcast_reaches_exactly_its_audience(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    # the security team and whoever stands in Hall B: 李娜 and 王强, not Tom nor the spare
    sent = await command.post(
        floor.url(), urgent({"teams": ["security"], "zones": [floor.hall_b]}), expect=201
    )
    assert sent["priority"] == "urgent" and sent["text"]["zh"].startswith("北门")
    b = sent["id"]
    for name, sees in {"李娜": True, "王强": True, "Tom": False, "spare": False}.items():
        assert (b in await listed(floor, name)) is sees, name
    refused = await ack(floor.phones["Tom"], b, expect=403)
    assert refused["error"]["code"] == "not_in_audience"
    by_zone = await command.post(floor.url(), urgent({"zones": [floor.hall_a]}), expect=201)
    assert await listed(floor, "李娜") == [by_zone["id"], b]  # her gate leads into Hall A
    by_role = await command.post(floor.url(), urgent({"roles": ["staff"]}), expect=201)
    assert by_role["id"] in await listed(floor, "spare")
    assert by_role["id"] not in await listed(floor, "李娜")
    person = await command.post(
        floor.url(), urgent({"people": [floor.members["Tom"]["id"]]}), expect=201
    )
    assert [n for n in floor.phones if person["id"] in await listed(floor, n)] == ["Tom"]


async def test_an_acknowledgement_sent_twice_offline_is_counted_once(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    b = (await command.post(floor.url(), urgent({"everyone": True}), expect=201))["id"]
    tapped = datetime.now(UTC) - timedelta(seconds=30)
    nonce = uuid.uuid4().hex
    li = floor.phones["李娜"]
    first = await li.post(
        f"/api/v1/broadcasts/{b}/ack", {"nonce": nonce, "acked_at": tapped.isoformat()}, expect=200
    )
    assert first["first"] is True
    again = await ack(li, b, nonce)  # the offline queue flushed twice
    other = await ack(li, b)  # or tapped again with a new nonce
    assert again["first"] is False and other["first"] is False
    assert again["acked_at"] == other["acked_at"] == first["acked_at"]
    receipts = (await command.get(f"/api/v1/broadcasts/{b}"))["receipts"]
    assert (receipts["expected"], receipts["acked"]) == (4, 1)  # 3 people and the spare phone
    people = {p["name"]: p for p in receipts["people"]}
    assert people["李娜"]["acked_at"] is not None and people["Tom"]["acked_at"] is None
    assert receipts["people"][-1]["name"] == "李娜"  # those who have not come first
    teams = {t["team"]: (t["acked"], t["expected"]) for t in receipts["teams"]}
    assert teams == {"security": (1, 1), "logistics": (0, 1), "tech": (0, 1)}
    assert [d["acked_at"] for d in receipts["devices"]] == [None]
    listed_for_command = (await command.get(floor.url()))["broadcasts"][0]
    assert listed_for_command["receipts"] == {"expected": 4, "acked": 1}
    mine = (await li.get(floor.url()))["broadcasts"][0]
    assert mine["acked"] is True


async def test_acknowledgements_at_once_from_many_tasks_count_each_phone_once(
    ctx, client, organiser, api_as
):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    b = (await command.post(floor.url(), urgent({"everyone": True}), expect=201))["id"]
    phones = list(floor.phones.values())
    answers = await asyncio.gather(*(ack(phone, b) for phone in phones for _ in range(8)))
    assert sum(a["first"] for a in answers) == len(phones)
    async with ctx.db.reading() as session:
        rows = await session.scalar(
            select(func.count()).select_from(BroadcastAck).where(BroadcastAck.broadcast_id == b)
        )
    assert rows == len(phones)
    receipts = (await command.get(f"/api/v1/broadcasts/{b}"))["receipts"]
    assert (receipts["expected"], receipts["acked"]) == (4, 4)


async def test_a_resend_goes_to_those_who_have_not_acknowledged(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    b = (await command.post(floor.url(), urgent({"roles": ["staff"]}), expect=201))["id"]
    await ack(floor.phones["王强"], b)
    again = await command.post(f"/api/v1/broadcasts/{b}/resend", expect=200)
    assert again["resent_to"] == 2 and again["resent_at"] is not None  # Tom and the spare
    info = await command.post(
        floor.url(),
        {"text_en": "Lunch at 12", "audience": {"everyone": True}, "ack_required": False},
        expect=201,
    )
    refused = await command.post(f"/api/v1/broadcasts/{info['id']}/resend", expect=409)
    assert refused["error"]["code"] == "no_ack_asked"


async def test_a_broadcast_is_refused_as_codes(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    cases = [
        ({"text_zh": " ", "audience": {"everyone": True}}, "broadcast_needs_text"),
        ({"text_zh": "x", "audience": {}}, "broadcast_needs_audience"),
        ({"text_zh": "x", "audience": {"zones": [999999]}}, "unknown_zone"),
        ({"text_zh": "x", "audience": {"people": [999999]}}, "unknown_person"),
        ({"text_zh": "x", "audience": {"everyone": True}, "plan_id": 999999}, "unknown_plan"),
    ]
    for body, code in cases:
        refused = await command.post(floor.url(), body, expect=422)
        assert refused["error"]["code"] == code, body
    await floor.phones["李娜"].post(floor.url(), urgent({"everyone": True}), expect=403)


async def test_a_broadcast_carries_its_plan(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    plan = await organiser.post(
        f"/api/v1/events/{floor.event_id}/plans",
        {"category": "medical", "title_zh": "医疗预案", "steps_zh": "1. 呼叫 120"},
        expect=201,
    )
    command = await api_as("command", floor.event_id)
    sent = await command.post(
        floor.url(), urgent({"everyone": True}, plan_id=plan["id"]), expect=201
    )
    assert sent["plan"]["steps"]["zh"] == "1. 呼叫 120"
    seen = (await floor.phones["Tom"].get(floor.url()))["broadcasts"][0]
    assert seen["plan"]["title"]["zh"] == "医疗预案" and seen["acked"] is False


async def test_plans_are_confirmed_by_roster_phones_and_readiness_counted_by_team(
    client, organiser, api_as
):
    floor = await make_floor(client, organiser)
    base = f"/api/v1/events/{floor.event_id}/plans"
    medical = await organiser.post(
        base, {"category": "medical", "steps_zh": "1. 呼叫 120"}, expect=201
    )
    await organiser.post(base, {"category": "crowd", "steps_en": "1. Slow the gates"}, expect=201)
    li = floor.phones["李娜"]
    done = await li.post(f"/api/v1/plans/{medical['id']}/ack", expect=200)
    assert done == {"plan": medical["id"], "staff": floor.members["李娜"]["id"], "confirmed": True}
    await li.post(f"/api/v1/plans/{medical['id']}/ack", expect=200)  # again: still one
    refused = await floor.phones["spare"].post(f"/api/v1/plans/{medical['id']}/ack", expect=409)
    assert refused["error"]["code"] == "not_a_roster_phone"

    answer = await li.get(base)
    assert {p["category"]: p["confirmed"] for p in answer["plans"]} == {
        "crowd": False,
        "medical": True,
    }
    command = await api_as("command", floor.event_id)
    readiness = (await command.get(base))["readiness"]
    assert (readiness["confirmed"], readiness["expected"]) == (1, 6)
    security = next(t for t in readiness["teams"] if t["team"] == "security")
    assert (security["confirmed"], security["expected"], security["ready"]) == (1, 2, 0)

    # A plan changed after it was read is to be read again.
    await organiser.patch(f"{base}/{medical['id']}", {"steps_zh": "1. 呼叫 120\n2. AED"})
    assert (await command.get(base))["readiness"]["confirmed"] == 0
    await li.post(f"/api/v1/plans/{medical['id']}/ack", expect=200)
    assert (await command.get(base))["readiness"]["confirmed"] == 1


async def test_the_review_has_acknowledgement_times_and_plans_read_by_doors_open(
    client, organiser, api_as
):
    floor = await make_floor(client, organiser)
    e = floor.event_id
    command = await api_as("command", e)
    b = (await command.post(floor.url(), urgent({"everyone": True}), expect=201))["id"]
    await command.post(
        floor.url(),
        {"text_en": "FYI", "audience": {"everyone": True}, "ack_required": False},
        expect=201,
    )
    await ack(floor.phones["李娜"], b)
    await ack(floor.phones["spare"], b)
    plan = await organiser.post(
        f"/api/v1/events/{e}/plans", {"category": "medical", "steps_zh": "1. 呼叫 120"}, expect=201
    )
    await floor.phones["Tom"].post(f"/api/v1/plans/{plan['id']}/ack", expect=200)
    later = datetime.now(UTC) + timedelta(hours=1)
    await organiser.patch(
        f"/api/v1/events/{e}",
        {"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=8)).isoformat()},
    )
    review = (await command.get(f"/api/v1/events/{e}/report"))["broadcasts"]
    [one] = review["broadcasts"]  # the info one asked for no confirmation
    assert (one["id"], one["acked"], one["expected"]) == (b, 2, 4)
    assert 0 <= one["median_seconds"] <= one["slowest_seconds"] < 60
    assert review["ack_times"]["slowest_seconds"] == one["slowest_seconds"]
    assert review["plans_at_doors_open"] == {"confirmed": 1, "expected": 3}
