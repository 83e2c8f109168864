"""The task board on SQLite and PostgreSQL: who sees and works on which task, changes
applied once per nonce (also resent offline), steps ticked by whom and when, run
sheets applied once (also twice at one instant), their CSV import, and overdue
alerts raised once by several checkers (processes on PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from server.features.tasks import check_overdue_tasks
from server.models import Alert, BusMessage, Task, TaskChange
from tests.conftest import Api
from tests.server.broadcast_world import Floor, make_floor
from tests.server.checkers import checking_at_once


@pytest.fixture
def settings(settings):
    return replace(settings, escalation_check_interval=0)


def tasks_url(floor: Floor) -> str:
    return f"/api/v1/events/{floor.event_id}/tasks"


async def titles(phone: Api, floor: Floor) -> list[str]:
    return sorted(t["title"] for t in (await phone.get(tasks_url(floor)))["tasks"])


async def change(phone: Api, task_id: int, expect: int = 200, **body: Any) -> Any:
    body.setdefault("nonce", uuid.uuid4().hex)
    return await phone.patch(f"/api/v1/tasks/{task_id}", body, expect=expect)


async def count(ctx: Any, model: Any, *where: Any) -> int:
    async with ctx.db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def board(floor: Floor, command: Api) -> dict[str, dict[str, Any]]:
    made = {
        "signage": {"title": "signage up", "team": "安保", "steps": ["north", "south"]},
        "water": {"title": "water to Hall B", "staff": floor.members["王强"]["id"]},
        "wifi": {"title": "test the Wi-Fi", "team": "tech", "zone": floor.hall_a},
    }
    return {k: await command.post(tasks_url(floor), v, expect=201) for k, v in made.items()}


async def test_each_phone_sees_and_works_on_its_persons_and_teams_tasks(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    made = await board(floor, command)
    assert made["signage"]["team"] == "security"  # 安保, the built-in team's code
    assert await titles(floor.phones["李娜"], floor) == ["signage up"]
    assert await titles(floor.phones["王强"], floor) == ["water to Hall B"]
    assert await titles(floor.phones["Tom"], floor) == ["test the Wi-Fi"]
    assert await titles(floor.phones["spare"], floor) == []
    assert len(await titles(command, floor)) == 3
    mine = await floor.phones["王强"].get(tasks_url(floor))
    assert mine["me"] == {"staff": floor.members["王强"]["id"], "team": "logistics"}
    refused = await change(floor.phones["Tom"], made["signage"]["id"], 403, status="doing")
    assert refused["error"]["code"] == "not_your_task"
    retitled = await change(floor.phones["李娜"], made["signage"]["id"], 403, title="x")
    assert retitled["error"]["code"] == "task_fields_for_command"
    moved = await change(command, made["water"]["id"], team="tech", staff=None)
    assert moved["task"]["staff"] is None
    assert await titles(floor.phones["Tom"], floor) == ["test the Wi-Fi", "water to Hall B"]
    assert await titles(floor.phones["王强"], floor) == []


async def test_status_moves_by_the_rule_and_blocked_needs_a_reason(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    task = (await board(floor, command))["signage"]
    li = floor.phones["李娜"]
    assert (await change(li, task["id"], status="doing"))["task"]["status"] == "doing"
    no_reason = await change(li, task["id"], 409, status="blocked")
    assert no_reason["error"]["code"] == "task_blocked_needs_reason"
    blocked = await change(li, task["id"], status="blocked", blocked_reason="没有梯子")
    assert (blocked["task"]["status"], blocked["task"]["blocked_reason"]) == ("blocked", "没有梯子")
    skipped = await change(li, task["id"], 409, status="done")
    assert skipped["error"]["code"] == "task_bad_transition"
    await change(li, task["id"], status="doing")
    done = (await change(li, task["id"], status="done"))["task"]
    assert done["done_at"] is not None and done["blocked_reason"] == ""


async def test_a_tick_sent_twice_offline_is_applied_once_with_its_time(
    ctx, client, organiser, api_as
):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    task = (await board(floor, command))["signage"]
    north, south = (s["id"] for s in task["steps"])
    li = floor.phones["李娜"]
    ticked = datetime.now(UTC) - timedelta(minutes=5)
    body = {"nonce": uuid.uuid4().hex, "steps": [{"id": north, "done": True}]}
    body["occurred_at"] = ticked.isoformat()
    first = await li.patch(f"/api/v1/tasks/{task['id']}", body)
    again = await li.patch(f"/api/v1/tasks/{task['id']}", body)  # the queue flushed twice
    assert first["repeated"] is False and again["repeated"] is True
    assert again["task"] == first["task"]
    step = first["task"]["steps"][0]
    assert datetime.fromisoformat(step["done_at"]) == ticked
    assert step["done_by"]["name"] == "李娜"
    assert step["done_by"]["staff"] == floor.members["李娜"]["id"]
    assert first["task"]["progress"] == {"done": 1, "total": 2}
    # 8 resends at once of one more tick: one change, one message
    other = {"nonce": uuid.uuid4().hex, "steps": [{"id": south, "done": True}]}
    answers = await asyncio.gather(
        *(li.patch(f"/api/v1/tasks/{task['id']}", other) for _ in range(8))
    )
    assert sum(not a["repeated"] for a in answers) == 1
    assert await count(ctx, TaskChange, TaskChange.task_id == task["id"]) == 2
    changed = 0
    async with ctx.db.reading() as session:
        for payload in await session.scalars(
            select(BusMessage.payload).where(BusMessage.topic == "tasks")
        ):
            changed += payload["action"] == "changed" and payload["task"]["id"] == task["id"]
            assert payload["audience"]["teams"] in ([], ["security"], ["tech"])
    assert changed == 2
    listed = (await command.get(tasks_url(floor)))["tasks"]
    assert {t["id"]: t["progress"]["done"] for t in listed}[task["id"]] == 2


SHEET = {
    "name": "开门流程",
    "items": [
        {"offset_minutes": -120, "title": "signage up", "team": "security", "steps": ["A", "B"]},
        {"offset_minutes": -30, "title": "door phones paired and tested", "team": "tech"},
        {"offset_minutes": 0, "title": "doors open", "priority": "high"},
    ],
}


async def test_a_run_sheet_applied_twice_and_at_once_makes_each_task_once(
    ctx, client, organiser, api_as
):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    base = f"/api/v1/events/{floor.event_id}/run-sheets"
    sheet = await command.post(base, SHEET, expect=201)
    doors = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    apply = f"{base}/{sheet['id']}/apply"
    answers = await asyncio.gather(
        *(command.post(apply, {"doors_open": doors.isoformat()}, expect=200) for _ in range(4))
    )
    assert sorted(a["created"] for a in answers) == [0, 0, 0, 3]
    again = await command.post(apply, {}, expect=200)
    assert (again["created"], again["already"]) == (0, 3)
    assert await count(ctx, Task, Task.event_id == floor.event_id) == 3
    listed = {t["title"]: t for t in (await command.get(tasks_url(floor)))["tasks"]}
    signage = listed["signage up"]
    assert datetime.fromisoformat(signage["due_at"]) == doors - timedelta(hours=2)
    assert [s["title"] for s in signage["steps"]] == ["A", "B"]
    assert await titles(floor.phones["李娜"], floor) == ["signage up"]
    sheets = (await command.get(base))["run_sheets"]
    assert sheets[0]["applied_at"] is not None


async def test_a_run_sheet_from_csv_all_rows_or_none(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    base = f"/api/v1/events/{floor.event_id}/run-sheets"
    good = (
        "时间,任务,团队,负责人,区域,步骤\n"
        "T\u2212120,signage up,安保,,Hall A,north|south\n"
        "T-30,door phones tested,,Tom,,\n"
        "T+0,doors open,,,,\n"
    )
    sheet = await command.post(
        f"{base}?name=day", content=good.encode(), headers={"content-type": "text/csv"}, expect=201
    )
    items = sheet["items"]
    assert [i["offset_minutes"] for i in items] == [-120, -30, 0]
    assert items[0]["zone"] == floor.hall_a and items[0]["steps"] == ["north", "south"]
    assert items[1]["staff"] == floor.members["Tom"]["id"]
    bad = "offset,title,staff\nsoon,x,\nT-10,y,Nobody\n"
    refused = await command.post(
        base, content=bad.encode(), headers={"content-type": "text/csv"}, expect=422
    )
    codes = [e["code"] for e in refused["error"]["details"]["errors"]]
    assert codes == ["offset_invalid", "unknown_staff"]
    assert len((await command.get(base))["run_sheets"]) == 1


TASKS = 6


async def test_overdue_raised_once_across_concurrent_checkers(
    ctx, settings, client, organiser, api_as
):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    due = datetime.now(UTC) + timedelta(minutes=10)
    made = [
        await command.post(
            tasks_url(floor),
            {"title": f"task {i}", "team": "tech", "due_at": due.isoformat()},
            expect=201,
        )
        for i in range(TASKS)
    ]
    await change(command, made[0]["id"], status="done")  # done in time: never overdue
    assert await check_overdue_tasks(ctx.db, due - timedelta(seconds=1)) == []
    now = due + timedelta(minutes=1)
    results = await checking_at_once(ctx, settings, lambda db: check_overdue_tasks(db, now))
    claimed = sorted(t for found in results for t in found)
    assert claimed == sorted(t["id"] for t in made[1:])
    assert await count(ctx, Alert, Alert.kind == "task_overdue") == TASKS - 1
    assert await check_overdue_tasks(ctx.db, now + timedelta(hours=1)) == []
    # a new due time re-arms it
    later = now + timedelta(minutes=30)
    await change(command, made[1]["id"], due_at=later.isoformat())
    assert await check_overdue_tasks(ctx.db, later) == [made[1]["id"]]
    async with ctx.db.reading() as session:
        alert = await session.scalar(
            select(Alert).where(Alert.kind == "task_overdue").order_by(Alert.id.desc())
        )
    assert alert is not None and alert.data["title"] == "task 1" and alert.data["team"] == "tech"


async def test_the_review_counts_tasks_on_time_late_and_not_done_by_team(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    soon = datetime.now(UTC) + timedelta(hours=1)
    past = datetime.now(UTC) - timedelta(hours=1)
    made = [
        await command.post(tasks_url(floor), body, expect=201)
        for body in (
            {"title": "a", "team": "tech", "due_at": soon.isoformat()},
            {"title": "b", "team": "tech", "due_at": past.isoformat()},
            {"title": "c", "staff": floor.members["王强"]["id"]},
            {"title": "d", "team": "tech"},
        )
    ]
    for task in made[:3]:
        await change(command, task["id"], status="done")
    report = await organiser.get(f"/api/v1/events/{floor.event_id}/report")
    review = report["tasks"]
    assert (review["on_time"], review["late"], review["not_done"], review["total"]) == (2, 1, 1, 4)
    assert review["teams"] == [
        {"team": "logistics", "on_time": 1, "late": 0, "not_done": 0},
        {"team": "tech", "on_time": 1, "late": 1, "not_done": 1},
    ]
