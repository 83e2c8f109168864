"""A task's checklist written anew by organiser or command (``step_titles``
in ``PATCH /tasks/{id}``), on both databases: a step kept by title keeps its
id and its tick, the others go, new ones are added in place; a phone may not
send it; the same nonce again changes nothing."""

from __future__ import annotations

import uuid

from tests.server.broadcast_world import make_floor
from tests.server.test_tasks import change, tasks_url


async def test_a_new_checklist_keeps_the_ticks_of_the_steps_it_keeps(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    task = await command.post(
        tasks_url(floor),
        {"title": "signage up", "team": "安保", "steps": ["A", "B", "C"]},
        expect=201,
    )
    a, b, c = task["steps"]
    phone = floor.phones["李娜"]
    await change(phone, task["id"], steps=[{"id": b["id"], "done": True}])
    refused = await change(phone, task["id"], 403, step_titles=["A"])
    assert refused["error"]["code"] == "task_fields_for_command"

    nonce = uuid.uuid4().hex
    answer = await change(command, task["id"], nonce=nonce, step_titles=["B", "D", "A"])
    steps = answer["task"]["steps"]
    assert [s["title"] for s in steps] == ["B", "D", "A"]
    assert (steps[0]["id"], steps[0]["done"], steps[0]["done_by"]["staff"]) == (
        b["id"],
        True,
        floor.members["李娜"]["id"],
    )
    assert steps[2]["id"] == a["id"] and steps[1]["id"] not in (a["id"], b["id"], c["id"])
    assert answer["task"]["progress"] == {"done": 1, "total": 3}

    again = await change(command, task["id"], nonce=nonce, step_titles=["B", "D", "A"])
    assert again["repeated"] is True
    [listed] = (await command.get(tasks_url(floor)))["tasks"]
    assert [s["title"] for s in listed["steps"]] == ["B", "D", "A"]
    gone = await change(phone, task["id"], 422, steps=[{"id": c["id"], "done": True}])
    assert gone["error"]["code"] == "unknown_step"
    emptied = await change(organiser, task["id"], step_titles=[])
    assert emptied["task"]["steps"] == [] and emptied["task"]["progress"]["total"] == 0
