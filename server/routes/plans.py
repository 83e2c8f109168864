"""Emergency plans (应急预案): one runbook per incident category, in Chinese
and English Markdown, kept by the organiser.

A plan is not copied into incidents: every incident answer and stream
message looks up the plan of its category when it is sent, so an edit made
during the event reaches the next person who opens the incident.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.routing import Route

from server.auth import EVERYONE, ORGANISER, authorize
from server.context import muster
from server.errors import Conflict, InvalidRequest, NotFound
from server.features.broadcasts import plan_readiness
from server.features.incidents import plan_json, require_category
from server.features.staff import normal_team
from server.fields import Text
from server.http import json_response, parse_body, path_int
from server.lookup import get_event
from server.models import EmergencyPlan, utcnow
from server.openapi import accepts, answers
from server.responses import JSONResponse

Title = Annotated[str, Field(max_length=200)]
Steps = Annotated[str, Field(max_length=20_000)]
#: The roster teams expected to confirm a plan: built-in codes (or their
#: Chinese names) or the event's own; none: every member. A team is not
#: checked against the roster, which is often filled in after the plans.
Teams = Annotated[list[Annotated[Text, Field(min_length=1, max_length=40)]], Field(max_length=20)]


def team_codes(teams: list[str]) -> list[str]:
    return sorted({normal_team(team) for team in teams if team.strip()})


class PlanIn(BaseModel):
    category: Annotated[str, Field(min_length=1, max_length=32)]
    title_zh: Title = ""
    title_en: Title = ""
    steps_zh: Steps = ""
    steps_en: Steps = ""
    teams: Teams = []


class PlanPatch(BaseModel):
    title_zh: Title | None = None
    title_en: Title | None = None
    steps_zh: Steps | None = None
    steps_en: Steps | None = None
    teams: Teams | None = None


@accepts(PlanIn)
@answers(201, 409)
async def create_plan(request: Request) -> JSONResponse:
    """Add the emergency plan of an incident category."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, PlanIn)
    if not (body.steps_zh.strip() or body.steps_en.strip()):
        raise InvalidRequest("A plan needs steps in Chinese or English.", code="plan_needs_steps")
    try:
        plan = await _insert_plan(request, event_id, body)
    except IntegrityError:
        # Two organisers adding the same category at once: one wins.
        raise Conflict(
            f"The {body.category} plan exists already.",
            {"category": body.category},
            code="plan_exists",
        ) from None
    return json_response(plan_json(plan), status=201)


async def _insert_plan(request: Request, event_id: int, body: PlanIn) -> EmergencyPlan:
    async with muster(request).db.writing() as session:
        event = await get_event(session, event_id)
        require_category(event, body.category)
        existing = await session.scalar(
            select(EmergencyPlan.id).where(
                EmergencyPlan.event_id == event_id, EmergencyPlan.category == body.category
            )
        )
        if existing is not None:
            raise Conflict(
                f"The {body.category} plan exists already; change it with PATCH.",
                {"plan": existing, "category": body.category},
                code="plan_exists",
            )
        plan = EmergencyPlan(
            event_id=event_id, **{**body.model_dump(), "teams": team_codes(body.teams)}
        )
        session.add(plan)
    return plan


async def list_plans(request: Request) -> JSONResponse:
    """Every emergency plan of the event with the teams it names, whether the
    caller's roster member has confirmed each and is expected to, and the
    readiness: plans confirmed / expected, in all, by team and by plan."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, EVERYONE)
    async with muster(request).db.reading() as session:
        await get_event(session, event_id)
        plans = await session.scalars(
            select(EmergencyPlan)
            .where(EmergencyPlan.event_id == event_id)
            .order_by(EmergencyPlan.category)
        )
        readiness, mine, expected = await plan_readiness(session, event_id, principal)
        return json_response(
            {
                "plans": [
                    {**plan_json(p), "confirmed": p.id in mine, "expected": p.id in expected}
                    for p in plans
                ],
                "readiness": readiness,
            }
        )


async def _plan(request: Request, *, write: bool) -> tuple[int, int]:
    event_id, plan_id = path_int(request, "event_id"), path_int(request, "plan_id")
    await authorize(request, event_id, {ORGANISER} if write else EVERYONE)
    return event_id, plan_id


async def read_plan(request: Request) -> JSONResponse:
    """One emergency plan."""
    event_id, plan_id = await _plan(request, write=False)
    async with muster(request).db.reading() as session:
        plan = await session.get(EmergencyPlan, plan_id)
    if plan is None or plan.event_id != event_id:
        raise NotFound(f"No plan {plan_id}.")
    return json_response(plan_json(plan))


@accepts(PlanPatch)
@answers(409)
async def update_plan(request: Request) -> JSONResponse:
    """Change an emergency plan's titles or steps."""
    event_id, plan_id = await _plan(request, write=True)
    body = await parse_body(request, PlanPatch)
    async with muster(request).db.writing() as session:
        plan = await session.get(EmergencyPlan, plan_id, with_for_update=True)
        if plan is None or plan.event_id != event_id:
            raise NotFound(f"No plan {plan_id}.")
        changed = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        for key, value in changed.items():
            setattr(plan, key, team_codes(value) if key == "teams" else value)
        if set(changed) - {"teams"}:
            # New words ask everyone to confirm again; a new list of teams
            # keeps the confirmations made.
            plan.updated_at = utcnow()
    return json_response(plan_json(plan))


routes = [
    Route("/api/v1/events/{event_id}/plans", create_plan, methods=["POST"]),
    Route("/api/v1/events/{event_id}/plans", list_plans, methods=["GET"]),
    Route("/api/v1/events/{event_id}/plans/{plan_id}", read_plan, methods=["GET"]),
    Route("/api/v1/events/{event_id}/plans/{plan_id}", update_plan, methods=["PATCH"]),
]
