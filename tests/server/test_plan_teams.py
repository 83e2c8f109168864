"""Plans per team (issue 16: "each staff member confirms the emergency plans of
their team"), on SQLite and PostgreSQL: a plan names the teams expected to
confirm it; readiness counts only those teams' members, in all, by team and
by plan; a confirmation from outside them is not counted; a new list of teams
keeps the confirmations made."""

from __future__ import annotations

from typing import Any

from tests.server.broadcast_world import make_floor


async def test_a_plan_is_expected_only_of_the_teams_it_names(
    client: Any, organiser: Any, api_as: Any
) -> None:
    floor = await make_floor(client, organiser)  # 李娜 security, 王强 logistics, Tom tech
    base = f"/api/v1/events/{floor.event_id}/plans"
    medical = await organiser.post(
        base,
        {"category": "medical", "steps_zh": "1. 呼叫 120", "teams": ["安保", "tech", "tech"]},
        expect=201,
    )
    assert medical["teams"] == ["security", "tech"]
    crowd = await organiser.post(
        base, {"category": "crowd", "steps_en": "1. Slow the gates"}, expect=201
    )
    assert crowd["teams"] == []  # every member
    await floor.phones["王强"].post(f"/api/v1/plans/{medical['id']}/ack", expect=200)
    await floor.phones["李娜"].post(f"/api/v1/plans/{medical['id']}/ack", expect=200)

    command = await api_as("command", floor.event_id)
    readiness = (await command.get(base))["readiness"]
    assert (readiness["confirmed"], readiness["expected"]) == (1, 5)  # 王强's is not his team's
    by_plan = {p["id"]: p for p in readiness["plans"]}
    assert by_plan[medical["id"]] == {
        "id": medical["id"],
        "teams": ["security", "tech"],
        "expected": 2,
        "confirmed": 1,
    }
    assert (by_plan[crowd["id"]]["expected"], by_plan[crowd["id"]]["confirmed"]) == (3, 0)
    teams = {t["team"]: (t["confirmed"], t["expected"]) for t in readiness["teams"]}
    assert teams == {"logistics": (0, 1), "security": (1, 2), "tech": (0, 2)}
    mine = {p["category"]: p["expected"] for p in (await floor.phones["王强"].get(base))["plans"]}
    assert mine == {"crowd": True, "medical": False}
    listed = (await floor.phones["李娜"].get(base))["plans"]
    assert {p["category"]: (p["expected"], p["confirmed"]) for p in listed} == {
        "crowd": (True, False),
        "medical": (True, True),
    }

    # Handed to logistics: 王强's confirmation now counts, and nobody need read it again.
    moved = await organiser.patch(f"{base}/{medical['id']}", {"teams": ["物资"]})
    assert (moved["teams"], moved["updated_at"]) == (["logistics"], medical["updated_at"])
    readiness = (await command.get(base))["readiness"]
    assert (readiness["confirmed"], readiness["expected"]) == (1, 4)
    report = await organiser.get(f"/api/v1/events/{floor.event_id}/report")
    assert report["broadcasts"]["plans_at_doors_open"]["expected"] == 4
    unknown = await organiser.patch(f"{base}/{medical['id']}", {"teams": ["x" * 41]}, expect=422)
    assert unknown["error"]["code"] == "invalid_request"
