"""GET …/exports/tasks.csv on SQLite and PostgreSQL: every task with its owner,
due and done times (UTC and the event's zone), outcome as the review counts it
(on_time, late, not_done), steps ticked of all; safe in Excel; command only
where the organiser allows personal-data exports."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Api
from tests.server.test_csv_formulas import assert_safe


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def test_tasks_export_says_how_each_task_ended(
    organiser: Api, api_as: Any, event: dict[str, Any]
) -> None:
    base = f"/api/v1/events/{event['id']}"
    past = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    late = await organiser.post(
        f"{base}/tasks",
        {"title": '=HYPERLINK("x")', "team": "security", "due_at": past, "steps": ["a", "b"]},
        expect=201,
    )
    early = await organiser.post(
        f"{base}/tasks", {"title": "signage", "description": "+1+1", "due_at": later}, expect=201
    )
    await organiser.post(f"{base}/tasks", {"title": "never done"}, expect=201)
    for task in (late, early):
        for status in ("doing", "done"):
            await organiser.patch(
                f"/api/v1/tasks/{task['id']}", {"nonce": uuid.uuid4().hex, "status": status}
            )
    step = late["steps"][0]["id"]
    await organiser.patch(
        f"/api/v1/tasks/{late['id']}",
        {"nonce": uuid.uuid4().hex, "steps": [{"id": step, "done": True}]},
    )

    answer = await organiser.get(f"{base}/exports/tasks.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert_safe(answer.text, '=HYPERLINK("x")', "+1+1")
    found = {r["task_id"]: r for r in rows(answer.text)}
    assert [found[str(t["id"])]["outcome"] for t in (late, early)] == ["late", "on_time"]
    assert sorted(r["outcome"] for r in found.values()) == ["late", "not_done", "on_time"]
    assert (found[str(late["id"])]["steps_done"], found[str(late["id"])]["steps"]) == ("1", "2")
    assert "due_at (Asia/Shanghai)" in answer.text.splitlines()[0]

    command = await api_as("command", event["id"])
    refused = await command.get(f"{base}/exports/tasks.csv", expect=403)
    assert refused["error"]["code"] == "export_not_allowed"
    await organiser.patch(base, {"options": {"command_exports": True}})
    await command.get(f"{base}/exports/tasks.csv", expect=200)
    door = await api_as("door", event["id"])
    await door.get(f"{base}/exports/tasks.csv", expect=403)
