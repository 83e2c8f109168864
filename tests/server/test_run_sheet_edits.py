"""Run sheets changed before they are applied (server/features/run_sheets.py), on both
databases: a CSV checked without saving answers its good rows as items and
its bad rows with codes; a sheet is renamed, its items replaced or it is
deleted until it is applied, then refused with ``run_sheet_applied``; a
change racing an apply never leaves tasks made from items that are gone."""

from __future__ import annotations

import asyncio

from server.models import Task
from tests.server.broadcast_world import make_floor
from tests.server.test_tasks import SHEET, count

CSV = {"content-type": "text/csv"}


async def test_a_csv_checked_keeps_its_good_rows_and_codes_the_bad(client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    base = f"/api/v1/events/{floor.event_id}/run-sheets"
    text = (
        "时间,任务,团队,负责人,区域,优先级,步骤\n"
        "T-120,signage up,安保,,Hall A,高,north|south\n"
        "soon,water,,,,,\n"
        "T+0,doors open,,Tom,,,\n"
    )
    checked = await command.post(f"{base}/check", content=text.encode(), headers=CSV, expect=200)
    assert [(i["offset_minutes"], i["title"]) for i in checked["items"]] == [
        (-120, "signage up"),
        (0, "doors open"),
    ]
    first = checked["items"][0]
    assert (first["team"], first["zone"], first["priority"]) == ("security", floor.hall_a, "high")
    assert first["steps"] == ["north", "south"]
    assert checked["items"][1]["staff"] == floor.members["Tom"]["id"]
    assert [(e["line"], e["code"]) for e in checked["errors"]] == [(3, "offset_invalid")]
    assert checked["error_count"] == 1
    assert (await command.get(base))["run_sheets"] == []  # nothing saved
    door = await api_as("door", floor.event_id)
    await door.post(f"{base}/check", content=text.encode(), headers=CSV, expect=403)


async def test_a_sheet_changes_until_it_is_applied(ctx, client, organiser, api_as):
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    base = f"/api/v1/events/{floor.event_id}/run-sheets"
    sheet = await command.post(base, SHEET, expect=201)
    url = f"/api/v1/run-sheets/{sheet['id']}"
    renamed = await command.patch(url, {"name": "开门流程 v2"})
    assert renamed["name"] == "开门流程 v2" and len(renamed["items"]) == 3
    items = [
        {"offset_minutes": -60, "title": "radios charged", "team": "技术", "steps": ["x"]},
        {"offset_minutes": 15, "title": "first sweep", "staff": floor.members["Tom"]["id"]},
    ]
    changed = await organiser.patch(url, {"items": items})
    assert [(i["offset_minutes"], i["title"], i["team"]) for i in changed["items"]] == [
        (-60, "radios charged", "tech"),
        (15, "first sweep", None),
    ]
    refused = await command.patch(url, {"items": [{**items[0], "staff": 10**9}]}, expect=422)
    assert refused["error"]["code"] == "unknown_staff"
    assert len((await command.get(base))["run_sheets"][0]["items"]) == 2  # the refusal kept them

    made = await command.post(f"{base}/{sheet['id']}/apply", {}, expect=200)
    assert made["created"] == 2
    late = await command.patch(url, {"name": "again"}, expect=409)
    assert late["error"]["code"] == "run_sheet_applied"
    assert late["error"]["details"]["applied_at"]
    gone = await command.call("DELETE", url, expect=409)
    assert gone["error"]["code"] == "run_sheet_applied"
    assert await count(ctx, Task, Task.event_id == floor.event_id) == 2

    spare = await command.post(base, SHEET, expect=201)
    await command.call("DELETE", f"/api/v1/run-sheets/{spare['id']}", expect=200)
    assert [s["id"] for s in (await command.get(base))["run_sheets"]] == [sheet["id"]]
    await command.patch(f"/api/v1/run-sheets/{spare['id']}", {"name": "x"}, expect=404)
    staff = await api_as("staff", floor.event_id)
    await staff.patch(url, {"name": "mine"}, expect=403)


async def test_a_change_racing_an_apply_leaves_no_task_without_its_item(
    ctx, client, organiser, api_as
):
    """Apply and change lock the sheet's row: without the locks (PostgreSQL)
    a change read the sheet unapplied, the apply made tasks from the old
    items, and the change then replaced them, leaving tasks of items gone."""
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    base = f"/api/v1/events/{floor.event_id}/run-sheets"
    new_items = [{"offset_minutes": m, "title": f"new {m}"} for m in range(-50, 0, 5)]
    for _round in range(8):
        sheet = await command.post(base, SHEET, expect=201)
        change, _apply = await asyncio.gather(
            command.call("PATCH", f"/api/v1/run-sheets/{sheet['id']}", json={"items": new_items}),
            command.call("POST", f"{base}/{sheet['id']}/apply", json={}, expect=200),
        )
        assert "error" not in change or change["error"]["code"] == "run_sheet_applied", change
    sheets = (await command.get(base))["run_sheets"]
    items = {i["id"] for s in sheets for i in s["items"]}
    tasks = (await command.get(f"/api/v1/events/{floor.event_id}/tasks"))["tasks"]
    assert len(tasks) == sum(len(s["items"]) for s in sheets)
    assert [t["title"] for t in tasks if t["run_sheet_item"] not in items] == []
