"""Incidents: the service around the pure rules of ``server/features/incident_rules.py``.

The rules decide which transitions are legal, who may make them, whether a
new report is a duplicate of an open incident, and when an incident is due
to escalate. This module wraps them: every change locks the incident row, appends to the incident log,
publishes on the ``incidents`` stream topic in the same transaction, and
returns what the caller should answer. Emergency plans (应急预案) of the
incident's category travel with every answer and every stream message, so
whoever reports or takes an incident has the runbook in hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import false, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.outbox import publish
from server.auth import COMMAND, DOOR, ORGANISER, STAFF, Principal
from server.db import Database
from server.errors import Conflict, Forbidden, InvalidRequest, NotFound
from server.features.incident_rules import (
    ACK,
    ACKNOWLEDGED,
    ACTIVE,
    ASSIGN,
    COMMENT,
    INVALID_TRANSITION,
    LOGGED,
    OPEN,
    REOPEN,
    RESOLVE,
    SEVERITIES,
    OpenIncident,
    Place,
    duplicate_of,
    event_categories,
    may_act,
    next_status,
)
from server.features.photos import StoredPhoto
from server.features.roster_rules import TEAMS
from server.features.staff import normal_team
from server.lookup import get_event
from server.models import (
    Account,
    EmergencyPlan,
    Event,
    Gate,
    Incident,
    IncidentLogEntry,
    IncidentPhoto,
    StaffMember,
    Zone,
    utcnow,
)
from server.serialize import iso

# --- request bodies -----------------------------------------------------------

Text = Annotated[str, Field(max_length=4000)]


class ReportIn(BaseModel):
    category: Annotated[str, Field(min_length=1, max_length=32)]
    severity: Literal["P1", "P2", "P3", "P4"] = "P3"
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Text = ""
    zone: int | None = None
    gate: int | None = None
    location: Annotated[str, Field(max_length=200)] = ""
    equipment_tag: Annotated[str, Field(max_length=100)] = ""
    nonce: Annotated[str, Field(min_length=1, max_length=64)]
    #: Open a new incident even when an open one matches.
    force_new: bool = False

    @field_validator("severity", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class AssignIn(BaseModel):
    """Who has it: a person, a team, or both. A field left out stays as it
    was; null clears it; at least one is given."""

    #: An account id, an account's name, "me", or a free-text name (someone
    #: without a phone: "电工老李").
    assignee: int | Annotated[str, Field(min_length=1, max_length=200)] | None = None
    #: A team of the roster: a built-in code (``security``…, or its Chinese
    #: name) or a team the event's roster has.
    team: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    note: Text = ""

    def names_someone(self) -> bool:
        return bool({"assignee", "team"} & self.model_fields_set)


class NoteIn(BaseModel):
    note: Text = ""


class CommentIn(BaseModel):
    text: Annotated[str, Field(min_length=1, max_length=4000)]
    nonce: Annotated[str, Field(min_length=1, max_length=64)] | None = None


# --- views --------------------------------------------------------------------


def plan_json(plan: EmergencyPlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "event_id": plan.event_id,
        "category": plan.category,
        "title": {"zh": plan.title_zh, "en": plan.title_en},
        "steps": {"zh": plan.steps_zh, "en": plan.steps_en},
        "teams": list(plan.teams or ()),
        "updated_at": iso(plan.updated_at),
    }


def photo_url(incident: Incident, photo_id: int) -> str:
    return f"/api/v1/events/{incident.event_id}/incidents/{incident.id}/photos/{photo_id}"


def person_json(account_id: int | None, name: str, roles: Mapping[int, str]) -> dict[str, Any]:
    """Who did something: id, name and role (None for a name without an
    account). Pages show the role where the name is empty."""
    role = roles.get(account_id) if account_id is not None else None
    return {"id": account_id, "name": name, "role": role}


def incident_json(
    incident: Incident,
    plan: EmergencyPlan | None,
    photo_ids: Sequence[int],
    roles: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    roles = roles or {}
    assignee = None
    if incident.assignee_id is not None or incident.assignee_name:
        assignee = person_json(incident.assignee_id, incident.assignee_name, roles)
    return {
        "id": incident.id,
        "event_id": incident.event_id,
        "category": incident.category,
        "severity": incident.severity,
        "title": incident.title,
        "description": incident.description,
        "location": {
            "zone": incident.zone_id,
            "gate": incident.gate_id,
            "text": incident.location_text,
        },
        "equipment_tag": incident.equipment_tag,
        "status": incident.status,
        "status_since": iso(incident.status_since),
        "escalation_level": incident.escalation_level,
        "escalated_at": iso(incident.escalated_at),
        "reporter": person_json(incident.reporter_id, incident.reporter_name, roles),
        "assignee": assignee,
        "team": incident.assignee_team,
        "reports": incident.reports,
        "last_reported_at": iso(incident.last_reported_at),
        "created_at": iso(incident.created_at),
        "acknowledged_at": iso(incident.acknowledged_at),
        "resolved_at": iso(incident.resolved_at),
        "photos": [{"id": p, "url": photo_url(incident, p)} for p in photo_ids],
        "plan": plan_json(plan) if plan is not None else None,
    }


def entry_json(entry: IncidentLogEntry, roles: Mapping[int, str] | None = None) -> dict[str, Any]:
    return {
        "id": entry.id,
        "incident": entry.incident_id,
        "action": entry.action,
        "actor": person_json(entry.actor_id, entry.actor_name, roles or {}),
        "text": entry.text,
        "data": entry.data,
        "at": iso(entry.at),
    }


async def incident_views(
    session: AsyncSession, event_id: int, incidents: Sequence[Incident]
) -> list[dict[str, Any]]:
    """JSON of several incidents, with their plans, photos and people's roles
    in three queries."""
    plans = await plans_by_category(session, event_id)
    photos: dict[int, list[int]] = {i.id: [] for i in incidents}
    if incidents:
        rows = await session.execute(
            select(IncidentPhoto.incident_id, IncidentPhoto.id)
            .where(IncidentPhoto.incident_id.in_(list(photos)))
            .order_by(IncidentPhoto.id)
        )
        for incident_id, photo_id in rows:
            photos[incident_id].append(photo_id)
    roles = await account_roles(
        session, [a for i in incidents for a in (i.reporter_id, i.assignee_id)]
    )
    return [incident_json(i, plans.get(i.category), photos[i.id], roles) for i in incidents]


async def account_roles(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    """The role of each account in ``ids``."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await session.execute(select(Account.id, Account.role).where(Account.id.in_(wanted)))
    return {account_id: role for account_id, role in rows}


async def incident_view(session: AsyncSession, incident: Incident) -> dict[str, Any]:
    [view] = await incident_views(session, incident.event_id, [incident])
    return view


async def plans_by_category(session: AsyncSession, event_id: int) -> dict[str, EmergencyPlan]:
    plans = await session.scalars(select(EmergencyPlan).where(EmergencyPlan.event_id == event_id))
    return {p.category: p for p in plans}


# --- service --------------------------------------------------------------------

#: pg_advisory_xact_lock namespace ("incd") serialising the dedupe decision
#: of one event's reports across processes.
REPORT_LOCK_NAMESPACE = 0x696E6364


@dataclass(frozen=True)
class ReportResult:
    incident: dict[str, Any]
    #: "created" or "linked" (attached to an open incident).
    outcome: str
    repeated: bool

    def answer(self) -> dict[str, Any]:
        return {
            **self.incident,
            "report": {"outcome": self.outcome, "repeated": self.repeated},
        }


def require_category(event: Event, category: str) -> None:
    """Refuse (400 ``unknown_category``) a category the event does not use:
    a report's, a plan's."""
    categories = event_categories(event.options)
    if category not in categories:
        raise InvalidRequest(
            f"Unknown category {category!r}.",
            {"category": category, "categories": list(categories)},
            code="unknown_category",
        )


async def get_incident(
    session: AsyncSession, event_id: int, incident_id: int, *, lock: bool = False
) -> Incident:
    incident = await session.get(
        Incident, incident_id, with_for_update=lock, populate_existing=lock
    )
    if incident is None or incident.event_id != event_id:
        raise NotFound(f"No incident {incident_id}.", {"incident": incident_id})
    return incident


async def _check_place(session: AsyncSession, event_id: int, body: ReportIn) -> None:
    if body.zone is not None:
        zone = await session.get(Zone, body.zone)
        if zone is None or zone.event_id != event_id:
            raise InvalidRequest(
                f"No zone {body.zone} in this event.", {"zone": body.zone}, code="unknown_zone"
            )
    if body.gate is not None:
        gate = await session.get(Gate, body.gate)
        if gate is None or gate.event_id != event_id:
            raise InvalidRequest(
                f"No gate {body.gate} in this event.", {"gate": body.gate}, code="unknown_gate"
            )


def _place(source: ReportIn | Incident) -> Place:
    if isinstance(source, ReportIn):
        return Place(
            source.category, source.zone, source.gate, source.location, source.equipment_tag
        )
    return Place(
        source.category,
        source.zone_id,
        source.gate_id,
        source.location_text,
        source.equipment_tag,
    )


async def _repeated_report(session: AsyncSession, event_id: int, nonce: str) -> ReportResult | None:
    entry = await session.scalar(
        select(IncidentLogEntry).where(
            IncidentLogEntry.event_id == event_id, IncidentLogEntry.nonce == nonce
        )
    )
    if entry is None:
        return None
    if entry.action not in ("reported", "linked_report"):
        raise Conflict("This nonce was used for something else.", code="nonce_reused")
    incident = await get_incident(session, event_id, entry.incident_id)
    outcome = "created" if entry.action == "reported" else "linked"
    return ReportResult(await incident_view(session, incident), outcome, True)


async def report_incident(
    db: Database,
    event_id: int,
    body: ReportIn,
    actor: Principal,
    photo: StoredPhoto | None = None,
    *,
    window: timedelta,
    now: datetime | None = None,
) -> ReportResult:
    """Open an incident, or attach the report to the open one it duplicates.

    Exactly once per nonce: a resent report answers what the first did.
    """
    try:
        return await _report_once(db, event_id, body, actor, photo, window, now or utcnow())
    except IntegrityError:
        async with db.reading() as session:
            found = await _repeated_report(session, event_id, body.nonce)
        if found is None:
            raise
        return found


async def _report_once(
    db: Database,
    event_id: int,
    body: ReportIn,
    actor: Principal,
    photo: StoredPhoto | None,
    window: timedelta,
    now: datetime,
) -> ReportResult:
    async with db.writing() as session:
        event = await get_event(session, event_id)
        require_category(event, body.category)
        await _check_place(session, event_id, body)
        if not db.is_sqlite:
            # Two phones reporting the same projector at the same instant must
            # not both open an incident: the dedupe decision of an event's
            # reports is serialised (reports are human-paced; SQLite's writer
            # lock does the same there).
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:ns, :event)"),
                {"ns": REPORT_LOCK_NAMESPACE, "event": event_id},
            )
        repeated = await _repeated_report(session, event_id, body.nonce)
        if repeated is not None:
            return repeated
        match = None
        if not body.force_new:
            rows = await session.scalars(
                select(Incident).where(
                    Incident.event_id == event_id,
                    Incident.status.in_(ACTIVE),
                    Incident.last_reported_at >= now - window,
                )
            )
            candidates = [OpenIncident(i.id, i.status, _place(i), i.last_reported_at) for i in rows]
            match = duplicate_of(_place(body), candidates, now, window)
        if match is not None:
            incident = await get_incident(session, event_id, match, lock=True)
            entry = _link_report(incident, body, actor, now)
            outcome = "linked"
        else:
            incident = _new_incident(event_id, body, actor, now)
            session.add(incident)
            await session.flush()
            entry = log_entry(
                incident,
                "reported",
                actor,
                now,
                text=body.description,
                data={"title": body.title, "severity": body.severity},
                nonce=body.nonce,
            )
            outcome = "created"
        session.add(entry)
        await session.flush()
        if photo is not None:
            session.add(
                IncidentPhoto(
                    event_id=event_id,
                    incident_id=incident.id,
                    log_id=entry.id,
                    content_type=photo.content_type,
                    width=photo.width,
                    height=photo.height,
                    data=photo.data,
                    created_at=now,
                )
            )
            await session.flush()
        view = await incident_view(session, incident)
        publish(session, event_id, "incidents", _message(entry, view, actor))
    return ReportResult(view, outcome, False)


def log_entry(
    incident: Incident,
    action: str,
    actor: Principal | None,
    at: datetime,
    *,
    text: str = "",
    data: dict[str, Any] | None = None,
    nonce: str | None = None,
) -> IncidentLogEntry:
    """A new line of ``incident``'s log (the caller adds it to the session);
    no ``actor``: the system's own (an escalation)."""
    return IncidentLogEntry(
        event_id=incident.event_id,
        incident_id=incident.id,
        action=action,
        actor_id=None if actor is None else actor.account_id,
        actor_name="" if actor is None else actor.name,
        text=text,
        data={} if data is None else data,
        nonce=nonce,
        at=at,
    )


def _new_incident(event_id: int, body: ReportIn, actor: Principal, now: datetime) -> Incident:
    return Incident(
        event_id=event_id,
        category=body.category,
        severity=body.severity,
        title=body.title,
        description=body.description,
        zone_id=body.zone,
        gate_id=body.gate,
        location_text=body.location,
        equipment_tag=body.equipment_tag,
        status=OPEN,
        status_since=now,
        escalation_level=0,
        reporter_id=actor.account_id,
        reporter_name=actor.name,
        reports=1,
        last_reported_at=now,
        created_at=now,
    )


def _link_report(
    incident: Incident, body: ReportIn, actor: Principal, now: datetime
) -> IncidentLogEntry:
    data: dict[str, Any] = {
        "title": body.title,
        "severity": body.severity,
        "category": body.category,
        "location": {"zone": body.zone, "gate": body.gate, "text": body.location},
        "equipment_tag": body.equipment_tag,
    }
    if SEVERITIES.index(body.severity) < SEVERITIES.index(incident.severity):
        # A later report says it is worse: the incident takes the more urgent
        # severity (and its shorter escalation clock).
        data["severity_raised_from"] = incident.severity
        incident.severity = body.severity
    incident.reports += 1
    incident.last_reported_at = now
    return log_entry(
        incident, "linked_report", actor, now, text=body.description, data=data, nonce=body.nonce
    )


def _message(entry: IncidentLogEntry, view: dict[str, Any], actor: Principal) -> dict[str, Any]:
    return {"action": entry.action, "incident": view, "entry": entry_json(entry, _role(actor))}


def _role(actor: Principal) -> dict[int, str]:
    return {actor.account_id: actor.role}


#: Whose accounts an incident may be assigned to: everyone of the event's
#: staff, door phones too (a door supervisor told of the broken turnstile at
#: their gate reads it and writes on it; ``incident_rules.may_act``).
ASSIGNABLE = (ORGANISER, COMMAND, STAFF, DOOR)


async def _resolve_team(session: AsyncSession, event_id: int, wanted: str) -> str:
    """A team of the roster as stored: a built-in code (its Chinese name read
    as the code) or a team some roster member of the event has."""
    team = normal_team(wanted)
    if team in TEAMS:
        return team
    known = await session.scalar(
        select(StaffMember.id)
        .where(StaffMember.event_id == event_id, StaffMember.team == team)
        .limit(1)
    )
    if known is None:
        raise InvalidRequest(
            f"No team {team!r} on the roster.", {"team": team[:40]}, code="unknown_team"
        )
    return team


async def team_of(session: AsyncSession, event_id: int, account_id: int) -> str | None:
    """The team of the roster member holding the account's phone, if any."""
    team = await session.scalar(
        select(StaffMember.team)
        .join(Account, Account.staff_id == StaffMember.id)
        .where(Account.id == account_id, StaffMember.event_id == event_id)
    )
    return str(team) if team is not None else None


async def _resolve_assignee(
    session: AsyncSession, event_id: int, actor: Principal, wanted: int | str
) -> tuple[int | None, str]:
    if wanted == "me":
        return actor.account_id, actor.name
    if isinstance(wanted, int):
        account = await session.get(Account, wanted)
        if (
            account is None
            or account.revoked_at is not None
            or account.event_id not in (None, event_id)
            or account.role not in ASSIGNABLE
        ):
            raise InvalidRequest(
                f"No staff account {wanted} for this event.",
                {"assignee": wanted},
                code="unknown_assignee",
            )
        return account.id, account.name
    name = wanted.strip()
    accounts = list(
        await session.scalars(
            select(Account).where(
                Account.name == name,
                Account.revoked_at.is_(None),
                Account.role.in_(ASSIGNABLE),
                or_(Account.event_id == event_id, Account.event_id.is_(None)),
            )
        )
    )
    if len(accounts) > 1:
        raise InvalidRequest(
            f"Several accounts are called {name!r}; give the account id.",
            {"name": name, "accounts": [a.id for a in accounts]},
            code="ambiguous_assignee",
        )
    if accounts:
        return accounts[0].id, accounts[0].name
    held = await _phone_of_member(session, event_id, name)
    if held is not None:
        return held, name
    return None, name


async def _phone_of_member(session: AsyncSession, event_id: int, name: str) -> int | None:
    """The live phone of the one roster member called ``name`` (the latest paired,
    when they paired several), so an incident assigned from the roster reaches
    the person's phone; None when no one, or several people, have that name."""
    members = list(
        await session.scalars(
            select(StaffMember.id).where(StaffMember.event_id == event_id, StaffMember.name == name)
        )
    )
    if len(members) != 1:
        return None
    account_id = await session.scalar(
        select(Account.id)
        .where(
            Account.staff_id == members[0],
            Account.revoked_at.is_(None),
            Account.role.in_(ASSIGNABLE),
        )
        .order_by(Account.id.desc())
        .limit(1)
    )
    return int(account_id) if account_id is not None else None


@dataclass(frozen=True)
class ActionResult:
    incident: dict[str, Any]
    entry: dict[str, Any]
    repeated: bool = False


async def act_on_incident(
    db: Database,
    event_id: int,
    incident_id: int,
    action: str,
    actor: Principal,
    *,
    note: str = "",
    assign: AssignIn | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """Acknowledge, assign, resolve or reopen, under the incident's row lock."""
    now = now or utcnow()
    async with db.writing() as session:
        incident = await get_incident(session, event_id, incident_id, lock=True)
        person = (incident.assignee_id, incident.assignee_name)
        team = incident.assignee_team
        if action == ASSIGN:
            assert assign is not None
            if "assignee" in assign.model_fields_set:
                wanted = assign.assignee
                person = (
                    (None, "")
                    if wanted is None
                    else await _resolve_assignee(session, event_id, actor, wanted)
                )
            if "team" in assign.model_fields_set:
                team = (
                    None
                    if assign.team is None
                    else await _resolve_team(session, event_id, assign.team)
                )
        allowed = may_act(
            actor.role,
            action,
            actor_id=actor.account_id,
            assignee_id=incident.assignee_id,
            reporter_id=incident.reporter_id,
            new_assignee_id=person[0] if assign is not None else None,
            sets_team=assign is not None and "team" in assign.model_fields_set,
        )
        if not allowed:
            raise _refusal(actor.role, action)
        after = next_status(incident.status, action)
        if after is None:
            raise Conflict(
                f"An incident that is {incident.status} cannot be {LOGGED[action]}.",
                {"status": incident.status, "action": action},
                code=INVALID_TRANSITION,
            )
        data: dict[str, Any] = {"from": incident.status, "to": after}
        if action == ACK:
            incident.acknowledged_at = now
            if incident.assignee_id is None and not incident.assignee_name:
                # Taking an incident: whoever acknowledges it has it.
                incident.assignee_id, incident.assignee_name = actor.account_id, actor.name
                data["assignee"] = {"id": actor.account_id, "name": actor.name}
        elif action == ASSIGN:
            data["previous"] = {
                "id": incident.assignee_id,
                "name": incident.assignee_name,
                "team": incident.assignee_team,
            }
            incident.assignee_id, incident.assignee_name = person
            incident.assignee_team = team
            data["assignee"] = {"id": person[0], "name": person[1]}
            data["team"] = team
        elif action == RESOLVE:
            incident.resolved_at = now
        elif action == REOPEN:
            incident.resolved_at = None
            incident.acknowledged_at = None
            incident.escalation_level = 0
            incident.escalated_at = None
        if after != incident.status:
            incident.status = after
            incident.status_since = now
        entry = log_entry(incident, LOGGED[action], actor, now, text=note, data=data)
        session.add(entry)
        await session.flush()
        view = await incident_view(session, incident)
        publish(session, event_id, "incidents", _message(entry, view, actor))
    return ActionResult(view, entry_json(entry, _role(actor)))


def _refusal(role: str, action: str) -> Forbidden:
    """Why ``role`` may not take ``action`` here, as a code the pages word."""
    details = {"role": role, "action": action}
    if role == STAFF and action == RESOLVE:
        return Forbidden(
            "Staff resolve incidents assigned to them; take it first.",
            details,
            code="resolve_not_assigned",
        )
    if role == STAFF and action == ASSIGN:
        return Forbidden(
            "Staff may only take an incident nobody has.", details, code="assign_taken"
        )
    return Forbidden(f"The {role} role may not {action} incidents.", details, code="role_may_not")


async def comment_on_incident(
    db: Database,
    event_id: int,
    incident_id: int,
    actor: Principal,
    body: CommentIn,
    *,
    now: datetime | None = None,
) -> ActionResult:
    """Add a comment; with a nonce, a resent comment is stored once."""
    now = now or utcnow()
    try:
        async with db.writing() as session:
            incident = await get_incident(session, event_id, incident_id, lock=True)
            if body.nonce is not None:
                found = await _comment_by_nonce(session, event_id, incident_id, body.nonce)
                if found is not None:
                    return ActionResult(await incident_view(session, incident), found, True)
            entry = log_entry(
                incident, LOGGED[COMMENT], actor, now, text=body.text, nonce=body.nonce
            )
            session.add(entry)
            await session.flush()
            view = await incident_view(session, incident)
            publish(session, event_id, "incidents", _message(entry, view, actor))
        return ActionResult(view, entry_json(entry, _role(actor)))
    except IntegrityError:
        assert body.nonce is not None
        async with db.reading() as session:
            incident = await get_incident(session, event_id, incident_id)
            found = await _comment_by_nonce(session, event_id, incident_id, body.nonce)
            if found is None:
                raise
            return ActionResult(await incident_view(session, incident), found, True)


async def _comment_by_nonce(
    session: AsyncSession, event_id: int, incident_id: int, nonce: str
) -> dict[str, Any] | None:
    entry = await session.scalar(
        select(IncidentLogEntry).where(
            IncidentLogEntry.event_id == event_id, IncidentLogEntry.nonce == nonce
        )
    )
    if entry is None:
        return None
    if entry.incident_id != incident_id or entry.action != LOGGED[COMMENT]:
        raise Conflict("This nonce was used for something else.", code="nonce_reused")
    return entry_json(entry, await account_roles(session, [entry.actor_id]))


async def list_incidents(
    db: Database,
    event_id: int,
    *,
    statuses: Sequence[str] | None = None,
    mine_for: int | None = None,
    category: str | None = None,
    limit: int = 200,
) -> dict[str, Any]:
    """Incidents newest first; ``mine_for`` keeps those assigned to or
    reported by that account, or assigned to its roster member's team
    (named in the answer's ``team``, so a phone tells its own from its team's)."""
    query = select(Incident).where(Incident.event_id == event_id)
    if statuses:
        query = query.where(Incident.status.in_(list(statuses)))
    if category:
        query = query.where(Incident.category == category)
    team = None
    async with db.reading() as session:
        await get_event(session, event_id)
        if mine_for is not None:
            team = await team_of(session, event_id, mine_for)
            query = query.where(
                or_(
                    Incident.assignee_id == mine_for,
                    Incident.reporter_id == mine_for,
                    Incident.assignee_team == team if team is not None else false(),
                )
            )
        query = query.order_by(Incident.id.desc()).limit(limit)
        incidents = list(await session.scalars(query))
        return {"incidents": await incident_views(session, event_id, incidents), "team": team}


async def read_incident(db: Database, event_id: int, incident_id: int) -> dict[str, Any]:
    """One incident with its whole log, and its comments apart."""
    async with db.reading() as session:
        incident = await get_incident(session, event_id, incident_id)
        view = await incident_view(session, incident)
        log = list(
            await session.scalars(
                select(IncidentLogEntry)
                .where(IncidentLogEntry.incident_id == incident.id)
                .order_by(IncidentLogEntry.id)
            )
        )
        roles = await account_roles(session, [e.actor_id for e in log])
        entries = [entry_json(e, roles) for e in log]
    view["log"] = entries
    view["comments"] = [e for e in entries if e["action"] == LOGGED[COMMENT]]
    return view


async def took_part(db: Database, event_id: int, incident_id: int, account_id: int) -> bool:
    """Whether the account reported the incident (or a report linked to it),
    has it assigned (or its roster team has), or wrote in its log: the incidents a door phone sees.
    An incident that is not there counts as theirs (the read then says 404)."""
    async with db.reading() as session:
        incident = await session.scalar(
            select(Incident).where(Incident.id == incident_id, Incident.event_id == event_id)
        )
        if incident is None or account_id in (incident.reporter_id, incident.assignee_id):
            return True
        if incident.assignee_team is not None and incident.assignee_team == await team_of(
            session, event_id, account_id
        ):
            return True
        wrote = await session.scalar(
            select(IncidentLogEntry.id)
            .where(IncidentLogEntry.incident_id == incident_id)
            .where(IncidentLogEntry.actor_id == account_id)
            .limit(1)
        )
    return wrote is not None


async def read_photo(
    db: Database, event_id: int, incident_id: int, photo_id: int | None
) -> IncidentPhoto:
    """A photo of an incident (``photo_id`` None: its first)."""
    query = select(IncidentPhoto).where(
        IncidentPhoto.event_id == event_id, IncidentPhoto.incident_id == incident_id
    )
    if photo_id is not None:
        query = query.where(IncidentPhoto.id == photo_id)
    async with db.reading() as session:
        photo = await session.scalar(query.order_by(IncidentPhoto.id).limit(1))
    if photo is None:
        raise NotFound("No such photo.")
    return photo


def _severity_rank(view: dict[str, Any]) -> tuple[int, str]:
    return SEVERITIES.index(view["severity"]), view["created_at"] or ""


async def incidents_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The unresolved incidents of an event, most urgent first, with their plans."""
    async with db.reading() as session:
        incidents = list(
            await session.scalars(
                select(Incident).where(Incident.event_id == event_id, Incident.status.in_(ACTIVE))
            )
        )
        views = await incident_views(session, event_id, incidents)
    views.sort(key=_severity_rank)
    return {
        "incidents": views,
        "open": sum(1 for v in views if v["status"] == OPEN),
        "acknowledged": sum(1 for v in views if v["status"] == ACKNOWLEDGED),
        "escalated": sum(1 for v in views if v["escalation_level"] > 0),
    }
