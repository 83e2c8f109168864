"""Removing zones, gates and ticket types, on SQLite and PostgreSQL: what has no
history is deleted, what a scan, ticket or phone refers to is archived (kept for
the log and the review, refused as a new reference, still working for what
holds it) and can be restored; a zone with people inside or live gates, and the
default ticket type, are refused with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.server.test_scans import scan


@pytest.fixture(autouse=True)
def no_venue_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("checkin.venue.VENUE_CACHE_SECONDS", -1.0)


async def delete(api: Api, path: str, expect: int = 200) -> Any:
    return await api.call("DELETE", path, expect)


async def test_unused_parts_are_deleted(organiser: Api, event: dict[str, Any]) -> None:
    base = f"/api/v1/events/{event['id']}"
    zone = await organiser.post(f"{base}/zones", {"name": "Spare"}, expect=201)
    gate = await organiser.post(
        f"{base}/gates", {"name": "Side", "to_zone": zone["id"]}, expect=201
    )
    kind = await organiser.post(f"{base}/ticket-types", {"name": "Press"}, expect=201)

    blocked = await delete(organiser, f"{base}/zones/{zone['id']}", 409)
    assert blocked["error"]["code"] == "zone_has_gates"
    assert blocked["error"]["details"] == {"gates": [gate["id"]]}

    assert (await delete(organiser, f"{base}/gates/{gate['id']}"))["outcome"] == "deleted"
    assert (await delete(organiser, f"{base}/zones/{zone['id']}"))["outcome"] == "deleted"
    assert (await delete(organiser, f"{base}/ticket-types/{kind['id']}"))["outcome"] == "deleted"
    assert (await organiser.get(f"{base}/zones"))["zones"] == []
    assert (await organiser.get(f"{base}/gates"))["gates"] == []
    assert [t["name"] for t in (await organiser.get(f"{base}/ticket-types"))["ticket_types"]] == [
        "Standard"
    ]
    await delete(organiser, f"{base}/gates/{gate['id']}", 404)


async def test_parts_with_history_are_archived_and_keep_working(
    organiser: Api, api_as: Any, event: dict[str, Any], zone: dict[str, Any], gate: dict[str, Any]
) -> None:
    base = f"/api/v1/events/{event['id']}"
    vip = await organiser.post(f"{base}/ticket-types", {"name": "VIP"}, expect=201)
    ticket = await organiser.post(
        f"{base}/tickets", {"holder_name": "王伟", "ticket_type": "VIP"}, expect=201
    )
    door = await api_as("door", event["id"], gate["id"])
    assert (await scan(door, event["id"], ticket["secret"], gate["id"]))["status"] == "ok"

    # A zone with someone inside is not archived under them.
    full = await delete(organiser, f"{base}/zones/{zone['id']}", 409)
    assert full["error"]["code"] == "zone_not_empty" and full["error"]["details"] == {"inside": 1}

    # The gate saw a scan and holds a phone: archived, not deleted.
    gone = await delete(organiser, f"{base}/gates/{gate['id']}")
    assert gone["outcome"] == "archived" and gone["gate"]["archived_at"]
    [listed] = (await organiser.get(f"{base}/gates"))["gates"]
    assert listed["archived_at"] == gone["gate"]["archived_at"]
    again = await delete(organiser, f"{base}/gates/{gate['id']}")
    assert again["gate"]["archived_at"] == gone["gate"]["archived_at"]

    # The phone paired there still lets its holder out; no new phone is paired there.
    assert (await scan(door, event["id"], ticket["secret"], gate["id"], "out"))["status"] == "ok"
    refused = await organiser.post(
        f"{base}/pairing-codes", {"role": "door", "gate": gate["id"]}, expect=422
    )
    assert refused["error"]["code"] == "gate_archived"

    # The zone is empty and its only gate archived: archived, and closed to new gates.
    assert (await delete(organiser, f"{base}/zones/{zone['id']}"))["outcome"] == "archived"
    new_gate = await organiser.post(
        f"{base}/gates", {"name": "New", "to_zone": zone["id"]}, expect=422
    )
    assert new_gate["error"]["code"] == "zone_archived"
    restore_gate = await organiser.patch(
        f"{base}/gates/{gate['id']}", {"archived": False}, expect=422
    )
    assert restore_gate["error"]["code"] == "zone_archived"

    # The ticket type has a ticket: archived; new tickets of it are refused by name.
    assert (await delete(organiser, f"{base}/ticket-types/{vip['id']}"))["outcome"] == "archived"
    bad = await organiser.post(
        f"{base}/tickets", {"holder_name": "李娜", "ticket_type": "VIP"}, expect=422
    )
    assert "ticket_type_archived" in str(bad["error"]["details"])
    made_default = await organiser.patch(
        f"{base}/ticket-types/{vip['id']}", {"is_default": True}, expect=409
    )
    assert made_default["error"]["code"] == "ticket_type_archived"

    # Restored in order, all of it works again.
    zone_back = await organiser.patch(f"{base}/zones/{zone['id']}", {"archived": False})
    gate_back = await organiser.patch(f"{base}/gates/{gate['id']}", {"archived": False})
    type_back = await organiser.patch(f"{base}/ticket-types/{vip['id']}", {"archived": False})
    assert None is zone_back["archived_at"] is gate_back["archived_at"] is type_back["archived_at"]
    await organiser.post(
        f"{base}/tickets", {"holder_name": "李娜", "ticket_type": "VIP"}, expect=201
    )
    await organiser.post(f"{base}/pairing-codes", {"role": "door", "gate": gate["id"]}, expect=201)


async def test_default_type_and_rights(
    organiser: Api, api_as: Any, event: dict[str, Any], zone: dict[str, Any]
) -> None:
    base = f"/api/v1/events/{event['id']}"
    [standard] = (await organiser.get(f"{base}/ticket-types"))["ticket_types"]
    refused = await delete(organiser, f"{base}/ticket-types/{standard['id']}", 409)
    assert refused["error"]["code"] == "default_ticket_type"
    command = await api_as("command", event["id"])
    await delete(command, f"{base}/zones/{zone['id']}", 403)
    other = await organiser.post(
        "/api/v1/events", {**event, "name": "Other", "id": None}, expect=201
    )
    await delete(organiser, f"/api/v1/events/{other['id']}/zones/{zone['id']}", 404)
    await delete(organiser, f"{base}/zones/{2**70}", 404)


async def test_a_zone_or_gate_the_roster_names_is_archived(
    organiser: Api, event: dict[str, Any]
) -> None:
    base = f"/api/v1/events/{event['id']}"
    zone = await organiser.post(f"{base}/zones", {"name": "Backstage"}, expect=201)
    gate = await organiser.post(
        f"{base}/gates", {"name": "Crew", "to_zone": zone["id"]}, expect=201
    )
    await organiser.post(
        f"{base}/staff",
        {"name": "周杰", "team": "安保", "role": "door", "zone": zone["id"], "gate": gate["id"]},
        expect=201,
    )
    assert (await delete(organiser, f"{base}/gates/{gate['id']}"))["outcome"] == "archived"
    assert (await delete(organiser, f"{base}/zones/{zone['id']}"))["outcome"] == "archived"
