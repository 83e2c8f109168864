"""Events, zones, gates and ticket types."""

from __future__ import annotations

from tests.conftest import event_body


async def test_create_event_makes_a_default_ticket_type(organiser, event):
    assert event["name"] == "新品发布会 2026"
    assert event["timezone"] == "Asia/Shanghai"
    types = await organiser.get(f"/api/v1/events/{event['id']}/ticket-types")
    [default] = types["ticket_types"]
    assert default["is_default"] and default["zones"] is None and default["reentry"]


async def test_event_validation(organiser):
    bad = await organiser.post("/api/v1/events", event_body(timezone="Mars/Olympus"), expect=422)
    assert bad["error"]["code"] == "invalid_request"
    assert any(d["field"] == "timezone" for d in bad["error"]["details"])
    backwards = event_body(
        starts_at="2026-12-01T18:00:00+08:00", ends_at="2026-12-01T09:00:00+08:00"
    )
    await organiser.post("/api/v1/events", backwards, expect=422)
    naive = event_body(starts_at="2026-12-01T09:00:00")
    await organiser.post("/api/v1/events", naive, expect=422)


async def test_list_and_patch_event(organiser, event):
    listed = await organiser.get("/api/v1/events")
    assert [e["id"] for e in listed["events"]] == [event["id"]]
    patched = await organiser.patch(f"/api/v1/events/{event['id']}", {"name": "Launch day"})
    assert patched["name"] == "Launch day"
    assert (await organiser.get(f"/api/v1/events/{event['id']}"))["name"] == "Launch day"


async def test_zones_and_gates(organiser, event):
    base = f"/api/v1/events/{event['id']}"
    hall = await organiser.post(f"{base}/zones", {"name": "Hall A", "capacity": 100}, expect=201)
    vip = await organiser.post(
        f"{base}/zones", {"name": "VIP", "capacity": 10, "soft_warning": 0.8}, expect=201
    )
    assert hall["soft_warning"] == 0.9 and vip["soft_warning"] == 0.8
    north = await organiser.post(
        f"{base}/gates", {"name": "North", "from_zone": None, "to_zone": hall["id"]}, expect=201
    )
    assert north["from_zone"] is None and north["to_zone"] == hall["id"]
    inner = await organiser.post(
        f"{base}/gates",
        {"name": "VIP door", "from_zone": hall["id"], "to_zone": vip["id"]},
        expect=201,
    )
    gates = await organiser.get(f"{base}/gates")
    assert [g["id"] for g in gates["gates"]] == [north["id"], inner["id"]]
    loop = await organiser.post(
        f"{base}/gates", {"name": "Loop", "from_zone": vip["id"], "to_zone": vip["id"]}, expect=422
    )
    assert loop["error"]["code"] == "gate_loop"
    missing = await organiser.post(
        f"{base}/gates", {"name": "Nowhere", "to_zone": 999999}, expect=422
    )
    assert missing["error"]["details"] == {"zones": [999999]}
    resized = await organiser.patch(f"{base}/zones/{hall['id']}", {"capacity": 50})
    assert resized["capacity"] == 50


async def test_zone_of_another_event_is_not_found(organiser, event, zone):
    other = await organiser.post("/api/v1/events", event_body(name="Other"), expect=201)
    await organiser.patch(
        f"/api/v1/events/{other['id']}/zones/{zone['id']}", {"name": "x"}, expect=404
    )
    await organiser.post(
        f"/api/v1/events/{other['id']}/gates", {"name": "Cross", "to_zone": zone["id"]}, expect=422
    )


async def test_ticket_types(organiser, event, zone):
    base = f"/api/v1/events/{event['id']}"
    vip = await organiser.post(
        f"{base}/ticket-types",
        {"name": "VIP", "zones": [zone["id"]], "reentry": False, "is_default": True},
        expect=201,
    )
    types = (await organiser.get(f"{base}/ticket-types"))["ticket_types"]
    assert [t["is_default"] for t in types] == [False, True]
    patched = await organiser.patch(
        f"{base}/ticket-types/{vip['id']}", {"reentry": True, "zones": None}
    )
    assert patched["reentry"] and patched["zones"] is None
    await organiser.post(f"{base}/ticket-types", {"name": "Bad", "zones": [123456]}, expect=422)
