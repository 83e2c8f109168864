"""Broadcasts with read receipts, and emergency plans confirmed before the day.

Who a broadcast is for is ``server.features.broadcast_rules.reaches``; this module
gathers the facts it reads (``Reader``: a phone, the roster member holding
it, the zone they stand in) and wraps the rule in the database:

- ``send`` stores the broadcast and its ``broadcasts`` stream message in
  one transaction; the hub gives the message only to the sockets it
  reaches (``realtime.hub``, the topic's own fan-out);
- ``acknowledge`` inserts one row per broadcast and phone (the unique key
  decides, so a phone that sends its acknowledgement twice, or from two
  processes at once, is counted once and gets the first answer back);
- ``receipts`` lists who has and has not acknowledged, by person and by team;
- ``resend`` sends it again to the phones that have not acknowledged.

Plans: the roster members of the teams a plan names (every member when it
names none) are expected to confirm it (``acknowledge_plan``;
``broadcast_rules.count_confirmations`` counts them); a plan changed after a
confirmation needs it again.
"""

from __future__ import annotations

import time
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.outbox import publish
from server.auth import Principal
from server.db import Database, dialect_name
from server.errors import Conflict, Forbidden, InvalidRequest, NotFound
from server.features.broadcast_rules import (
    SCREEN_ROLES,
    Audience,
    Reader,
    ack_times,
    audience_of,
    count_confirmations,
    not_acknowledged,
    plan_expects,
    reaches,
)
from server.features.incidents import plan_json
from server.fields import DbInt, Text
from server.lookup import get_event
from server.models import (
    Account,
    Broadcast,
    BroadcastAck,
    DutyShift,
    EmergencyPlan,
    Gate,
    PlanAck,
    StaffMember,
    Zone,
    utcnow,
)
from server.serialize import iso

TOPIC = "broadcasts"

BroadcastText = Annotated[Text, Field(max_length=2000)]
Team = Annotated[Text, Field(min_length=1, max_length=40)]


class AudienceIn(BaseModel):
    everyone: bool = False
    roles: Annotated[list[Literal["door", "staff"]], Field(max_length=2)] = []
    teams: Annotated[list[Team], Field(max_length=50)] = []
    zones: Annotated[list[DbInt], Field(max_length=500)] = []
    people: Annotated[list[DbInt], Field(max_length=5000)] = []


class BroadcastIn(BaseModel):
    text_zh: BroadcastText = ""
    text_en: BroadcastText = ""
    audience: AudienceIn
    priority: Literal["info", "urgent"] = "info"
    plan_id: DbInt | None = None
    ack_required: bool = True


class AckIn(BaseModel):
    nonce: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    #: When the person tapped it; the phone's clock (offline, earlier than now).
    acked_at: AwareDatetime | None = None


# --- facts -----------------------------------------------------------------------


async def _zones_of_gates(session: AsyncSession, event_id: int) -> dict[int, int]:
    rows = await session.execute(select(Gate.id, Gate.to_zone_id).where(Gate.event_id == event_id))
    return {gate_id: zone_id for gate_id, zone_id in rows}


async def _open_shift_zones(session: AsyncSession, event_id: int) -> dict[int, int | None]:
    rows = await session.execute(
        select(DutyShift.staff_id, DutyShift.zone_id).where(
            DutyShift.event_id == event_id, DutyShift.ended_at.is_(None)
        )
    )
    return {staff_id: zone_id for staff_id, zone_id in rows}


class _Facts:
    """The roster, gates and shifts of an event, read once, as ``Reader`` s."""

    def __init__(
        self,
        members: dict[int, StaffMember],
        gate_zones: dict[int, int],
        shift_zones: dict[int, int | None],
    ) -> None:
        self.members = members
        self.gate_zones = gate_zones
        self.shift_zones = shift_zones

    def zone(self, member: StaffMember | None, gate_id: int | None) -> int | None:
        if member is not None:
            if self.shift_zones.get(member.id) is not None:
                return self.shift_zones[member.id]
            if member.zone_id is not None:
                return member.zone_id
            if member.gate_id is not None:
                return self.gate_zones.get(member.gate_id)
        return self.gate_zones.get(gate_id) if gate_id is not None else None

    def member_reader(self, member: StaffMember) -> Reader:
        return Reader(None, member.role, member.id, member.team, self.zone(member, None))

    def phone_reader(
        self, account_id: int, role: str, staff_id: int | None, gate_id: int | None
    ) -> Reader:
        member = self.members.get(staff_id) if staff_id is not None else None
        if member is None:
            return Reader(account_id, role, None, None, self.zone(None, gate_id))
        return Reader(account_id, member.role, member.id, member.team, self.zone(member, gate_id))


async def _facts(session: AsyncSession, event_id: int) -> _Facts:
    members = await session.scalars(select(StaffMember).where(StaffMember.event_id == event_id))
    return _Facts(
        {m.id: m for m in members},
        await _zones_of_gates(session, event_id),
        await _open_shift_zones(session, event_id),
    )


async def _phones(
    session: AsyncSession, event_id: int
) -> list[tuple[int, str, int | None, int | None]]:
    """(account, role, staff id, gate) of every live phone of the event."""
    rows = await session.execute(
        select(Account.id, Account.role, Account.staff_id, Account.gate_id).where(
            Account.event_id == event_id,
            Account.kind == "device",
            Account.revoked_at.is_(None),
        )
    )
    return [(a, r, s, g) for a, r, s, g in rows]


#: How long a socket's hello may reuse the roster facts of its event: a
#: reconnect storm of thousands of phones reads the roster, gates and shifts
#: once per event and interval, not once per phone. A roster member changed
#: or a shift started or ended forgets them, and the open sockets' facts are
#: read again (``readers_now``, on the ``roster`` bus message: every process
#: hears it); the HTTP list and the acknowledgement always read them afresh.
HELLO_FACTS_SECONDS = 5.0
_hello_facts: weakref.WeakKeyDictionary[Database, dict[int, tuple[float, _Facts]]] = (
    weakref.WeakKeyDictionary()
)


async def reader_of(db: Database, principal: Principal, event_id: int) -> Reader:
    """The facts of a websocket at its hello (see ``HELLO_FACTS_SECONDS``)."""
    if principal.role in SCREEN_ROLES:
        return Reader(principal.account_id, principal.role)
    per_event = _hello_facts.setdefault(db, {})
    now = time.monotonic()
    async with db.reading() as session:
        staff_id = await session.scalar(
            select(Account.staff_id).where(Account.id == principal.account_id)
        )
        kept = per_event.get(event_id)
        if kept is None or now - kept[0] > HELLO_FACTS_SECONDS:
            kept = (now, await _facts(session, event_id))
            per_event[event_id] = kept
    return kept[1].phone_reader(principal.account_id, principal.role, staff_id, principal.gate_id)


async def readers_now(
    db: Database, event_id: int, phones: Sequence[tuple[Principal, int | None]]
) -> list[Reader]:
    """The facts of open sockets (each a phone's principal and its roster
    member) read again from the roster and shifts as they stand now: a
    member moved or a shift started reaches the hub's audience checks at
    once (``realtime.hub``, on a ``roster`` bus message). The hello's kept
    facts of the event are forgotten too, so a socket opened now reads afresh."""
    _hello_facts.get(db, {}).pop(event_id, None)
    async with db.reading() as session:
        facts = await _facts(session, event_id)
    return [facts.phone_reader(p.account_id, p.role, staff_id, p.gate_id) for p, staff_id in phones]


async def _reader_in(session: AsyncSession, principal: Principal, event_id: int) -> Reader:
    staff_id = await session.scalar(
        select(Account.staff_id).where(Account.id == principal.account_id)
    )
    facts = await _facts(session, event_id)
    return facts.phone_reader(principal.account_id, principal.role, staff_id, principal.gate_id)


# --- answers -------------------------------------------------------------------------


def broadcast_json(broadcast: Broadcast, plan: EmergencyPlan | None) -> dict[str, Any]:
    return {
        "id": broadcast.id,
        "event": broadcast.event_id,
        "text": {"zh": broadcast.text_zh, "en": broadcast.text_en},
        "priority": broadcast.priority,
        "audience": broadcast.audience,
        "ack_required": broadcast.ack_required,
        "plan": plan_json(plan) if plan is not None else None,
        "sent_at": iso(broadcast.sent_at),
        "resent_at": iso(broadcast.resent_at),
    }


def _message(kind: str, body: dict[str, Any], audience: Audience) -> dict[str, Any]:
    """A ``broadcasts`` stream message; ``audience`` says which sockets get it
    (``realtime.hub`` reads it; an empty one: the screens only)."""
    return {"kind": kind, **body, "audience": audience.as_json()}


async def _plan(session: AsyncSession, event_id: int, plan_id: int | None) -> EmergencyPlan | None:
    if plan_id is None:
        return None
    plan = await session.get(EmergencyPlan, plan_id)
    if plan is None or plan.event_id != event_id:
        raise InvalidRequest(f"No plan {plan_id}.", {"plan": plan_id}, code="unknown_plan")
    return plan


async def _check_audience(session: AsyncSession, event_id: int, body: AudienceIn) -> Audience:
    audience = Audience(
        everyone=body.everyone,
        roles=frozenset(body.roles),
        teams=frozenset(body.teams),
        zones=frozenset(body.zones),
        people=frozenset(body.people),
    )
    if audience.empty:
        raise InvalidRequest("A broadcast needs an audience.", code="broadcast_needs_audience")
    if audience.zones:
        known = set(
            await session.scalars(
                select(Zone.id).where(Zone.event_id == event_id, Zone.id.in_(audience.zones))
            )
        )
        if unknown := sorted(audience.zones - known):
            raise InvalidRequest("Unknown zones.", {"zones": unknown}, code="unknown_zone")
    if audience.people:
        known = set(
            await session.scalars(
                select(StaffMember.id).where(
                    StaffMember.event_id == event_id, StaffMember.id.in_(audience.people)
                )
            )
        )
        if unknown := sorted(audience.people - known):
            raise InvalidRequest("Unknown people.", {"people": unknown}, code="unknown_person")
    return audience


async def send(
    db: Database, event_id: int, principal: Principal, body: BroadcastIn
) -> dict[str, Any]:
    """Store a broadcast and its stream message (one transaction)."""
    if not (body.text_zh.strip() or body.text_en.strip()):
        raise InvalidRequest("A broadcast needs a text.", code="broadcast_needs_text")
    async with db.writing() as session:
        await get_event(session, event_id)
        audience = await _check_audience(session, event_id, body.audience)
        plan = await _plan(session, event_id, body.plan_id)
        broadcast = Broadcast(
            event_id=event_id,
            text_zh=body.text_zh,
            text_en=body.text_en,
            priority=body.priority,
            audience=audience.as_json(),
            plan_id=body.plan_id,
            ack_required=body.ack_required,
            sent_by=principal.account_id,
            sent_at=utcnow(),
        )
        session.add(broadcast)
        await session.flush()
        answer = broadcast_json(broadcast, plan)
        publish(session, event_id, TOPIC, _message("broadcast", {"broadcast": answer}, audience))
    return answer


async def event_of(db: Database, broadcast_id: int) -> int:
    async with db.reading() as session:
        event_id = await session.scalar(
            select(Broadcast.event_id).where(Broadcast.id == broadcast_id)
        )
    if event_id is None:
        raise NotFound(f"No broadcast {broadcast_id}.")
    return int(event_id)


async def _acks(session: AsyncSession, broadcast_ids: list[int]) -> list[BroadcastAck]:
    if not broadcast_ids:
        return []
    rows = await session.scalars(
        select(BroadcastAck).where(BroadcastAck.broadcast_id.in_(broadcast_ids))
    )
    return list(rows)


class _Expected:
    """Who a broadcast is for: roster members, and phones paired to nobody."""

    def __init__(
        self, facts: _Facts, phones: list[tuple[int, str, int | None, int | None]]
    ) -> None:
        self.facts = facts
        self.members = [facts.member_reader(m) for m in facts.members.values()]
        self.unpaired = [
            facts.phone_reader(a, r, None, g)
            for a, r, s, g in phones
            if s is None or s not in facts.members
        ]
        self.phones = [facts.phone_reader(a, r, s, g) for a, r, s, g in phones]

    def people(self, audience: Audience) -> list[Reader]:
        return [r for r in self.members if reaches(audience, r)]

    def devices(self, audience: Audience) -> list[Reader]:
        return [r for r in self.unpaired if reaches(audience, r)]


async def _expected(session: AsyncSession, event_id: int) -> _Expected:
    return _Expected(await _facts(session, event_id), await _phones(session, event_id))


def _counts(
    audience: Audience, expected: _Expected, acks: Iterable[BroadcastAck]
) -> dict[str, int]:
    people = expected.people(audience)
    devices = expected.devices(audience)
    acked_people = {a.staff_id for a in acks if a.staff_id is not None}
    acked_devices = {a.account_id for a in acks}
    acked = sum(1 for r in people if r.staff_id in acked_people) + sum(
        1 for r in devices if r.account_id in acked_devices
    )
    return {"expected": len(people) + len(devices), "acked": acked}


async def list_for(db: Database, event_id: int, principal: Principal) -> list[dict[str, Any]]:
    """The event's broadcasts, newest first: every one with its counts for a
    screen; those that reach a phone, with whether it has acknowledged, for a phone."""
    async with db.reading() as session:
        await get_event(session, event_id)
        rows = list(
            await session.scalars(
                select(Broadcast)
                .where(Broadcast.event_id == event_id)
                .order_by(Broadcast.id.desc())
                .limit(200)
            )
        )
        plan_ids = {b.plan_id for b in rows if b.plan_id is not None}
        plans = (
            {
                p.id: p
                for p in await session.scalars(
                    select(EmergencyPlan).where(EmergencyPlan.id.in_(plan_ids))
                )
            }
            if plan_ids
            else {}
        )
        acks = await _acks(session, [b.id for b in rows])
        by_broadcast: dict[int, list[BroadcastAck]] = defaultdict(list)
        for ack in acks:
            by_broadcast[ack.broadcast_id].append(ack)
        if principal.role in SCREEN_ROLES:
            expected = await _expected(session, event_id)
            return [
                {
                    **broadcast_json(b, plans.get(b.plan_id or 0)),
                    "receipts": _counts(audience_of(b.audience), expected, by_broadcast[b.id]),
                }
                for b in rows
            ]
        me = await _reader_in(session, principal, event_id)
    return [
        {
            **broadcast_json(b, plans.get(b.plan_id or 0)),
            "acked": any(a.account_id == principal.account_id for a in by_broadcast[b.id]),
        }
        for b in rows
        if reaches(audience_of(b.audience), me)
    ]


async def receipts(db: Database, broadcast_id: int) -> dict[str, Any]:
    """A broadcast with who has and who has not acknowledged, by person and by team."""
    async with db.reading() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise NotFound(f"No broadcast {broadcast_id}.")
        plan = await _plan(session, broadcast.event_id, broadcast.plan_id)
        acks = await _acks(session, [broadcast_id])
        expected = await _expected(session, broadcast.event_id)
    audience = audience_of(broadcast.audience)
    by_person = {a.staff_id: a for a in sorted(acks, key=lambda a: a.acked_at) if a.staff_id}
    by_device = {a.account_id: a for a in acks}
    people = []
    teams: dict[str, Counter[str]] = defaultdict(Counter)
    for reader in expected.people(audience):
        assert reader.staff_id is not None
        member = expected.facts.members[reader.staff_id]
        ack = by_person.get(reader.staff_id)
        people.append(
            {
                "id": member.id,
                "name": member.name,
                "team": member.team,
                "role": member.role,
                "zone": reader.zone_id,
                "acked_at": iso(ack.acked_at) if ack else None,
            }
        )
        teams[member.team]["expected"] += 1
        teams[member.team]["acked"] += 1 if ack else 0
    devices = [
        {
            "account": r.account_id,
            "role": r.role,
            "zone": r.zone_id,
            "acked_at": iso(by_device[r.account_id].acked_at)
            if r.account_id in by_device
            else None,
        }
        for r in expected.devices(audience)
    ]
    people.sort(key=lambda p: (p["acked_at"] is not None, p["team"], p["name"]))
    acked = sum(1 for p in people if p["acked_at"]) + sum(1 for d in devices if d["acked_at"])
    return {
        **broadcast_json(broadcast, plan),
        "receipts": {
            "expected": len(people) + len(devices),
            "acked": acked,
            "people": people,
            "devices": devices,
            "teams": [
                {"team": team, "expected": c["expected"], "acked": c["acked"]}
                for team, c in sorted(teams.items())
            ],
        },
    }


def _insert_for(session: AsyncSession) -> Any:
    return pg_insert if dialect_name(session) == "postgresql" else sqlite_insert


async def acknowledge(
    db: Database, broadcast_id: int, principal: Principal, body: AckIn
) -> dict[str, Any]:
    """Record that the caller's phone read the broadcast; the first answer
    again when it says so twice (same nonce or not: one row per phone)."""
    now = utcnow()
    acked_at = min(body.acked_at, now) if body.acked_at is not None else now
    async with db.writing() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise NotFound(f"No broadcast {broadcast_id}.")
        me = await _reader_in(session, principal, broadcast.event_id)
        if not reaches(audience_of(broadcast.audience), me):
            raise Forbidden("This broadcast is not for this phone.", code="not_in_audience")
        insert = _insert_for(session)
        inserted = await session.execute(
            insert(BroadcastAck)
            .values(
                broadcast_id=broadcast_id,
                event_id=broadcast.event_id,
                account_id=principal.account_id,
                staff_id=me.staff_id,
                nonce=body.nonce,
                acked_at=max(acked_at, broadcast.sent_at),
                received_at=now,
            )
            .on_conflict_do_nothing(index_elements=["broadcast_id", "account_id"])
            .returning(BroadcastAck.id)
        )
        first = inserted.scalar() is not None
        ack = await session.scalar(
            select(BroadcastAck).where(
                BroadcastAck.broadcast_id == broadcast_id,
                BroadcastAck.account_id == principal.account_id,
            )
        )
        assert ack is not None
        answer = {
            "broadcast": broadcast_id,
            "account": ack.account_id,
            "staff": ack.staff_id,
            "nonce": ack.nonce,
            "acked_at": iso(ack.acked_at),
            "first": first,
        }
        if first:
            publish(
                session, broadcast.event_id, TOPIC, _message("ack", {"ack": answer}, Audience())
            )
    return answer


async def resend(db: Database, broadcast_id: int) -> dict[str, Any]:
    """Send the broadcast again, to the phones of its audience that have not acknowledged."""
    async with db.writing() as session:
        broadcast = await session.get(Broadcast, broadcast_id, with_for_update=True)
        if broadcast is None:
            raise NotFound(f"No broadcast {broadcast_id}.")
        if not broadcast.ack_required:
            raise Conflict("This broadcast asks for no acknowledgement.", code="no_ack_asked")
        plan = await _plan(session, broadcast.event_id, broadcast.plan_id)
        acked = set(
            await session.scalars(
                select(BroadcastAck.account_id).where(BroadcastAck.broadcast_id == broadcast_id)
            )
        )
        expected = await _expected(session, broadcast.event_id)
        audience = not_acknowledged(audience_of(broadcast.audience), expected.phones, acked)
        broadcast.resent_at = utcnow()
        answer = broadcast_json(broadcast, plan)
        publish(
            session, broadcast.event_id, TOPIC, _message("resend", {"broadcast": answer}, audience)
        )
    return {**answer, "resent_to": len(audience.devices)}


async def broadcasts_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The ``broadcasts`` topic's snapshot: nothing but a mark.

    Each client reads its own list (``GET …/broadcasts`` answers a phone only
    what reaches it, with its own receipt): a snapshot is encoded once for
    every socket, and what it may hold differs from phone to phone.
    """
    async with db.reading() as session:
        latest = await session.scalar(
            select(func.max(Broadcast.id)).where(Broadcast.event_id == event_id)
        )
    return {"latest": latest}


# --- plans ---------------------------------------------------------------------------


async def plan_event(db: Database, plan_id: int) -> int:
    async with db.reading() as session:
        event_id = await session.scalar(
            select(EmergencyPlan.event_id).where(EmergencyPlan.id == plan_id)
        )
    if event_id is None:
        raise NotFound(f"No plan {plan_id}.")
    return int(event_id)


async def acknowledge_plan(db: Database, plan_id: int, principal: Principal) -> dict[str, Any]:
    """The roster member holding this phone confirms they have read the plan."""
    now = utcnow()
    async with db.writing() as session:
        plan = await session.get(EmergencyPlan, plan_id)
        if plan is None:
            raise NotFound(f"No plan {plan_id}.")
        staff_id = await session.scalar(
            select(Account.staff_id).where(Account.id == principal.account_id)
        )
        member = await session.get(StaffMember, staff_id) if staff_id is not None else None
        if member is None or member.event_id != plan.event_id:
            raise Conflict("This token is not a roster member's phone.", code="not_a_roster_phone")
        existing = await session.scalar(
            select(PlanAck).where(PlanAck.plan_id == plan_id, PlanAck.staff_id == member.id)
        )
        if existing is None:
            await session.execute(
                _insert_for(session)(PlanAck)
                .values(
                    plan_id=plan_id,
                    event_id=plan.event_id,
                    staff_id=member.id,
                    account_id=principal.account_id,
                    acked_at=now,
                )
                .on_conflict_do_nothing(index_elements=["plan_id", "staff_id"])
            )
        elif existing.acked_at < plan.updated_at:
            existing.acked_at = now  # confirmed again after a change
            existing.account_id = principal.account_id
    return {"plan": plan_id, "staff": member.id, "confirmed": True}


def _confirmed(acked_at: datetime, updated_at: datetime) -> bool:
    return acked_at >= updated_at


async def _plan_teams(
    session: AsyncSession, event_id: int
) -> dict[int, tuple[datetime, list[str]]]:
    """Each plan of the event: when it last changed, the teams it names."""
    rows = await session.scalars(select(EmergencyPlan).where(EmergencyPlan.event_id == event_id))
    return {p.id: (p.updated_at, list(p.teams or ())) for p in rows}


async def plan_readiness(
    session: AsyncSession, event_id: int, principal: Principal
) -> tuple[dict[str, Any], set[int], set[int]]:
    """(readiness: plans confirmed / expected in all, by team and by plan; the
    caller's confirmed plans; the plans expected of the caller's roster member)."""
    plans = await _plan_teams(session, event_id)
    members = {
        m.id: m.team
        for m in await session.scalars(select(StaffMember).where(StaffMember.event_id == event_id))
    }
    rows = await session.execute(
        select(PlanAck.plan_id, PlanAck.staff_id, PlanAck.acked_at).where(
            PlanAck.event_id == event_id
        )
    )
    confirmed = {
        (plan_id, staff_id)
        for plan_id, staff_id, acked_at in rows
        if plan_id in plans and staff_id in members and _confirmed(acked_at, plans[plan_id][0])
    }
    readiness = count_confirmations({p: t for p, (_, t) in plans.items()}, members, confirmed)
    staff_id = await session.scalar(
        select(Account.staff_id).where(Account.id == principal.account_id)
    )
    if staff_id not in members:
        return readiness, set(), set()
    mine = {p for p, s in confirmed if s == staff_id}
    expected = {p for p, (_, t) in plans.items() if plan_expects(t, members[staff_id])}
    return readiness, mine, expected


# --- the review ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    """A broadcast's confirmations: confirmed / expected, and the seconds from
    sending to each confirmation."""

    expected: int
    acked: int
    seconds: list[float]


async def broadcast_figures(
    session: AsyncSession, event_id: int, *, asked_only: bool
) -> list[tuple[Broadcast, Figures]]:
    """Every broadcast of the event, oldest first (``asked_only``: those that
    asked for a confirmation), with its figures: the review and the export."""
    query = select(Broadcast).where(Broadcast.event_id == event_id)
    if asked_only:
        query = query.where(Broadcast.ack_required.is_(True))
    rows = list(await session.scalars(query.order_by(Broadcast.id)))
    acks = await _acks(session, [b.id for b in rows])
    expected = await _expected(session, event_id)
    by_broadcast: dict[int, list[BroadcastAck]] = defaultdict(list)
    for ack in acks:
        by_broadcast[ack.broadcast_id].append(ack)
    figures = []
    for b in rows:
        counts = _counts(audience_of(b.audience), expected, by_broadcast[b.id])
        seconds = [(a.acked_at - b.sent_at).total_seconds() for a in by_broadcast[b.id]]
        figures.append((b, Figures(counts["expected"], counts["acked"], seconds)))
    return figures


async def broadcasts_review(
    session: AsyncSession, event_id: int, doors_open: datetime
) -> dict[str, Any]:
    """The post-event report's broadcasts and plans: for each broadcast that asked
    for a confirmation, confirmed / expected and the seconds from sending to each
    confirmation (median, slowest); over all of them; and the plans' readiness at
    doors-open (confirmations made before the event started, of the plans as they
    stood). Figures only: no text, no names (it reads the same after the shred)."""
    every: list[float] = []
    listed = []
    for b, figures in await broadcast_figures(session, event_id, asked_only=True):
        every += figures.seconds
        listed.append(
            {
                "id": b.id,
                "priority": b.priority,
                "sent_at": iso(b.sent_at),
                "expected": figures.expected,
                "acked": figures.acked,
                **ack_times(figures.seconds),
            }
        )
    plans = await _plan_teams(session, event_id)
    members = {
        m_id: team
        for m_id, team in await session.execute(
            select(StaffMember.id, StaffMember.team).where(StaffMember.event_id == event_id)
        )
    }
    before = await session.execute(
        select(PlanAck.plan_id, PlanAck.staff_id, PlanAck.acked_at).where(
            PlanAck.event_id == event_id, PlanAck.acked_at <= doors_open
        )
    )
    ready = {
        (p, s) for p, s, at in before if p in plans and s in members and _confirmed(at, plans[p][0])
    }
    at_doors_open = count_confirmations({p: t for p, (_, t) in plans.items()}, members, ready)
    return {
        "broadcasts": listed,
        "ack_times": ack_times(every),
        "plans_at_doors_open": {
            "confirmed": at_doors_open["confirmed"],
            "expected": at_doors_open["expected"],
        },
    }
