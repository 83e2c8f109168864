"""Evacuation roll-call over HTTP, on SQLite and PostgreSQL: the roll frozen from the
scan log (late offline scans join it), accounts once per nonce with the first time
and place kept, people found off the roll, rights, all-clear, report and CSV."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.serialize import iso
from tests.conftest import Api
from tests.server.test_scans import issue, scan
from tests.server.test_scans_sync import item, sync


@pytest.fixture(autouse=True)
def no_venue_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("checkin.venue.VENUE_CACHE_SECONDS", -1.0)


async def make_venue(organiser: Api, event_id: int) -> dict[str, Any]:
    """Hall A (entered from outside), Hall B (entered from outside), a point for each."""
    base = f"/api/v1/events/{event_id}"
    hall_a = await organiser.post(f"{base}/zones", {"name": "Hall A"}, expect=201)
    hall_b = await organiser.post(f"{base}/zones", {"name": "Hall B"}, expect=201)
    gate_a = await organiser.post(
        f"{base}/gates", {"name": "North", "to_zone": hall_a["id"]}, expect=201
    )
    gate_b = await organiser.post(
        f"{base}/gates", {"name": "South", "to_zone": hall_b["id"]}, expect=201
    )
    point_a = await organiser.post(
        f"{base}/muster-points",
        {"name": "P1 car park", "zones": [hall_a["id"]], "map_note": "by the flag"},
        expect=201,
    )
    point_b = await organiser.post(
        f"{base}/muster-points", {"name": "P2 lawn", "zones": [hall_b["id"]]}, expect=201
    )
    return {
        "a": hall_a["id"],
        "b": hall_b["id"],
        "gate_a": gate_a["id"],
        "gate_b": gate_b["id"],
        "point_a": point_a["id"],
        "point_b": point_b["id"],
    }


async def start(api: Api, event_id: int, expect: int = 201, **body: Any) -> Any:
    return await api.post(
        f"/api/v1/events/{event_id}/evacuations", {"kind": "drill", **body}, expect=expect
    )


def account(nonce: str | None = None, **body: Any) -> dict[str, Any]:
    return {"nonce": nonce or uuid.uuid4().hex, "status": "safe", **body}


async def test_muster_points_listed_and_checked(organiser: Api, api_as: Any, event: Any) -> None:
    venue = await make_venue(organiser, event["id"])
    staff = await api_as("staff", event["id"])
    listed = await staff.get(f"/api/v1/events/{event['id']}/muster-points")
    assert [p["name"] for p in listed["points"]] == ["P1 car park", "P2 lawn"]
    assert listed["points"][0]["zones"] == [venue["a"]]
    assert listed["points"][0]["map_note"] == "by the flag"
    bad = await organiser.post(
        f"/api/v1/events/{event['id']}/muster-points",
        {"name": "X", "zones": [987654]},
        expect=422,
    )
    assert bad["error"]["code"] == "unknown_zone"
    await staff.post(f"/api/v1/events/{event['id']}/muster-points", {"name": "Y"}, expect=403)


async def test_muster_points_edited_and_removed(organiser: Api, api_as: Any, event: Any) -> None:
    e = event["id"]
    venue = await make_venue(organiser, e)
    points = f"/api/v1/events/{e}/muster-points"
    changed = await organiser.patch(
        f"{points}/{venue['point_a']}", {"name": "P1 east car park", "zones": [venue["b"]]}
    )
    assert (changed["name"], changed["zones"], changed["map_note"]) == (
        "P1 east car park",
        [venue["b"]],
        "by the flag",
    )
    bad = await organiser.patch(f"{points}/{venue['point_a']}", {"zones": [987654]}, expect=422)
    assert bad["error"]["code"] == "unknown_zone"
    command = await api_as("command", e)
    await command.patch(f"{points}/{venue['point_a']}", {"name": "Z"}, expect=403)
    await command.call("DELETE", f"{points}/{venue['point_b']}", 403)
    # Someone accounted at a point: it stays (the drill's report names it).
    person = await issue(organiser, e, name="己")
    started = await start(organiser, e)
    await organiser.post(
        f"/api/v1/evacuations/{started['id']}/accounts",
        account(secret=person["secret"], point=venue["point_a"]),
        expect=200,
    )
    used = await organiser.call("DELETE", f"{points}/{venue['point_a']}", 409)
    assert used["error"]["code"] == "muster_point_in_use"
    removed = await organiser.call("DELETE", f"{points}/{venue['point_b']}", 200)
    assert removed["outcome"] == "deleted"
    listed = await organiser.get(points)
    assert [p["id"] for p in listed["points"]] == [venue["point_a"]]
    await organiser.call("DELETE", f"{points}/{venue['point_b']}", 404)


async def test_roll_is_the_inside_set_at_the_start(organiser: Api, api_as: Any, event: Any) -> None:
    e = event["id"]
    venue = await make_venue(organiser, e)
    door_a = await api_as("door", e, venue["gate_a"])
    door_b = await api_as("door", e, venue["gate_b"])
    inside = await issue(organiser, e, name="甲 inside")
    left = await issue(organiser, e, name="乙 left before")
    offline = await issue(organiser, e, name="丙 offline")
    later = await issue(organiser, e, name="丁 after the start")
    other_zone = await issue(organiser, e, name="戊 Hall B")
    assert (await scan(door_a, e, inside["secret"], venue["gate_a"]))["status"] == "ok"
    await scan(door_a, e, left["secret"], venue["gate_a"])
    assert (await scan(door_a, e, left["secret"], venue["gate_a"], "out"))["status"] == "ok"
    await scan(door_b, e, other_zone["secret"], venue["gate_b"])
    offline_at = datetime.now(UTC) - timedelta(seconds=5)

    started = await start(organiser, e, zones=[venue["a"]], message="火警 fire", plan="Exit north")
    assert started["active"] and started["zones"] == [venue["a"]]
    await scan(door_a, e, later["secret"], venue["gate_a"])
    # The door that was offline at the alarm syncs afterwards: its admission
    # before the start proves 丙 was inside.
    synced = await sync(door_a, e, [item(offline["secret"], venue["gate_a"], "off-1", offline_at)])
    assert synced["results"][0]["status"] == "ok"

    missing = await organiser.get(f"/api/v1/evacuations/{started['id']}/missing")
    by_ticket = {p["ticket_id"]: p for p in missing["people"]}
    assert set(by_ticket) == {inside["id"], offline["id"]}
    assert by_ticket[inside["id"]]["reason"] == "inside"
    assert by_ticket[offline["id"]]["reason"] == "offline_scan"
    assert by_ticket[inside["id"]]["last_gate_name"] == "North"
    # The times as ``serialize.iso`` writes them (the list leaves them to orjson).
    for person in missing["people"]:
        assert person["last_seen_at"] == iso(datetime.fromisoformat(person["last_seen_at"]))
    assert datetime.fromisoformat(by_ticket[offline["id"]]["last_seen_at"]) == offline_at
    summary = await organiser.get(f"/api/v1/evacuations/{started['id']}")
    assert (summary["total"], summary["accounted"], summary["missing"]) == (2, 0, 2)
    assert [z["id"] for z in summary["zones"]] == [venue["a"]]


async def test_roll_of_all_zones_and_one_running_at_a_time(
    organiser: Api, api_as: Any, event: Any
) -> None:
    e = event["id"]
    venue = await make_venue(organiser, e)
    door_a = await api_as("door", e, venue["gate_a"])
    door_b = await api_as("door", e, venue["gate_b"])
    one, two = await issue(organiser, e), await issue(organiser, e)
    await scan(door_a, e, one["secret"], venue["gate_a"])
    await scan(door_b, e, two["secret"], venue["gate_b"])
    command = await api_as("command", e)
    started = await start(command, e, kind="live")
    again = await start(organiser, e, expect=409)
    assert again["error"]["code"] == "evacuation_running"
    summary = await command.get(f"/api/v1/evacuations/{started['id']}")
    assert summary["total"] == 2 and summary["kind"] == "live"
    assert {z["id"] for z in summary["zones"]} == {venue["a"], venue["b"]}


async def test_accounts_once_first_time_and_place_kept(
    organiser: Api, api_as: Any, event: Any
) -> None:
    e = event["id"]
    venue = await make_venue(organiser, e)
    door = await api_as("door", e, venue["gate_a"])
    people = [await issue(organiser, e, name=f"p{i}") for i in range(3)]
    for p in people:
        await scan(door, e, p["secret"], venue["gate_a"])
    started = await start(organiser, e)
    path = f"/api/v1/evacuations/{started['id']}/accounts"
    staff = await api_as("staff", e)
    t0 = datetime.fromisoformat(started["started_at"])

    first = account(
        "n1",
        secret=people[0]["secret"],
        point=venue["point_a"],
        occurred_at=(t0 + timedelta(seconds=60)).isoformat(),
    )
    answer = await staff.post(path, first, expect=200)
    assert answer["status"] == "ok" and answer["first"] is True
    assert (await staff.post(path, first, expect=200))["repeated"] is True
    # An offline phone at the other point scanned the same badge earlier and
    # syncs now: its time and place are the first; a later needs_help sets the status.
    batch = await door.post(
        path,
        {
            "accounts": [
                account(
                    "n2",
                    secret=people[0]["secret"],
                    point=venue["point_b"],
                    occurred_at=(t0 + timedelta(seconds=30)).isoformat(),
                ),
                account(
                    "n3",
                    ticket=people[0]["id"],
                    point=venue["point_a"],
                    status="needs_help",
                    occurred_at=(t0 + timedelta(seconds=90)).isoformat(),
                ),
                account("n4", secret="NOT-A-TICKET"),
                account("n5", ticket=people[1]["id"], point=venue["point_a"]),
            ]
        },
        expect=200,
    )
    assert [r["status"] for r in batch["results"]] == ["ok", "ok", "error", "ok"]
    assert batch["results"][2]["reason"] == "invalid"
    # (a batch is merged in its people's lock order: read the outcome, not one answer)
    roll = await staff.get(f"/api/v1/evacuations/{started['id']}/people")
    person = next(p for p in roll["people"] if p["ticket_id"] == people[0]["id"])
    assert person["status"] == "needs_help" and person["point"] == venue["point_b"]
    assert datetime.fromisoformat(person["accounted_at"]) == t0 + timedelta(seconds=30)

    summary = await organiser.get(f"/api/v1/evacuations/{started['id']}")
    assert (summary["total"], summary["accounted"], summary["missing"]) == (3, 2, 1)
    assert summary["statuses"]["needs_help"] == 1
    points = {p["id"]: p for p in summary["points"]}
    assert points[venue["point_b"]]["accounted"] == 1
    assert points[venue["point_a"]]["accounted"] == 1
    assert sum(points[venue["point_b"]]["per_minute"]) == 1
    missing = await staff.get(f"/api/v1/evacuations/{started['id']}/missing")
    assert [p["ticket_id"] for p in missing["people"]] == [people[2]["id"]]
    assert "email" not in missing["people"][0]


async def test_found_people_join_the_roll_once(organiser: Api, api_as: Any, event: Any) -> None:
    e = event["id"]
    venue = await make_venue(organiser, e)
    walk_in = await issue(organiser, e, name="never scanned")
    started = await start(organiser, e)
    path = f"/api/v1/evacuations/{started['id']}/accounts"
    staff = await api_as("staff", e)
    await staff.post(path, account(secret=walk_in["secret"], point=venue["point_a"]), expect=200)
    await staff.post(path, account(secret=walk_in["secret"], point=venue["point_b"]), expect=200)
    found = await staff.post(path, account(name="访客 visitor", point=venue["point_a"]), expect=200)
    assert found["person"]["reason"] == "found"
    people = await staff.get(f"/api/v1/evacuations/{started['id']}/people")
    assert sorted(p["reason"] for p in people["people"]) == ["found", "found"]
    summary = await organiser.get(f"/api/v1/evacuations/{started['id']}")
    assert (summary["total"], summary["accounted"], summary["missing"]) == (2, 2, 0)


async def test_rights_contact_all_clear_report_and_csv(
    organiser: Api, api_as: Any, event: Any
) -> None:
    e = event["id"]
    venue = await make_venue(organiser, e)
    door = await api_as("door", e, venue["gate_a"])
    staff = await api_as("staff", e)
    command = await api_as("command", e)
    holder = await organiser.post(
        f"/api/v1/events/{e}/tickets",
        {"holder_name": "=HYPERLINK(1)", "holder_email": "x@example.com"},
        expect=201,
    )
    other = await issue(organiser, e, name="王伟")
    await scan(door, e, holder["secret"], venue["gate_a"])
    await scan(door, e, other["secret"], venue["gate_a"])
    await start(staff, e, expect=403)
    await start(door, e, expect=403)
    started = await start(command, e)
    evac = f"/api/v1/evacuations/{started['id']}"
    assert "email" not in (await door.get(f"{evac}/missing"))["people"][0]
    with_contact = await command.get(f"{evac}/missing")
    assert {p.get("email") for p in with_contact["people"]} == {"x@example.com", ""}
    await door.post(f"{evac}/accounts", account(secret=other["secret"]), expect=200)
    await staff.post(f"{evac}/all-clear", expect=403)
    await staff.get(f"{evac}/report", expect=403)
    ended = await command.post(f"{evac}/all-clear", expect=200)
    assert ended["active"] is False and ended["ended_at"]
    again = await organiser.post(f"{evac}/all-clear", expect=200)
    assert again["ended_at"] == ended["ended_at"]
    late = await staff.post(f"{evac}/accounts", account(secret=holder["secret"]), expect=200)
    assert late["reason"] == "evacuation_ended"

    report = await organiser.get(f"{evac}/report")
    assert (report["total"], report["accounted"], report["missing"]) == (2, 1, 1)
    assert report["seconds_to"]["50"] is not None and report["seconds_to"]["100"] is None
    assert report["missing_over_time"][0] == {"seconds": 0, "missing": 2}
    assert [d["id"] for d in report["drills"]] == [started["id"]]
    csv_text = (await organiser.get(f"{evac}/people.csv")).text
    assert csv_text.startswith("\ufeff")  # Excel reads the Chinese names as UTF-8
    assert csv_text.lstrip("\ufeff").splitlines()[0].startswith("name,ticket_id")
    assert "'=HYPERLINK(1)" in csv_text

    # A second drill later is compared with the first.
    second = await start(organiser, e)
    report2 = await organiser.get(f"/api/v1/evacuations/{second['id']}/report")
    assert [d["id"] for d in report2["drills"]] == [started["id"], second["id"]]


async def test_refused_input_is_4xx(organiser: Api, api_as: Any, event: Any) -> None:
    e = event["id"]
    await make_venue(organiser, e)
    started = await start(organiser, e)
    path = f"/api/v1/evacuations/{started['id']}/accounts"
    await organiser.post(path, {"nonce": "x"}, expect=422)
    await organiser.post(path, {"nonce": "x\x00", "name": "a"}, expect=422)
    await organiser.post(path, {"accounts": []}, expect=422)
    await organiser.post(path, account(ticket=2**70), expect=422)
    unknown = await organiser.post(path, account(name="a", point=999999), expect=200)
    assert unknown["reason"] == "unknown_point"
    await organiser.get("/api/v1/evacuations/99999999", expect=404)
    await organiser.get(f"/api/v1/evacuations/{2**70}", expect=404)
    await start(organiser, e, expect=422, kind="panic")
