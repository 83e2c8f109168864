"""Due-soon reminders pushed by the server (issue 16: "due-soon reminders to the
owner's phone ... decided by a pure function and claimed once across
processes"), on SQLite and PostgreSQL: every open task due within 15 minutes
gets one ``due_soon`` message on the ``tasks`` topic, to its person's and team's
phones, however many checkers run at once; a done task, one past due and one due
later get none; a new due time re-arms it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.features.tasks import remind_due_tasks
from server.models import BusMessage
from tests.server.broadcast_world import make_floor
from tests.server.checkers import checking_at_once
from tests.server.test_tasks import change, tasks_url

TASKS = 5


@pytest.fixture
def settings(settings: Any) -> Any:
    """No task clock of the app's own: the test runs the checkers."""
    return replace(settings, escalation_check_interval=0)


async def reminders(ctx: Any) -> list[dict[str, Any]]:
    async with ctx.db.reading() as session:
        rows = await session.scalars(
            select(BusMessage.payload).where(BusMessage.topic == "tasks").order_by(BusMessage.id)
        )
        return [p for p in rows if p["action"] == "due_soon"]


async def test_a_due_soon_reminder_is_pushed_once_across_concurrent_checkers(
    ctx: Any, settings: Any, client: Any, organiser: Any, api_as: Any
) -> None:
    floor = await make_floor(client, organiser)
    command = await api_as("command", floor.event_id)
    now = datetime.now(UTC)
    soon = (now + timedelta(minutes=10)).isoformat()
    wang = floor.members["王强"]["id"]
    made = [
        await command.post(
            tasks_url(floor),
            {
                "title": f"task {i}",
                "team": "tech",
                "staff": wang if i == 0 else None,
                "due_at": soon,
            },
            expect=201,
        )
        for i in range(TASKS)
    ]
    done = await command.post(tasks_url(floor), {"title": "done", "due_at": soon}, expect=201)
    await change(command, done["id"], status="done")
    later = (now + timedelta(hours=1)).isoformat()
    past = (now - timedelta(minutes=1)).isoformat()
    for title, due in (("later", later), ("past", past)):
        await command.post(tasks_url(floor), {"title": title, "due_at": due}, expect=201)

    results = await checking_at_once(ctx, settings, lambda db: remind_due_tasks(db, now))
    claimed = sorted(t for found in results for t in found)
    assert claimed == sorted(t["id"] for t in made)
    pushed = await reminders(ctx)
    assert sorted(p["task"]["id"] for p in pushed) == claimed
    first = next(p for p in pushed if p["task"]["id"] == made[0]["id"])
    assert first["audience"]["people"] == [wang] and first["audience"]["teams"] == ["tech"]
    assert first["task"]["reminded"] is True
    assert await remind_due_tasks(ctx.db, now + timedelta(minutes=1)) == []

    # A new due time re-arms it; past due it is the overdue alert's, not a reminder.
    moved = now + timedelta(minutes=40)
    await change(command, made[1]["id"], due_at=moved.isoformat())
    assert await remind_due_tasks(ctx.db, now) == []
    assert await remind_due_tasks(ctx.db, moved - timedelta(minutes=5)) == [made[1]["id"]]
