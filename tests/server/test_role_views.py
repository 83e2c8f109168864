"""What each role sees (server/features/rights.py). Of a ticket: a door what
admitting by name needs — never an email, another ticket's secret or a list
to page — command the contact too, the organiser also the secret; staff
nothing. Of incidents: a door the ones it reported or wrote on."""

from __future__ import annotations

import uuid

from server.serialize import DOOR_TICKET_FIELDS


async def test_a_door_finds_a_person_by_name_or_code_without_email_or_secret(
    organiser, api_as, event, ticket
):
    door = await api_as("door", event["id"])
    base = f"/api/v1/events/{event['id']}/tickets"
    [by_name] = (await door.get(f"{base}?q=王"))["tickets"]
    assert set(by_name) == set(DOOR_TICKET_FIELDS)
    assert by_name["code"] == ticket["code"] and by_name["holder_name"] == "王伟"
    [by_code] = (await door.get(f"{base}?q={ticket['code']}"))["tickets"]
    assert by_code["id"] == ticket["id"]
    # An email or a secret that matched would tell the door whose they are.
    assert (await door.get(f"{base}?q=wang@example.com"))["tickets"] == []
    assert (await door.get(f"{base}?q={ticket['secret']}"))["tickets"] == []
    # The organiser finds by all four.
    assert (await organiser.get(f"{base}?q=wang@example.com"))["tickets"][0]["secret"]


async def test_a_door_cannot_page_through_the_attendees(organiser, api_as, event):
    await organiser.post(
        f"/api/v1/events/{event['id']}/tickets",
        {
            "tickets": [
                {"holder_name": f"嘉宾 {i}", "holder_email": f"g{i}@x.cn"} for i in range(30)
            ]
        },
        expect=201,
    )
    door = await api_as("door", event["id"])
    base = f"/api/v1/events/{event['id']}/tickets"
    assert (await door.get(f"{base}?limit=500"))["tickets"] == []
    first = (await door.get(f"{base}?q=嘉宾&limit=500"))["tickets"]
    assert len(first) == 20
    assert (await door.get(f"{base}?q=嘉宾&limit=500&offset=20"))["tickets"] == first
    assert len((await organiser.get(f"{base}?limit=500"))["tickets"]) == 30


async def test_command_lists_the_attendees_only_where_the_organiser_allows(
    organiser, api_as, event
):
    """Command reads a person's contact (a look-up of 20 by name, email or
    code); paging through everyone is an export, the organiser's to allow."""
    await organiser.post(
        f"/api/v1/events/{event['id']}/tickets",
        {
            "tickets": [
                {"holder_name": f"嘉宾 {i}", "holder_email": f"g{i}@x.cn"} for i in range(30)
            ]
        },
        expect=201,
    )
    command = await api_as("command", event["id"])
    base = f"/api/v1/events/{event['id']}/tickets"
    assert (await command.get(f"{base}?limit=500"))["tickets"] == []
    [found] = (await command.get(f"{base}?q=g7@x.cn"))["tickets"]
    assert found["holder_email"] == "g7@x.cn" and "secret" not in found
    first = (await command.get(f"{base}?q=嘉宾&limit=500"))["tickets"]
    assert len(first) == 20
    assert (await command.get(f"{base}?q=嘉宾&offset=20"))["tickets"] == first
    await organiser.patch(f"/api/v1/events/{event['id']}", {"options": {"command_exports": True}})
    assert len((await command.get(f"{base}?limit=500"))["tickets"]) == 30
    assert len((await command.get(f"{base}?q=嘉宾&offset=20"))["tickets"]) == 10


async def test_a_ticket_by_id_is_for_organiser_and_command(organiser, api_as, event, ticket):
    url = f"/api/v1/tickets/{ticket['id']}"
    full = await organiser.get(url)
    assert full["secret"] == ticket["secret"] and full["holder_email"] == "wang@example.com"
    command = await (await api_as("command", event["id"])).get(url)
    assert command["holder_email"] == "wang@example.com" and "secret" not in command
    for role in ("door", "staff"):
        caller = await api_as(role, event["id"])
        assert (await caller.get(url, expect=403))["error"]["code"] == "forbidden"


def incident(title: str) -> dict[str, str]:
    return {"category": "other", "title": title, "nonce": uuid.uuid4().hex, "location": title}


async def test_a_door_sees_the_incidents_it_had_a_hand_in(api_as, event):
    base = f"/api/v1/events/{event['id']}/incidents"
    door = await api_as("door", event["id"])
    staff = await api_as("staff", event["id"])
    own = await door.post(base, incident("读卡器坏了 North reader"), expect=201)
    other = await staff.post(base, incident("观众晕倒 王伟 B2"), expect=201)
    assert [i["id"] for i in (await door.get(base))["incidents"]] == [own["id"]]
    assert (await door.get(f"{base}/{own['id']}"))["id"] == own["id"]
    for method, tail in (("GET", ""), ("GET", "/photo"), ("POST", "/comments")):
        body = {"text": "x", "nonce": uuid.uuid4().hex} if method == "POST" else None
        refused = await door.call(method, f"{base}/{other['id']}{tail}", 403, json=body)
        assert refused["error"]["code"] == "not_own_incident", tail
    # Staff take any incident, so they see them all.
    assert {i["id"] for i in (await staff.get(base))["incidents"]} == {own["id"], other["id"]}
    # Once it writes on one (a comment, a linked report), the door sees it.
    await door.post(f"{base}/{own['id']}/comments", {"text": "换了", "nonce": "c1"}, expect=201)
    await door.get(f"{base}/{own['id']}")
