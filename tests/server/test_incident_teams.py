"""Incidents assigned to a team of the roster as well as a person (issue 16), on
SQLite and PostgreSQL: the team's phones list them as theirs, a door-role
roster member can be assigned one, staff take a team's incident for
themselves (its team kept) but never hand it to a team."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Api, event_body
from tests.server.test_incidents import report, url
from tests.server.test_staff import add, pair_member
from tests.server.test_task_export import rows


async def listed(phone: Api, event: dict[str, Any]) -> tuple[list[int], str | None]:
    answer = await phone.get(f"/api/v1/events/{event['id']}/incidents?mine=1")
    return [i["id"] for i in answer["incidents"]], answer["team"]


async def test_an_incident_assigned_to_a_team_is_listed_by_its_phones(
    client: httpx.AsyncClient, organiser: Api, api_as: Any
) -> None:
    event = await organiser.post("/api/v1/events", event_body(), expect=201)
    e = event["id"]
    hall = await organiser.post(f"/api/v1/events/{e}/zones", {"name": "Hall A"}, expect=201)
    gate = await organiser.post(
        f"/api/v1/events/{e}/gates", {"name": "North", "to_zone": hall["id"]}, expect=201
    )
    li = await add(organiser, e, name="李娜", team="安保", role="door", gate=gate["id"])
    wang = await add(organiser, e, name="王强", team="安保", role="staff", phone=None)
    tom = await add(organiser, e, name="Tom", team="tech", role="staff", phone=None)
    await add(organiser, e, name="Amy", team="Press desk", role="staff", phone=None)
    phones = {m["name"]: await pair_member(client, organiser, m["id"]) for m in (li, wang, tom)}
    command = await api_as("command", e)

    incident = await report(phones["Tom"], event, title="闸机读卡器坏了")
    to_team = await command.post(url(event, incident, "assign"), {"team": "安保"}, expect=200)
    assert (to_team["team"], to_team["assignee"]) == ("security", None)
    assert await listed(phones["王强"], event) == ([incident["id"]], "security")
    assert await listed(phones["李娜"], event) == ([incident["id"]], "security")  # a door's own
    await phones["李娜"].get(url(event, incident), expect=200)
    assert await listed(phones["Tom"], event) == ([incident["id"]], "tech")  # he reported it
    other = await report(phones["Tom"], event, title="投影没信号", equipment_tag="P-2")
    assert incident["id"] not in (await listed(await api_as("staff", e), event))[0]
    assert other["id"] not in (await listed(phones["王强"], event))[0]

    # A team the roster does not have, or nobody named at all, is refused.
    unknown = await command.post(url(event, incident, "assign"), {"team": "保洁"}, expect=422)
    assert unknown["error"]["code"] == "unknown_team"
    empty = await command.post(url(event, incident, "assign"), {"note": "?"}, expect=422)
    assert empty["error"]["code"] == "assign_needs_someone"
    own = await command.post(url(event, other, "assign"), {"team": "Press desk"}, expect=200)
    assert own["team"] == "Press desk"

    # Staff never hand it to a team; they take it, and its team stays.
    refused = await phones["王强"].post(
        url(event, incident, "assign"), {"team": "tech"}, expect=403
    )
    assert refused["error"]["code"] == "assign_taken"
    taken = await phones["王强"].post(url(event, incident, "assign"), {"assignee": "me"})
    assert (taken["assignee"]["name"], taken["team"]) == ("王强", "security")
    await phones["王强"].post(url(event, incident, "resolve"), {}, expect=200)

    # A door-role roster member can be assigned one: it reaches her phone.
    again = await report(phones["Tom"], event, title="北门扫码枪没电", equipment_tag="S-9")
    door = await command.post(url(event, again, "assign"), {"assignee": "李娜", "team": None})
    me = await phones["李娜"].get("/api/v1/devices/me")
    assert door["assignee"] == {"id": me["device"]["id"], "name": "李娜", "role": "door"}
    assert door["team"] is None
    assert again["id"] in (await listed(phones["李娜"], event))[0]
    await phones["李娜"].post(url(event, again, "resolve"), {}, expect=403)  # she stays at the door
    both = await command.post(url(event, again, "assign"), {"team": "tech"}, expect=200)
    assert (both["assignee"]["name"], both["team"]) == ("李娜", "tech")
    detail = await command.get(url(event, again))
    assigned = [entry["data"] for entry in detail["log"] if entry["action"] == "assigned"]
    assert assigned[-1]["previous"]["team"] is None and assigned[-1]["team"] == "tech"

    exported = await organiser.get(f"/api/v1/events/{e}/exports/incidents.csv")
    teams = {r["incident_id"]: r["assignee_team"] for r in rows(exported.text)}
    assert teams == {str(incident["id"]): "security", str(other["id"]): "Press desk",
                     str(again["id"]): "tech"}  # fmt: skip
