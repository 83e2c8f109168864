"""Walk-ins at the door: a supervisor's phone binds one of its blank tickets to a
person and admits them in one request, online or from its offline queue,
exactly once per nonce; conflicts are flagged, not lost (both databases)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from server.context import Muster
from server.models import Scan, WalkIn
from tests.conftest import Api, event_body
from tests.server.test_scans import scan
from tests.server.test_staff import add


async def supervisor_phone(
    client: httpx.AsyncClient, organiser: Api, event_id: int, name: str = "周队长"
) -> tuple[Api, dict[str, Any]]:
    """A door supervisor of the roster, their phone paired: (its Api, the pairing answer)."""
    member = await add(organiser, event_id, name=name, role="door", supervisor=True)
    made = await organiser.post(f"/api/v1/staff/{member['id']}/pairing-codes", {}, expect=201)
    paired = await client.post("/api/v1/devices/pair", json={"code": made["code"]})
    assert paired.status_code == 201, paired.text
    return Api(client, paired.json()["token"]), paired.json()


def walk_in(blank: int, gate: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "nonce": uuid.uuid4().hex,
        "blank": blank,
        "holder_name": "陈静",
        "holder_phone": "+86 136 5555 0101",
        "holder_email": "chen.jing@example.com",
        "gate": gate,
    }
    return {**body, **overrides}


async def count(ctx: Muster, model: Any, *where: Any) -> int:
    async with ctx.db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_supervisor_registers_and_admits_a_walk_in_online(
    client, organiser, event, zone, gate, ticket, ctx
):
    e = event["id"]
    base = f"/api/v1/events/{e}"
    before = await organiser.get(f"{base}/headcount")
    lead, paired = await supervisor_phone(client, organiser, e)
    blanks = paired["walk_in_blanks"]
    [default_type] = (await organiser.get(f"{base}/ticket-types"))["ticket_types"]
    assert len(blanks) == 20 and {b["type"] for b in blanks} == {default_type["id"]}
    assert blanks[0]["qr"]["size"] == 49 and blanks[0]["blank_secret"]

    # Twenty signed blanks count nowhere: not expected, not issued, not found.
    assert (await organiser.get(f"{base}/headcount"))["expected"] == before["expected"] == 1
    assert (await organiser.get(f"{base}/report"))["tickets"]["issued"] == 1
    found = await organiser.get(f"{base}/tickets", params={"q": blanks[0]["code"]})
    assert found["tickets"] == []
    # A blank's QR admits nobody until it is bound.
    refused = await scan(organiser, e, blanks[1]["blank_secret"], gate["id"])
    assert (refused["status"], refused["reason"]) == ("error", "invalid")

    answer = await lead.post(
        f"{base}/walk-ins", walk_in(blanks[0]["ticket"], gate["id"]), expect=200
    )
    assert answer["repeated"] is False
    assert answer["walk_in"]["status"] == "ok" and answer["walk_in"]["holder_name"] == "陈静"
    assert answer["walk_in"]["code"] == blanks[0]["code"]
    assert (answer["scan"]["status"], answer["scan"]["ticket"]["id"]) == ("ok", blanks[0]["ticket"])
    # A door is not told the contact data it sent.
    assert "chen.jing@example.com" not in str(answer) and "5555" not in str(answer)

    headcount = await organiser.get(f"{base}/headcount")
    assert (headcount["expected"], headcount["checked_in"], headcount["inside"]) == (2, 1, 1)
    [person] = (await organiser.get(f"{base}/tickets", params={"q": "陈静"}))["tickets"]
    assert person["holder_email"] == "chen.jing@example.com" and person["code"] == blanks[0]["code"]
    # The QR the person photographs admits them again later (it is their ticket now).
    again = await scan(organiser, e, blanks[0]["blank_secret"], gate["id"])
    assert again["reason"] == "already_inside"


async def test_offline_then_synced_twice_is_one_attendee(client, organiser, event, zone, gate, ctx):
    e = event["id"]
    base = f"/api/v1/events/{e}"
    lead, paired = await supervisor_phone(client, organiser, e)
    blank = paired["walk_in_blanks"][0]
    earlier = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    body = walk_in(blank["ticket"], gate["id"], offline=True, registered_at=earlier)
    first = await lead.post(f"{base}/walk-ins", body, expect=200)
    second = await lead.post(f"{base}/walk-ins", body, expect=200)
    assert first["walk_in"]["status"] == second["walk_in"]["status"] == "ok"
    assert (first["repeated"], second["repeated"]) == (False, True)
    assert first["walk_in"]["id"] == second["walk_in"]["id"]
    assert first["scan"]["status"] == "ok" and second["scan"]["repeated"] is True
    assert await count(ctx, WalkIn, WalkIn.event_id == e) == 1
    assert await count(ctx, Scan, Scan.event_id == e, Scan.offline.is_(True)) == 1
    headcount = await organiser.get(f"{base}/headcount")
    assert (headcount["expected"], headcount["checked_in"]) == (1, 1)
    # The scan keeps the phone's time, not the sync's.
    async with ctx.db.reading() as session:
        logged = await session.scalar(select(Scan).where(Scan.event_id == e))
    assert logged is not None and logged.scanned_at < datetime.now(UTC) - timedelta(minutes=4)


async def test_conflicts_are_flagged_not_lost(client, organiser, event, zone, gate, ctx):
    e = event["id"]
    base = f"/api/v1/events/{e}"
    lead, paired = await supervisor_phone(client, organiser, e)
    _other_lead, other_paired = await supervisor_phone(client, organiser, e, name="吴组长")
    mine, theirs = paired["walk_in_blanks"][0], other_paired["walk_in_blanks"][0]

    # Another phone's blank.
    answer = await lead.post(f"{base}/walk-ins", walk_in(theirs["ticket"], gate["id"]), expect=200)
    assert answer["walk_in"]["status"] == "conflict" and answer["scan"] is None
    assert answer["walk_in"]["reason"] == "not_your_blank"
    # Another event's blank (or no blank at all).
    elsewhere = await organiser.post("/api/v1/events", event_body(name="Other"), expect=201)
    gone = await lead.post(f"{base}/walk-ins", walk_in(10**9, gate["id"]), expect=200)
    assert gone["walk_in"]["reason"] == "unknown_blank"
    assert elsewhere["id"] != e
    # One blank bound to two people (two nonces): the second is a conflict.
    bound = await lead.post(f"{base}/walk-ins", walk_in(mine["ticket"], gate["id"]), expect=200)
    twice = await lead.post(
        f"{base}/walk-ins",
        walk_in(mine["ticket"], gate["id"], holder_name="Tom", offline=True),
        expect=200,
    )
    assert twice["walk_in"]["reason"] == "blank_taken" and twice["scan"] is None
    assert twice["walk_in"]["conflict_with"] == bound["walk_in"]["id"]
    # A revoked blank.
    revoked = paired["walk_in_blanks"][1]
    await organiser.post(f"/api/v1/tickets/{revoked['ticket']}/revoke", {}, expect=200)
    late = await lead.post(f"{base}/walk-ins", walk_in(revoked["ticket"], gate["id"]), expect=200)
    assert late["walk_in"]["reason"] == "blank_revoked"

    # Each is kept (with what the phone sent) and raised for the command centre.
    assert await count(ctx, WalkIn, WalkIn.status == "conflict") == 4
    alerts = (await organiser.get(f"{base}/alerts"))["alerts"]
    reasons = sorted(a["data"]["reason"] for a in alerts if a["kind"] == "walk_in_conflict")
    assert reasons == ["blank_revoked", "blank_taken", "not_your_blank", "unknown_blank"]
    [person] = (await organiser.get(f"{base}/tickets", params={"q": "陈静"}))["tickets"]
    assert person["id"] == mine["ticket"]  # the first binding stands
    assert (await organiser.get(f"{base}/headcount"))["checked_in"] == 1


async def test_only_a_supervisor_phone_registers(client, organiser, api_as, event, gate):
    e = event["id"]
    base = f"/api/v1/events/{e}"
    steward = await add(organiser, e, name="小李", role="door")
    made = await organiser.post(f"/api/v1/staff/{steward['id']}/pairing-codes", {}, expect=201)
    paired = (await client.post("/api/v1/devices/pair", json={"code": made["code"]})).json()
    assert "walk_in_blanks" not in paired
    plain = Api(client, paired["token"])
    assert "walk_in_blanks" not in await plain.get(f"{base}/offline-bundle")
    refused = await plain.post(f"{base}/walk-ins", walk_in(1, gate["id"]), expect=403)
    assert refused["error"]["code"] == "not_a_supervisor"
    door = await api_as("door", e, gate["id"])
    refused = await door.post(f"{base}/walk-ins", walk_in(1, gate["id"]), expect=403)
    assert refused["error"]["code"] == "not_a_supervisor"
    lead, _paired = await supervisor_phone(client, organiser, e)
    no_contact = walk_in(1, gate["id"], holder_email="", holder_phone="")
    answer = await lead.post(f"{base}/walk-ins", no_contact, expect=422)
    assert answer["error"]["code"] == "contact_required"


async def test_blanks_are_topped_up_at_each_sync_and_revoked_with_the_phone(
    client, organiser, event, zone, gate, ctx
):
    e = event["id"]
    base = f"/api/v1/events/{e}"
    vip = await organiser.post(f"{base}/ticket-types", {"name": "VIP"}, expect=201)
    lead, paired = await supervisor_phone(client, organiser, e)
    held = paired["walk_in_blanks"]
    assert len(held) == 40 and sum(b["type"] == vip["id"] for b in held) == 20
    for blank in held[:3]:
        await lead.post(f"{base}/walk-ins", walk_in(blank["ticket"], gate["id"]), expect=200)
    full = await lead.get(f"{base}/offline-bundle")
    topped = {b["ticket"] for b in full["walk_in_blanks"]}
    assert len(topped) == 40 and not topped & {b["ticket"] for b in held[:3]}
    assert {b["ticket"] for b in held[3:]} <= topped
    since = await lead.get(f"{base}/offline-bundle", params={"since": full["cursor"]})
    assert {b["ticket"] for b in since["walk_in_blanks"]} == topped  # nothing more given
    assert (await organiser.get(f"{base}/headcount"))["expected"] == 3

    # Another door learns the walk-ins like tickets issued since (their names sealed).
    door = Api(client, (await token_door(organiser, client, e))["token"])
    # (A bundle re-sends a minute before its cursor: the first three come again.)
    first_three = [b["ticket"] for b in held[:3]]
    later = await door.get(f"{base}/offline-bundle", params={"since": full["cursor"]})
    assert [d["ticket"] for d in later["display"]] == first_three
    await lead.post(f"{base}/walk-ins", walk_in(held[5]["ticket"], gate["id"]), expect=200)
    later = await door.get(f"{base}/offline-bundle", params={"since": full["cursor"]})
    assert [d["ticket"] for d in later["display"]] == [*first_three, held[5]["ticket"]]

    # Unpaired: its unused blanks go on every door's revocation list.
    devices = (await organiser.get(f"{base}/devices"))["devices"]
    [phone] = [d for d in devices if d["name"] == "周队长"]
    await organiser.post(f"{base}/devices/{phone['id']}/revoke", {}, expect=200)
    revoked = {r["ticket"] for r in (await door.get(f"{base}/offline-bundle"))["revocations"]}
    assert revoked == topped - {held[5]["ticket"]}


async def test_a_cut_off_supervisor_phones_blanks_are_revoked(client, organiser, event):
    """A lost phone's blanks admit nobody, however it was cut off: by a new
    phone paired for the person, by the person leaving the roster, or by
    revoking its token in the tokens list."""
    e = event["id"]
    base = f"/api/v1/events/{e}"
    door = Api(client, (await token_door(organiser, client, e))["token"])

    async def revoked() -> set[int]:
        bundle = await door.get(f"{base}/offline-bundle")
        return {r["ticket"] for r in bundle["revocations"]}

    _lost, paired = await supervisor_phone(client, organiser, e)
    lost_blanks = {b["ticket"] for b in paired["walk_in_blanks"]}
    member = paired["device"]["staff"]
    made = await organiser.post(f"/api/v1/staff/{member}/pairing-codes", {}, expect=201)
    again = await client.post("/api/v1/devices/pair", json={"code": made["code"]})
    assert again.status_code == 201, again.text
    assert await revoked() == lost_blanks
    new_blanks = {b["ticket"] for b in again.json()["walk_in_blanks"]}

    await organiser.call("DELETE", f"/api/v1/staff/{member}", expect=200)
    assert await revoked() == lost_blanks | new_blanks

    _third, other = await supervisor_phone(client, organiser, e, name="赵磊")
    await organiser.post(f"/api/v1/tokens/{other['device']['id']}/revoke", expect=200)
    third_blanks = {b["ticket"] for b in other["walk_in_blanks"]}
    assert await revoked() == lost_blanks | new_blanks | third_blanks


async def token_door(organiser: Api, client: httpx.AsyncClient, event_id: int) -> Any:
    made = await organiser.post(
        f"/api/v1/events/{event_id}/pairing-codes", {"role": "door"}, expect=201
    )
    return (await client.post("/api/v1/devices/pair", json={"code": made["code"]})).json()


async def test_a_walk_in_leaves_no_personal_data_in_logs_and_is_in_their_export(
    client, organiser, event, zone, gate, caplog
):
    """Nothing the phone sent of the person is logged (Muster's loggers from debug
    up, every other from info: a driver's debug lines dump SQL parameters);
    the organiser's export of that person has it all, the phone number too."""
    base = f"/api/v1/events/{event['id']}"
    lead, paired = await supervisor_phone(client, organiser, event["id"])
    blank = paired["walk_in_blanks"][0]
    body = walk_in(blank["ticket"], gate["id"], offline=True)
    with caplog.at_level(logging.DEBUG):
        await lead.post(f"{base}/walk-ins", body, expect=200)
        await lead.post(f"{base}/walk-ins", body, expect=200)
        taken = walk_in(blank["ticket"], gate["id"], holder_name="Tom")
        await lead.post(f"{base}/walk-ins", taken, expect=200)
    ours = [r for r in caplog.records if r.name.startswith("muster") or r.levelno >= logging.INFO]
    assert ours, "nothing was logged at all: the test would prove nothing"
    logged = "\n".join(r.getMessage() for r in ours)
    for value in ("陈静", "Tom", "chen.jing@example.com", "5555"):
        assert value not in logged
    record = await organiser.get(f"/api/v1/tickets/{blank['ticket']}/personal-data")
    [first, second] = record["walk_ins"]
    assert (first["name"], first["phone"], first["status"]) == ("陈静", "+86 136 5555 0101", "ok")
    assert (second["name"], second["reason"]) == ("Tom", "blank_taken")


async def test_a_walk_in_missing_in_an_evacuation_is_reached_by_the_phone_given_at_the_door(
    client, organiser, api_as, event, zone, gate
):
    """A ticket holds no phone number: a walk-in registered with only a phone
    is called from the missing list by that number (organiser and command only)."""
    e = event["id"]
    lead, paired = await supervisor_phone(client, organiser, e)
    blanks = paired["walk_in_blanks"]
    body = walk_in(blanks[0]["ticket"], gate["id"], holder_email="")
    await lead.post(f"/api/v1/events/{e}/walk-ins", body, expect=200)
    started = await organiser.post(f"/api/v1/events/{e}/evacuations", {"kind": "drill"}, expect=201)
    evac = f"/api/v1/evacuations/{started['id']}"
    command = await api_as("command", e)
    [person] = [p for p in (await command.get(f"{evac}/missing"))["people"] if p["name"] == "陈静"]
    assert (person["phone"], person["email"]) == ("+86 136 5555 0101", "")
    door = await api_as("door", e, gate["id"])
    [seen] = [p for p in (await door.get(f"{evac}/missing"))["people"] if p["name"] == "陈静"]
    assert "phone" not in seen
