"""Escalation: a controllable clock, the claim, exactly once across processes.

The checks here are called with an explicit ``now``; the app's own loop is
turned off (interval 0) except in the test of the loop itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from server.app import create_app
from server.features.escalation import ESCALATION_LOOP, _claim, _due, check_escalations
from server.models import Alert, BusMessage, Incident, IncidentLogEntry
from tests.server.checkers import checking_at_once
from tests.server.test_incidents import report, url


@pytest.fixture
def settings(settings):
    return replace(settings, escalation_check_interval=0)


def at(incident: dict[str, Any], field: str = "status_since") -> datetime:
    return datetime.fromisoformat(incident[field])


async def count(ctx: Any, model: Any, *where: Any) -> int:
    async with ctx.db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_unacknowledged_p1_escalates_once_after_two_minutes(ctx, api_as, event):
    staff = await api_as("staff", event["id"])
    seen: list[tuple[int, tuple[str, ...]]] = []
    ctx.listeners.append(lambda event_id, topics: seen.append((event_id, topics)))
    incident = await report(staff, event, severity="P1", category="medical")
    start = at(incident)
    assert await check_escalations(ctx.db, start + timedelta(seconds=119)) == []
    [escalation] = await check_escalations(ctx.db, start + timedelta(seconds=120))
    assert (escalation.incident_id, escalation.level, escalation.after_seconds) == (
        incident["id"],
        1,
        120,
    )
    assert await check_escalations(ctx.db, start + timedelta(minutes=10)) == []

    detail = await staff.get(url(event, incident))
    assert detail["escalation_level"] == 1 and detail["escalated_at"]
    assert [e["action"] for e in detail["log"]] == ["reported", "escalated"]
    [alert] = await _alerts(ctx)
    assert alert.severity == "critical" and alert.data["incident"] == incident["id"]
    assert alert.data["level"] == 1
    assert await count(ctx, BusMessage, BusMessage.topic == "incidents") == 2


async def test_changed_is_called_for_the_hub(ctx, api_as, event):
    staff = await api_as("staff", event["id"])
    incident = await report(staff, event, severity="P2")
    seen: list[tuple[int, tuple[str, ...]]] = []
    await check_escalations(
        ctx.db,
        at(incident) + timedelta(minutes=5),
        changed=lambda event_id, *topics: seen.append((event_id, topics)),
    )
    assert seen == [(event["id"], ("incidents", "alerts"))]


async def _alerts(ctx: Any) -> list[Alert]:
    async with ctx.db.reading() as session:
        return list(
            await session.scalars(
                select(Alert).where(Alert.kind == "escalation").order_by(Alert.id)
            )
        )


async def test_acknowledged_but_unresolved_escalates_to_level_two(ctx, api_as, event):
    staff = await api_as("staff", event["id"])
    incident = await report(staff, event, severity="P2")
    taken = await staff.post(url(event, incident, "ack"), {}, expect=200)
    since = at(taken)
    assert await check_escalations(ctx.db, since + timedelta(minutes=29)) == []
    [escalation] = await check_escalations(ctx.db, since + timedelta(minutes=30))
    assert escalation.level == 2
    assert await check_escalations(ctx.db, since + timedelta(hours=5)) == []
    resolved = await staff.post(url(event, incident, "resolve"), {}, expect=200)
    assert resolved["escalation_level"] == 2
    assert await check_escalations(ctx.db, since + timedelta(hours=9)) == []


async def test_p4_never_escalates_and_options_override(ctx, organiser, api_as, event):
    staff = await api_as("staff", event["id"])
    quiet = await report(staff, event, severity="P4")
    assert await check_escalations(ctx.db, at(quiet) + timedelta(days=2)) == []
    await organiser.patch(
        f"/api/v1/events/{event['id']}",
        {"options": {"escalation": {"ack": {"P4": 60, "P1": None}}}},
    )
    urgent = await report(staff, event, severity="P1", equipment_tag="U")
    found = await check_escalations(ctx.db, at(quiet) + timedelta(days=2))
    assert [(e.incident_id, e.level) for e in found] == [(quiet["id"], 1)]
    assert urgent["id"] not in [e.incident_id for e in found]


async def test_reopen_restarts_the_clocks(ctx, organiser, api_as, event):
    staff = await api_as("staff", event["id"])
    incident = await report(staff, event, severity="P1")
    await check_escalations(ctx.db, at(incident) + timedelta(minutes=3))
    await organiser.post(url(event, incident, "resolve"), {}, expect=200)
    reopened = await organiser.post(url(event, incident, "reopen"), {}, expect=200)
    assert reopened["escalation_level"] == 0
    [again] = await check_escalations(ctx.db, at(reopened) + timedelta(minutes=3))
    assert again.level == 1
    assert len(await _alerts(ctx)) == 2


async def test_a_stale_decision_claims_nothing(ctx, api_as, event):
    staff = await api_as("staff", event["id"])
    incident = await report(staff, event, severity="P1")
    now = at(incident) + timedelta(minutes=3)
    [due] = await _due(ctx.db, now, event["id"])
    # Acknowledged between the read and the claim: the claim must miss.
    await staff.post(url(event, incident, "ack"), {}, expect=200)
    assert await _claim(ctx.db, due, now) is None
    assert await _alerts(ctx) == []


INCIDENTS = 8


async def test_exactly_once_across_concurrent_checkers(ctx, settings, api_as, event):
    """Several engines (server processes, on PostgreSQL) and tasks check at
    the same instant; each incident is escalated by exactly one of them."""
    staff = await api_as("staff", event["id"])
    made = [
        await report(staff, event, severity="P1", equipment_tag=f"T{i}") for i in range(INCIDENTS)
    ]
    now = max(at(i) for i in made) + timedelta(minutes=3)
    results = await checking_at_once(ctx, settings, lambda db: check_escalations(db, now))
    claimed = [e.incident_id for found in results for e in found]
    assert sorted(claimed) == sorted(i["id"] for i in made)
    assert sum(1 for found in results if found) >= 1
    assert len(await _alerts(ctx)) == INCIDENTS
    assert await count(ctx, IncidentLogEntry, IncidentLogEntry.action == "escalated") == INCIDENTS
    escalated_messages = 0
    async with ctx.db.reading() as session:
        for payload in await session.scalars(
            select(BusMessage.payload).where(BusMessage.topic == "incidents")
        ):
            escalated_messages += payload["action"] == "escalated"
    assert escalated_messages == INCIDENTS


async def test_the_app_part_escalates_on_its_own(settings, api_as, event, ctx):
    staff = await api_as("staff", event["id"])
    incident = await report(staff, event, severity="P1")
    async with ctx.db.writing() as session:
        await session.execute(
            update(Incident)
            .where(Incident.id == incident["id"])
            .values(status_since=at(incident) - timedelta(hours=1))
        )
    ticking = create_app(replace(settings, escalation_check_interval=0.05), migrate=False)
    async with ticking.router.lifespan_context(ticking):
        assert ticking.state.muster.part(ESCALATION_LOOP) is not None
        for _ in range(100):
            if await _alerts(ctx):
                break
            await asyncio.sleep(0.05)
    assert len(await _alerts(ctx)) == 1
