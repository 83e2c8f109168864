"""The staff roster over HTTP, on SQLite and PostgreSQL: members checked to codes,
the CSV import (all rows or none), rights, a phone paired to a person, shifts
started and ended from that phone, and the evacuation roll reading them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Api
from tests.server.test_evacuations import make_venue, start


def roster(event_id: int) -> str:
    return f"/api/v1/events/{event_id}/staff"


async def add(organiser: Api, event_id: int, expect: int = 201, **body: Any) -> Any:
    member = {"name": "李娜", "phone": "+86 138 0000 0000", "team": "安保", "role": "door", **body}
    return await organiser.post(roster(event_id), member, expect=expect)


async def pair_member(
    client: httpx.AsyncClient, organiser: Api, staff_id: int, device_name: str = ""
) -> Api:
    """Pair a phone with a code made for the member; an Api with its token."""
    made = await organiser.post(f"/api/v1/staff/{staff_id}/pairing-codes", {}, expect=201)
    assert made["staff"] == staff_id
    paired = await client.post(
        "/api/v1/devices/pair", json={"code": made["display_code"], "device_name": device_name}
    )
    assert paired.status_code == 201, paired.text
    return Api(client, paired.json()["token"])


async def test_members_are_added_listed_changed_and_removed(organiser, api_as, event, gate):
    e = event["id"]
    member = await add(organiser, e, gate=gate["id"], supervisor=True)
    assert member["team"] == "security" and member["builtin_team"] is True
    assert (member["role"], member["supervisor"], member["gate"]) == ("door", True, gate["id"])
    await add(organiser, e, name="Tom", team="Press desk", role="staff", phone=None)

    command = await api_as("command", e)
    listed = (await command.get(roster(e)))["staff"]
    assert [m["name"] for m in listed] == ["Tom", "李娜"]  # by team, then name
    assert listed[1]["phone"] == "+86 138 0000 0000" and listed[0]["builtin_team"] is False
    assert listed[1]["on_duty"] is False

    for role in ("door", "staff"):
        other = await api_as(role, e)
        await other.get(roster(e), expect=403)
        await other.patch(f"/api/v1/staff/{member['id']}", {"name": "X"}, expect=403)
    await command.post(roster(e), {"name": "X", "team": "tech"}, expect=403)
    await command.call("DELETE", f"/api/v1/staff/{member['id']}", expect=403)

    changed = await organiser.patch(
        f"/api/v1/staff/{member['id']}", {"team": "接待", "phone": None, "supervisor": False}
    )
    assert (changed["team"], changed["phone"], changed["supervisor"]) == ("reception", None, False)
    assert changed["name"] == "李娜" and changed["gate"] == gate["id"]

    gone = await organiser.call("DELETE", f"/api/v1/staff/{member['id']}", expect=200)
    assert gone["deleted"] is True
    assert [m["name"] for m in (await organiser.get(roster(e)))["staff"]] == ["Tom"]
    missing = await organiser.patch(f"/api/v1/staff/{member['id']}", {"name": "Y"}, expect=404)
    assert missing["error"]["code"] == "unknown_staff"


async def test_a_bad_member_is_answered_with_every_problem_as_a_code(organiser, event):
    e = event["id"]
    refused = await add(organiser, e, expect=422, name=" ", phone="call me", team="", role="boss")
    assert refused["error"]["code"] == "staff_invalid"
    problems = {(p["field"], p["code"]) for p in refused["error"]["details"]["errors"]}
    assert problems == {
        ("name", "name_required"),
        ("phone", "phone_invalid"),
        ("team", "team_required"),
        ("role", "role_invalid"),
    }
    too_long = await add(organiser, e, expect=422, name="名" * 121, team="t" * 41)
    rows = too_long["error"]["details"]["errors"]
    assert {(r["code"], r["params"]["max"]) for r in rows} == {
        ("name_too_long", 120),
        ("team_too_long", 40),
    }
    unknown = await add(organiser, e, expect=422, zone=999999)
    assert unknown["error"]["details"]["errors"][0]["code"] == "unknown_zone"
    member = await add(organiser, e)
    bad_patch = await organiser.patch(
        f"/api/v1/staff/{member['id']}", {"role": "organiser"}, expect=422
    )
    assert bad_patch["error"]["details"]["errors"][0]["code"] == "role_invalid"
    assert (await organiser.get(roster(e)))["staff"][0]["role"] == "door"


CSV = (
    "姓名,手机,团队,角色,主管,区域,出入口\n"
    "王强,13800000001,安保,检票员,是,,North door\n"
    "陈静,,接待,staff,,Hall A,\n"
    "\n"
    "Sam Lee,+44 20 7946 0000,Stage crew,command,no,,\n"
)


async def test_the_roster_is_imported_from_csv_all_rows_or_none(organiser, event, gate, zone):
    e = event["id"]
    headers = {"Content-Type": "text/csv"}
    bad = CSV + "李,12,物资,chef,maybe,Hall Z,\n"
    refused = await organiser.post(
        roster(e), content=bad.encode("gb18030"), headers=headers, expect=422
    )
    assert refused["error"]["code"] == "bad_rows"
    rows = {(r["line"], r["field"], r["code"]) for r in refused["error"]["details"]["errors"]}
    assert rows == {
        (6, "phone", "phone_invalid"),
        (6, "role", "role_invalid"),
        (6, "supervisor", "supervisor_invalid"),
        (6, "zone", "unknown_zone"),
    }
    assert (await organiser.get(roster(e)))["staff"] == []

    files = {"file": ("roster.csv", CSV.encode("utf-8-sig"), "text/csv")}
    imported = await organiser.post(roster(e), files=files, expect=201)
    assert imported["count"] == 3
    by_name = {m["name"]: m for m in (await organiser.get(roster(e)))["staff"]}
    assert by_name["王强"]["team"] == "security" and by_name["王强"]["role"] == "door"
    assert by_name["王强"]["supervisor"] is True and by_name["王强"]["gate"] == gate["id"]
    assert by_name["陈静"]["zone"] == zone["id"] and by_name["陈静"]["phone"] is None
    assert by_name["Sam Lee"]["team"] == "Stage crew" and by_name["Sam Lee"]["role"] == "command"

    no_name = await organiser.post(roster(e), content=b"phone\n123\n", headers=headers, expect=422)
    assert no_name["error"]["code"] == "csv_no_name_column"


async def test_a_phone_paired_to_a_person_knows_who_holds_it(client, organiser, event, gate):
    e = event["id"]
    member = await add(organiser, e, gate=gate["id"], supervisor=True)
    plain = await add(organiser, e, name="赵磊", supervisor=False)
    phone = await pair_member(client, organiser, member["id"])
    me = await phone.get("/api/v1/devices/me")
    assert me["role"] == "door" and me["device"]["gate"] == gate["id"]
    assert me["device"]["name"] == "李娜" and me["device"]["staff"] == member["id"]
    assert me["staff"]["id"] == member["id"] and me["staff"]["may_override"] is True
    assert "phone" not in me["staff"]
    other = await pair_member(client, organiser, plain["id"])
    assert (await other.get("/api/v1/devices/me"))["staff"]["may_override"] is False
    devices = (await organiser.get(f"/api/v1/events/{e}/devices"))["devices"]
    assert {d["staff"] for d in devices} == {member["id"], plain["id"]}

    # Taking the person off the roster unpairs their phone.
    gone = await organiser.call("DELETE", f"/api/v1/staff/{member['id']}", expect=200)
    assert len(gone["devices_unpaired"]) == 1
    await phone.get("/api/v1/devices/me", expect=401)


async def test_shifts_start_and_end_from_the_phone(client, organiser, api_as, event, gate, zone):
    e = event["id"]
    member = await add(organiser, e, gate=gate["id"])
    phone = await pair_member(client, organiser, member["id"])
    started = await phone.post("/api/v1/devices/me/duty", {"action": "start"}, expect=200)
    # No zone given: the zone the member's gate leads into.
    assert started["on_duty"] is True and started["shift"]["zone"] == zone["id"]
    me = (await phone.get("/api/v1/devices/me"))["staff"]
    assert me["on_duty"] is True and me["duty"]["zone"] == zone["id"]
    listed = (await organiser.get(roster(e)))["staff"][0]
    assert listed["on_duty"] is True and listed["duty"]["zone"] == zone["id"]

    hall_b = await organiser.post(f"/api/v1/events/{e}/zones", {"name": "Hall B"}, expect=201)
    moved = await phone.post(
        "/api/v1/devices/me/duty", {"action": "start", "zone": hall_b["id"]}, expect=200
    )
    assert moved["shift"]["zone"] == hall_b["id"]
    assert (await organiser.get(roster(e)))["staff"][0]["duty"]["zone"] == hall_b["id"]

    # An end queued offline an hour ago is dated then; one "from the future" now.
    ended = await phone.post(
        "/api/v1/devices/me/duty",
        {"action": "end", "at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
        expect=200,
    )
    assert ended["on_duty"] is False
    assert (await phone.get("/api/v1/devices/me"))["staff"]["on_duty"] is False
    assert (await organiser.get(roster(e)))["staff"][0]["on_duty"] is False
    again = await phone.post("/api/v1/devices/me/duty", {"action": "end"}, expect=200)
    assert again["on_duty"] is False

    unknown = await phone.post(
        "/api/v1/devices/me/duty", {"action": "start", "zone": 999999}, expect=422
    )
    assert unknown["error"]["code"] == "unknown_zone"
    plain = await api_as("door", e, gate["id"])
    refused = await plain.post("/api/v1/devices/me/duty", {"action": "start"}, expect=409)
    assert refused["error"]["code"] == "not_a_roster_phone"
    await organiser.post("/api/v1/devices/me/duty", {"action": "start"}, expect=409)


async def test_the_evacuation_roll_holds_the_staff_on_duty_in_the_cleared_zones(
    client, organiser, event
):
    e = event["id"]
    venue = await make_venue(organiser, e)
    in_a = await add(organiser, e, name="甲 on duty in A", zone=venue["a"])
    in_b = await add(organiser, e, name="乙 on duty in B", zone=venue["b"])
    off = await add(organiser, e, name="丙 shift ended", zone=venue["a"])
    never = await add(organiser, e, name="丁 never started", zone=venue["a"])
    for member in (in_a, in_b, off):
        phone = await pair_member(client, organiser, member["id"])
        await phone.post("/api/v1/devices/me/duty", {"action": "start"}, expect=200)
        if member is off:
            await phone.post("/api/v1/devices/me/duty", {"action": "end"}, expect=200)

    started = await start(organiser, e, zones=[venue["a"]])
    people = (await organiser.get(f"/api/v1/evacuations/{started['id']}/missing"))["people"]
    assert [(p["staff_id"], p["reason"], p["zone"]) for p in people] == [
        (in_a["id"], "on_duty", venue["a"])
    ]
    assert people[0]["phone"] == "+86 138 0000 0000"  # contact data: organiser and command
    assert never["id"] not in {p["staff_id"] for p in people}


async def test_the_roster_exports_as_csv_safe_in_excel_and_imports_again(
    organiser, api_as, event, gate
):
    e = event["id"]
    await add(organiser, e, gate=gate["id"], supervisor=True)
    await add(organiser, e, name="=HYPERLINK(1)", team="Press", role="staff", phone=None)
    response = await organiser.get(f"/api/v1/events/{e}/exports/staff.csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeffstaff_id,name,phone,team,role,supervisor,zone,gate\r\n")
    assert ",'=HYPERLINK(1),," in text and "'+86 138 0000 0000" in text
    assert ",security,door,true,,North door\r\n" in text
    await (await api_as("command", e)).get(f"/api/v1/events/{e}/exports/staff.csv", expect=403)

    other = await organiser.post("/api/v1/events", {**event, "name": "明年"}, expect=201)
    o = other["id"]
    await organiser.post(f"/api/v1/events/{o}/zones", {"name": "Hall A"}, expect=201)
    zone = (await organiser.get(f"/api/v1/events/{o}/zones"))["zones"][0]
    await organiser.post(
        f"/api/v1/events/{o}/gates", {"name": "North door", "to_zone": zone["id"]}, expect=201
    )
    imported = await organiser.post(
        roster(o), content=response.content, headers={"Content-Type": "text/csv"}, expect=201
    )
    assert imported["count"] == 2
    again = {m["name"]: m for m in (await organiser.get(roster(o)))["staff"]}
    assert again["李娜"]["phone"] == "+86 138 0000 0000" and again["李娜"]["supervisor"] is True
    assert again["'=HYPERLINK(1)"]["team"] == "Press"


async def test_an_incident_assigned_to_a_roster_name_reaches_their_phone(
    client, organiser, api_as, event
):
    e = event["id"]
    member = await add(organiser, e, name="周杰", team="tech", role="staff")
    await add(organiser, e, name="同名", team="tech", role="staff")
    await add(organiser, e, name="同名", team="security", role="staff")
    # The phone has a name of its own: the roster says whose it is.
    phone = await pair_member(client, organiser, member["id"], device_name="工作手机 3")
    me = (await phone.get("/api/v1/devices/me"))["device"]
    assert me["name"] == "工作手机 3"
    command = await api_as("command", e)
    incident = await command.post(
        f"/api/v1/events/{e}/incidents",
        {"category": "power", "severity": "P2", "title": "停电", "nonce": "n-roster"},
        expect=201,
    )
    path = f"/api/v1/events/{e}/incidents/{incident['id']}/assign"
    assigned = await command.post(path, {"assignee": "周杰"}, expect=200)
    assert assigned["assignee"]["id"] == me["id"]
    # Two people of one name: nobody's phone is guessed; the name is kept as typed.
    again = await command.post(path, {"assignee": "同名"}, expect=200)
    assert again["assignee"]["id"] is None
    assert again["assignee"]["name"] == "同名"


async def test_an_archived_gate_is_kept_by_its_members_and_refused_to_new_ones(
    organiser, api_as, event, gate
):
    e = event["id"]
    member = await add(organiser, e, gate=gate["id"])
    await api_as("door", e, gate["id"])  # a phone at the gate: removing it archives it
    removed = await organiser.call("DELETE", f"/api/v1/events/{e}/gates/{gate['id']}")
    assert removed.get("archived_at") or removed.get("gate", {}).get("archived_at"), removed
    refused = await add(organiser, e, expect=422, name="新人", gate=gate["id"])
    assert refused["error"]["details"]["errors"][0]["code"] == "unknown_gate"
    kept = await organiser.patch(f"/api/v1/staff/{member['id']}", {"name": "李娜娜"})
    assert kept["gate"] == gate["id"]
