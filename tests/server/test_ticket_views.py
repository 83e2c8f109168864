"""What each role sees of a ticket (server/rights.py): a door what admitting
by name needs — never an email, another ticket's secret or a list to page —
command the contact too, the organiser also the secret; staff nothing."""

from __future__ import annotations

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


async def test_a_ticket_by_id_is_for_organiser_and_command(organiser, api_as, event, ticket):
    url = f"/api/v1/tickets/{ticket['id']}"
    full = await organiser.get(url)
    assert full["secret"] == ticket["secret"] and full["holder_email"] == "wang@example.com"
    command = await (await api_as("command", event["id"])).get(url)
    assert command["holder_email"] == "wang@example.com" and "secret" not in command
    for role in ("door", "staff"):
        caller = await api_as(role, event["id"])
        assert (await caller.get(url, expect=403))["error"]["code"] == "forbidden"
