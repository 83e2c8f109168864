"""Evacuation roll-call: assembly points, the roll frozen at the alarm, accounts merged once.

The rules are in ``server/roll_call.py``; this module reads and writes the
rows around them.

- **Start** freezes the roll in one transaction: the last accepted scan of
  every ticket at or before the start instant, kept when it left the holder
  inside a cleared zone (one INSERT … SELECT over a windowed read of the
  scan log, computed in the database), plus the staff on duty there
  (``staff_on_duty``). An event has at most one evacuation
  running.
- **Late offline scans**: a door that was offline when the alarm sounded
  syncs later; ``catch_up`` reads the scans received since it last looked
  whose scan time is before the start, and adds or marks the people they
  prove inside or gone. It runs before every read of an evacuation, on any
  process; the roll's unique keys make two of them at once harmless.
- **Accounts**: each is written once per nonce (the unique key answers a
  resend with the first answer) and merged into its person's row under that
  row's lock, so 40 phones accounting the same person at once leave the
  earliest time and place and the latest status, and the person counts once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import case, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from server import roll_call, staff
from server.auth import Principal
from server.db import Database, dialect_name
from server.errors import Conflict, InvalidRequest, NotFound
from server.fields import DbInt, Text, UtcDatetime
from server.lookup import get_event
from server.models import (
    Evacuation,
    EvacuationAccount,
    EvacuationPerson,
    Gate,
    MusterPoint,
    Scan,
    StaffMember,
    Ticket,
    Zone,
    utcnow,
)
from server.roll_call import Accounting, LastScan
from server.serialize import iso

#: Late offline scans are looked for in the scans received since the last
#: look, less this margin (a transaction that took its received_at earlier
#: may commit a little later).
LATE_SCAN_MARGIN = timedelta(seconds=30)
#: The last look is written down at most this often (not at every read).
LATE_SCAN_STEP = timedelta(seconds=5)
#: How far ahead of the server's clock a phone's account time is believed.
CLOCK_SKEW = timedelta(minutes=2)
#: Arrivals per minute: how many minutes each point's list keeps.
ARRIVAL_MINUTES = 30

# --- request bodies ---------------------------------------------------------

Name = Annotated[Text, Field(min_length=1, max_length=200)]


class MusterPointIn(BaseModel):
    name: Name
    zones: Annotated[list[DbInt], Field(max_length=500)] = []
    map_note: Annotated[Text, Field(max_length=500)] = ""


class EvacuationIn(BaseModel):
    kind: Literal["live", "drill"]
    #: Zone ids to clear; None or absent: every zone.
    zones: Annotated[list[DbInt], Field(min_length=1, max_length=500)] | None = None
    message: Annotated[Text, Field(max_length=1000)] = ""
    plan: Annotated[Text, Field(max_length=20000)] = ""


class AccountIn(BaseModel):
    """One person accounted at a point: by the QR on their badge or ticket,
    by their ticket or roll entry (found by name), or by name alone (found)."""

    nonce: Annotated[Text, Field(min_length=1, max_length=64)]
    status: Literal["safe", "left_earlier", "needs_help"] = "safe"
    secret: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    ticket: DbInt | None = None
    person: DbInt | None = None
    #: For someone with no ticket and not on the roll (a walk-in): added as found.
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    point: DbInt | None = None
    occurred_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _one_way_to_name_them(self) -> AccountIn:
        given = [x for x in (self.secret, self.ticket, self.person) if x is not None]
        if len(given) > 1:
            raise ValueError("give one of secret, ticket and person")
        if not given and self.name is None:
            raise ValueError("give secret, ticket, person or name")
        return self


class AccountsIn(BaseModel):
    accounts: Annotated[list[AccountIn], Field(min_length=1, max_length=500)]


# --- assembly points --------------------------------------------------------


def point_json(point: MusterPoint) -> dict[str, Any]:
    return {
        "id": point.id,
        "event_id": point.event_id,
        "name": point.name,
        "zones": list(point.zone_ids or []),
        "map_note": point.map_note,
        "created_at": iso(point.created_at),
    }


async def _check_zones(session: AsyncSession, event_id: int, zone_ids: list[int]) -> None:
    if not zone_ids:
        return
    found = set(
        await session.scalars(
            select(Zone.id).where(Zone.event_id == event_id, Zone.id.in_(set(zone_ids)))
        )
    )
    unknown = sorted(set(zone_ids) - found)
    if unknown:
        raise InvalidRequest("Unknown zone.", {"zones": unknown}, code="unknown_zone")


async def create_point(db: Database, event_id: int, body: MusterPointIn) -> dict[str, Any]:
    async with db.writing() as session:
        await get_event(session, event_id)
        await _check_zones(session, event_id, body.zones)
        point = MusterPoint(
            event_id=event_id,
            name=body.name,
            zone_ids=sorted(set(body.zones)),
            map_note=body.map_note,
        )
        session.add(point)
        await session.flush()
        return point_json(point)


async def list_points(db: Database, event_id: int) -> list[dict[str, Any]]:
    async with db.reading() as session:
        await get_event(session, event_id)
        rows = await session.scalars(
            select(MusterPoint).where(MusterPoint.event_id == event_id).order_by(MusterPoint.id)
        )
        return [point_json(p) for p in rows]


# --- the roll ----------------------------------------------------------------


@dataclass(frozen=True)
class StaffOnDuty:
    staff_id: int
    name: str
    #: None: a shift that named no zone (kept only when every zone is cleared).
    zone_id: int | None


async def staff_on_duty(
    session: AsyncSession, event_id: int, zones: frozenset[int] | None, instant: datetime
) -> list[StaffOnDuty]:
    """The roster members on duty in the cleared zones at the start
    (``roster_rules.on_duty_in`` over the event's shifts)."""
    return [
        StaffOnDuty(staff_id, name, zone_id)
        for staff_id, name, zone_id in await staff.on_duty(session, event_id, zones, instant)
    ]


def _last_scans_query(event_id: int, started_at: datetime, tickets: list[int] | None) -> Any:
    """Each ticket's last accepted scan at or before ``started_at`` (one windowed read)."""
    rank = (
        func.row_number()
        .over(partition_by=Scan.ticket_id, order_by=(Scan.scanned_at.desc(), Scan.id.desc()))
        .label("rank")
    )
    where = [
        Scan.event_id == event_id,
        Scan.status == "ok",
        Scan.annulled_at.is_(None),
        Scan.ticket_id.is_not(None),
        Scan.scanned_at <= started_at,
    ]
    if tickets is not None:
        where.append(Scan.ticket_id.in_(tickets))
    inner = (
        select(
            Scan.ticket_id,
            Scan.to_zone_id,
            Scan.gate_id,
            Scan.scanned_at,
            Scan.received_at,
            rank,
        )
        .where(*where)
        .subquery()
    )
    return select(
        inner.c.ticket_id,
        inner.c.to_zone_id,
        inner.c.gate_id,
        inner.c.scanned_at,
        inner.c.received_at,
        Ticket.holder_name,
    ).where(inner.c.rank == 1, Ticket.id == inner.c.ticket_id)


async def _last_scans(
    session: AsyncSession, event_id: int, started_at: datetime, tickets: list[int] | None = None
) -> tuple[list[LastScan], dict[int, str]]:
    rows = (await session.execute(_last_scans_query(event_id, started_at, tickets))).all()
    scans = [LastScan(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    return scans, {r[0]: r[5] for r in rows}


def _roll_insert(evacuation: Evacuation) -> Any:
    """The roll frozen as one INSERT … SELECT, computed in the database from the scan log.

    The same rule as ``roll_call.freeze_roll`` (its reference; a test holds
    them equal on random scan logs): each ticket's last accepted scan at or
    before the start, kept when it left the holder inside a cleared zone,
    reason ``offline_scan`` when that scan arrived after the start. 20,000
    rows written one by one through SQLAlchemy took seconds; this is one
    statement on both databases.
    """
    started_at = evacuation.started_at
    at = EvacuationPerson.__table__.c.added_at.type
    last = _last_scans_query(evacuation.event_id, started_at, None).subquery()
    where = [last.c.to_zone_id.is_not(None)]
    if evacuation.zone_ids is not None:
        where.append(last.c.to_zone_id.in_(sorted(evacuation.zone_ids)))
    rows = select(
        literal(evacuation.id),
        last.c.ticket_id,
        last.c.holder_name,
        last.c.to_zone_id,
        last.c.gate_id,
        last.c.scanned_at,
        case(
            (last.c.received_at > literal(started_at, at), roll_call.OFFLINE_SCAN),
            else_=roll_call.INSIDE,
        ),
        literal(started_at, at),
        literal(roll_call.MISSING),
    ).where(*where)
    return insert(EvacuationPerson).from_select(
        [
            "evacuation_id",
            "ticket_id",
            "name",
            "zone_id",
            "last_gate_id",
            "last_seen_at",
            "reason",
            "added_at",
            "status",
        ],
        rows,
    )


def _zones_of(evacuation: Evacuation) -> frozenset[int] | None:
    return None if evacuation.zone_ids is None else frozenset(evacuation.zone_ids)


def _insert_ignoring(session: AsyncSession) -> Any:
    return pg_insert if dialect_name(session) == "postgresql" else sqlite_insert


async def _add_people(session: AsyncSession, rows: list[dict[str, Any]], key: str) -> None:
    """Insert roll rows; one already there (another process added it) is left alone."""
    if not rows:
        return
    insert = _insert_ignoring(session)
    for chunk in range(0, len(rows), 2000):
        statement = insert(EvacuationPerson).on_conflict_do_nothing(
            index_elements=["evacuation_id", key]
        )
        await session.execute(statement, rows[chunk : chunk + 2000])


def _person_row(evacuation_id: int, now: datetime, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "evacuation_id": evacuation_id,
        "ticket_id": None,
        "staff_id": None,
        "name": "",
        "zone_id": None,
        "last_gate_id": None,
        "last_seen_at": None,
        "added_at": now,
        "status": roll_call.MISSING,
        "accounted_at": None,
        "point_id": None,
        "status_at": None,
        "recorded_at": None,
    }
    row.update(values)
    return row


def _seen_row(
    evacuation_id: int,
    now: datetime,
    ticket_id: int,
    zone_id: int | None,
    gate_id: int | None,
    seen_at: datetime,
    names: dict[int, str],
) -> dict[str, Any]:
    """A roll row for a ticket the scan log saw inside (the reason is the caller's)."""
    return _person_row(
        evacuation_id,
        now,
        ticket_id=ticket_id,
        name=names.get(ticket_id, ""),
        zone_id=zone_id,
        last_gate_id=gate_id,
        last_seen_at=seen_at,
    )


async def start(
    db: Database, event_id: int, body: EvacuationIn, principal: Principal
) -> dict[str, Any]:
    """Start an evacuation (or a drill) and freeze its roll at this instant."""
    async with db.writing() as session:
        await get_event(session, event_id)
        if body.zones is not None:
            await _check_zones(session, event_id, body.zones)
        if dialect_name(session) == "postgresql":
            # Two "start" pressed at once on two processes: one evacuation.
            await session.execute(
                select(func.pg_advisory_xact_lock(0x45564143, event_id))  # "EVAC"
            )
        running = await session.scalar(
            select(Evacuation.id).where(
                Evacuation.event_id == event_id, Evacuation.ended_at.is_(None)
            )
        )
        if running is not None:
            raise Conflict(
                "An evacuation is already running.",
                {"evacuation": running},
                code="evacuation_running",
            )
        now = utcnow()
        zones = None if body.zones is None else sorted(set(body.zones))
        evacuation = Evacuation(
            event_id=event_id,
            kind=body.kind,
            zone_ids=zones,
            message=body.message,
            plan=body.plan,
            started_at=now,
            started_by=principal.account_id,
            scans_checked_at=now,
        )
        session.add(evacuation)
        await session.flush()
        await session.execute(_roll_insert(evacuation))
        on_duty = await staff_on_duty(session, event_id, _zones_of(evacuation), now)
        await _add_people(
            session,
            [
                _person_row(
                    evacuation.id,
                    now,
                    staff_id=s.staff_id,
                    name=s.name,
                    zone_id=s.zone_id,
                    reason=roll_call.ON_DUTY,
                )
                for s in on_duty
            ],
            "staff_id",
        )
        return evacuation_json(evacuation)


async def catch_up(db: Database, evacuation_id: int) -> bool:
    """Add (or mark gone) the people that offline scans synced since the start prove.

    True when the roll changed.
    """
    async with db.writing() as session:
        evacuation = await session.get(Evacuation, evacuation_id)
        if evacuation is None or evacuation.ended_at is not None:
            return False
        since = max(evacuation.started_at, evacuation.scans_checked_at - LATE_SCAN_MARGIN)
        late = list(
            await session.scalars(
                select(Scan.ticket_id)
                .where(
                    Scan.event_id == evacuation.event_id,
                    Scan.received_at > since,
                    Scan.scanned_at <= evacuation.started_at,
                    Scan.status == "ok",
                    Scan.ticket_id.is_not(None),
                )
                .distinct()
            )
        )
        now = utcnow()
        if now - evacuation.scans_checked_at >= LATE_SCAN_STEP:
            await session.execute(
                update(Evacuation)
                .where(Evacuation.id == evacuation.id, Evacuation.scans_checked_at < now)
                .values(scans_checked_at=now)
            )
        if not late:
            return False
        return await _apply_late(session, evacuation, [t for t in late if t is not None], now)


async def _apply_late(
    session: AsyncSession, evacuation: Evacuation, tickets: list[int], now: datetime
) -> bool:
    scans, names = await _last_scans(session, evacuation.event_id, evacuation.started_at, tickets)
    on_roll = {
        ticket_id: (person_id, status)
        for ticket_id, person_id, status in await session.execute(
            select(EvacuationPerson.ticket_id, EvacuationPerson.id, EvacuationPerson.status).where(
                EvacuationPerson.evacuation_id == evacuation.id,
                EvacuationPerson.ticket_id.in_(tickets),
            )
        )
    }
    zones = _zones_of(evacuation)
    joins: list[dict[str, Any]] = []
    changed = False
    for scan in scans:
        change = roll_call.late_change(scan, scan.ticket_id in on_roll, zones)
        if change == "join":
            row = _seen_row(
                evacuation.id,
                now,
                scan.ticket_id,
                scan.zone_id,
                scan.gate_id,
                scan.scanned_at,
                names,
            )
            joins.append(row | {"reason": roll_call.roll_reason(scan, evacuation.started_at)})
        elif change == "left" and on_roll[scan.ticket_id][1] == roll_call.MISSING:
            person_id = on_roll[scan.ticket_id][0]
            await session.execute(
                update(EvacuationPerson)
                .where(
                    EvacuationPerson.id == person_id,
                    EvacuationPerson.status == roll_call.MISSING,
                )
                .values(
                    status=roll_call.LEFT_EARLIER,
                    status_at=scan.scanned_at,
                    accounted_at=scan.scanned_at,
                    recorded_at=now,
                    last_gate_id=scan.gate_id,
                    last_seen_at=scan.scanned_at,
                    reason=roll_call.OFFLINE_EXIT,
                )
            )
            changed = True
    await _add_people(session, joins, "ticket_id")
    return changed or bool(joins)


# --- accounts -----------------------------------------------------------------


@dataclass
class AccountsResult:
    results: list[dict[str, Any]]
    changed: bool


def _refused(nonce: str, reason: str) -> dict[str, Any]:
    return {"nonce": nonce, "status": "error", "reason": reason, "person": None}


async def read_person_for_update(session: AsyncSession, person_id: int) -> EvacuationPerson | None:
    """The person's row, locked until the transaction ends (the merge's guard)."""
    person: EvacuationPerson | None = await session.scalar(
        select(EvacuationPerson)
        .where(EvacuationPerson.id == person_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return person


async def _find_person(
    session: AsyncSession, evacuation: Evacuation, item: AccountIn, now: datetime
) -> tuple[int | None, str | None]:
    """(person id, None) or (None, refusal reason); someone off the roll is added as found."""
    if item.person is not None:
        found = await session.scalar(
            select(EvacuationPerson.id).where(
                EvacuationPerson.id == item.person,
                EvacuationPerson.evacuation_id == evacuation.id,
            )
        )
        return (found, None) if found is not None else (None, "unknown_person")
    ticket: Ticket | None = None
    if item.secret is not None:
        ticket = await session.scalar(
            select(Ticket).where(
                Ticket.secret == item.secret.strip().upper(),
                Ticket.event_id == evacuation.event_id,
            )
        )
        if ticket is None:
            return None, "invalid"
    elif item.ticket is not None:
        ticket = await session.get(Ticket, item.ticket)
        if ticket is None or ticket.event_id != evacuation.event_id:
            return None, "unknown_ticket"
    if ticket is None:  # a name alone: someone with no ticket, found at a point
        person = EvacuationPerson(
            **_person_row(evacuation.id, now, name=item.name or "", reason=roll_call.FOUND)
        )
        session.add(person)
        await session.flush()
        return person.id, None
    by_ticket = select(EvacuationPerson.id).where(
        EvacuationPerson.evacuation_id == evacuation.id, EvacuationPerson.ticket_id == ticket.id
    )
    found = await session.scalar(by_ticket)
    if found is None:
        await _add_people(
            session,
            [
                _person_row(
                    evacuation.id,
                    now,
                    ticket_id=ticket.id,
                    name=ticket.holder_name,
                    reason=roll_call.FOUND,
                )
            ],
            "ticket_id",
        )
        found = await session.scalar(by_ticket)
    return found, None


def person_json(person: EvacuationPerson) -> dict[str, Any]:
    return {
        "id": person.id,
        "ticket_id": person.ticket_id,
        "staff_id": person.staff_id,
        "name": person.name,
        "zone": person.zone_id,
        "reason": person.reason,
        "status": person.status,
        "accounted_at": iso(person.accounted_at),
        "point": person.point_id,
    }


async def _account_one(
    session: AsyncSession,
    evacuation: Evacuation,
    item: AccountIn,
    principal: Principal,
    points: set[int],
) -> tuple[dict[str, Any], bool]:
    """(answer, changed) for one account, inside the caller's transaction."""
    insert = _insert_ignoring(session)
    existing = await session.scalar(
        select(EvacuationAccount.response).where(
            EvacuationAccount.nonce == item.nonce,
            EvacuationAccount.evacuation_id == evacuation.id,
        )
    )
    if existing is not None:
        return {**existing, "repeated": True}, False
    if item.point is not None and item.point not in points:
        return _refused(item.nonce, "unknown_point"), False
    now = utcnow()
    # The phone's clock says when; bounded to the evacuation and a little
    # skew, so a phone set wrong cannot bend the report's times.
    at = min(max(item.occurred_at or now, evacuation.started_at), now + CLOCK_SKEW)
    person_id, refusal = await _find_person(session, evacuation, item, now)
    if person_id is None:
        return _refused(item.nonce, refusal or "unknown_person"), False
    # The nonce first: of two requests with one nonce, the second finds the
    # row (or waits for the first's transaction) and merges nothing.
    claimed = await session.scalar(
        insert(EvacuationAccount)
        .values(
            evacuation_id=evacuation.id,
            nonce=item.nonce,
            person_id=person_id,
            status=item.status,
            point_id=item.point,
            device_id=principal.account_id,
            occurred_at=at,
            received_at=now,
            response={},
        )
        .on_conflict_do_nothing(index_elements=["nonce", "evacuation_id"])
        .returning(EvacuationAccount.id)
    )
    if claimed is None:
        first = await session.scalar(
            select(EvacuationAccount.response).where(
                EvacuationAccount.nonce == item.nonce,
                EvacuationAccount.evacuation_id == evacuation.id,
            )
        )
        return {**(first or {}), "repeated": True}, False
    person = await read_person_for_update(session, person_id)
    assert person is not None
    before = Accounting(person.status, person.accounted_at, person.point_id, person.status_at)
    after = roll_call.merge_account(before, item.status, at, item.point)
    first_time = before.first_at is None
    if after != before:
        person.status = after.status
        person.accounted_at = after.first_at
        person.point_id = after.point_id
        person.status_at = after.status_at
        if person.recorded_at is None:
            person.recorded_at = now
        await session.flush()
    answer = {
        "nonce": item.nonce,
        "status": "ok",
        "reason": None,
        "first": first_time,
        "person": person_json(person),
    }
    await session.execute(
        update(EvacuationAccount).where(EvacuationAccount.id == claimed).values(response=answer)
    )
    return answer, after != before


def _lock_order(item: AccountIn) -> tuple[int, str]:
    """Batches take their people's locks in one order, so two phones' batches
    do not deadlock (mixed kinds of keys may; then the batch goes one by one)."""
    if item.person is not None:
        return 0, f"{item.person:020d}"
    if item.ticket is not None:
        return 1, f"{item.ticket:020d}"
    return 2, item.secret or item.name or ""


async def _account_all(
    db: Database,
    evacuation_id: int,
    items: list[AccountIn],
    principal: Principal,
    points: set[int],
) -> tuple[list[dict[str, Any]], bool]:
    """Every item in one transaction (all or nothing)."""
    answers: list[dict[str, Any]] = []
    changed = False
    async with db.writing() as session:
        evacuation = await session.get(Evacuation, evacuation_id)
        assert evacuation is not None
        for item in items:
            if evacuation.ended_at is not None:
                answers.append(_refused(item.nonce, "evacuation_ended"))
                continue
            answer, item_changed = await _account_one(session, evacuation, item, principal, points)
            answers.append(answer)
            changed = changed or item_changed
    return answers, changed


async def record_accounts(
    db: Database, evacuation_id: int, event_id: int, items: list[AccountIn], principal: Principal
) -> AccountsResult:
    """Merge accounts into the roll, each once per nonce; one bad item harms no other.

    A batch is one transaction, its people locked in one order (a transaction
    per account cost ~4x the time); if the batch fails as a whole (a deadlock
    with another phone's batch, a lost connection), its accounts are retried
    one by one, each in its own transaction, so only a culprit fails.
    """
    async with db.reading() as session:
        evacuation = await evacuation_in(session, evacuation_id, event_id)
        points = set(
            await session.scalars(
                select(MusterPoint.id).where(MusterPoint.event_id == evacuation.event_id)
            )
        )
    order = sorted(range(len(items)), key=lambda i: _lock_order(items[i]))
    try:
        answers, changed = await _account_all(
            db, evacuation_id, [items[i] for i in order], principal, points
        )
    except DBAPIError:
        if len(items) == 1:
            raise
        answers, changed = [], False
        for i in order:
            one, one_changed = await _account_all(db, evacuation_id, [items[i]], principal, points)
            answers.extend(one)
            changed = changed or one_changed
    results: list[dict[str, Any]] = [{}] * len(items)
    for position, answer in zip(order, answers, strict=True):
        results[position] = answer
    return AccountsResult(results, changed)


# --- reading ------------------------------------------------------------------


def evacuation_json(evacuation: Evacuation) -> dict[str, Any]:
    return {
        "id": evacuation.id,
        "event_id": evacuation.event_id,
        "kind": evacuation.kind,
        "zones": evacuation.zone_ids,
        "message": evacuation.message,
        "plan": evacuation.plan,
        "started_at": iso(evacuation.started_at),
        "ended_at": iso(evacuation.ended_at),
        "active": evacuation.ended_at is None,
    }


async def evacuation_in(
    session: AsyncSession, evacuation_id: int, event_id: int | None = None
) -> Evacuation:
    evacuation = await session.get(Evacuation, evacuation_id)
    if evacuation is None or (event_id is not None and evacuation.event_id != event_id):
        raise NotFound(f"No evacuation {evacuation_id}.")
    return evacuation


async def event_of(db: Database, evacuation_id: int) -> int:
    """The event an evacuation belongs to (404 for none), to check rights against."""
    async with db.reading() as session:
        return (await evacuation_in(session, evacuation_id)).event_id


def _tally(rows: Iterable[Any]) -> dict[Any, dict[str, int]]:
    """(key, status, how many) rows summed per key: total, accounted, missing."""
    tally: dict[Any, dict[str, int]] = {}
    for key, status, n in rows:
        counts = tally.setdefault(key, {"total": 0, "accounted": 0, "missing": 0})
        counts["total"] += n
        counts["accounted" if roll_call.is_accounted(status) else "missing"] += n
    return tally


async def summary(db: Database, evacuation_id: int) -> dict[str, Any]:
    """To account for, accounted and missing: in total, per zone, per point; arrivals."""
    await catch_up(db, evacuation_id)
    async with db.reading() as session:
        evacuation = await evacuation_in(session, evacuation_id)
        return await _summary(session, evacuation)


async def _summary(session: AsyncSession, evacuation: Evacuation) -> dict[str, Any]:
    # Counted in the database (a few rows per zone and status, not one per
    # person: the topic is rebuilt after every account); only the accounted
    # people's times come back, for the arrivals per minute.
    counted = (
        await session.execute(
            select(EvacuationPerson.zone_id, EvacuationPerson.status, func.count())
            .where(EvacuationPerson.evacuation_id == evacuation.id)
            .group_by(EvacuationPerson.zone_id, EvacuationPerson.status)
        )
    ).all()
    arrived = (
        await session.execute(
            select(EvacuationPerson.point_id, EvacuationPerson.accounted_at).where(
                EvacuationPerson.evacuation_id == evacuation.id,
                EvacuationPerson.accounted_at.is_not(None),
                EvacuationPerson.status != roll_call.LEFT_EARLIER,
            )
        )
    ).all()
    zones = {
        z.id: z.name
        for z in await session.scalars(select(Zone).where(Zone.event_id == evacuation.event_id))
    }
    points = list(
        await session.scalars(
            select(MusterPoint)
            .where(MusterPoint.event_id == evacuation.event_id)
            .order_by(MusterPoint.id)
        )
    )
    statuses: dict[str, int] = dict.fromkeys(roll_call.STATUSES, 0)
    for _zone, status, n in counted:
        statuses[status] += n
    by_zone = _tally(counted)
    arrivals: dict[int | None, list[datetime]] = {}
    for point_id, accounted_at in arrived:
        if accounted_at is not None:
            arrivals.setdefault(point_id, []).append(accounted_at)
    now = utcnow()
    end = evacuation.ended_at or now
    total = sum(statuses.values())
    missing = statuses[roll_call.MISSING]
    return {
        **evacuation_json(evacuation),
        "at": iso(now),
        "elapsed_seconds": round((end - evacuation.started_at).total_seconds(), 1),
        "total": total,
        "accounted": total - missing,
        "missing": missing,
        "statuses": statuses,
        "zones": [
            {"id": zone_id, "name": zones.get(zone_id, "") if zone_id else "", **counts}
            for zone_id, counts in sorted(by_zone.items(), key=lambda kv: (kv[0] is None, kv[0]))
        ],
        "points": [
            {
                "id": p.id,
                "name": p.name,
                "zones": list(p.zone_ids or []),
                "map_note": p.map_note,
                "accounted": len(arrivals.get(p.id, [])),
                "per_minute": roll_call.per_minute(
                    arrivals.get(p.id, []), evacuation.started_at, ARRIVAL_MINUTES
                ),
            }
            for p in points
        ],
        "unplaced": len(arrivals.get(None, [])),
    }


async def _fetch_raw(db: Database, query: Any) -> list[Any]:
    """Rows of a SQLAlchemy select through the raw asyncpg pool (PostgreSQL only)."""
    compiled = query.compile(dialect=asyncpg_dialect())
    names = list(compiled.positiontup or [])
    async with db.raw_connection() as conn:
        return list(await conn.fetch(str(compiled), *(compiled.params[n] for n in names)))


async def missing(db: Database, evacuation_id: int, *, contact: bool) -> dict[str, Any]:
    """Who is still unaccounted for, with the last gate and time seen (contact data if asked)."""
    await catch_up(db, evacuation_id)
    async with db.reading() as session:
        evacuation = await evacuation_in(session, evacuation_id)
        columns = [
            EvacuationPerson.id,
            EvacuationPerson.ticket_id,
            EvacuationPerson.staff_id,
            EvacuationPerson.name,
            EvacuationPerson.zone_id,
            EvacuationPerson.last_gate_id,
            EvacuationPerson.last_seen_at,
            EvacuationPerson.reason,
        ]
        query = select(*columns).where(
            EvacuationPerson.evacuation_id == evacuation.id,
            EvacuationPerson.status == roll_call.MISSING,
        )
        if contact:
            # Staff on the roll are reached by the phone number on the roster.
            query = (
                query.add_columns(Ticket.holder_email, StaffMember.phone)
                .outerjoin(Ticket, Ticket.id == EvacuationPerson.ticket_id)
                .outerjoin(StaffMember, StaffMember.id == EvacuationPerson.staff_id)
            )
        query = query.order_by(EvacuationPerson.name)
        rows: list[Any]
        if db.is_sqlite:
            rows = list(await session.execute(query))
        else:
            # 20,000 rows: through the raw asyncpg pool the read costs about
            # what the bare query does (through the ORM ~3x); same statement.
            rows = await _fetch_raw(db, query)
        gate_rows = await session.execute(
            select(Gate.id, Gate.name).where(Gate.event_id == evacuation.event_id)
        )
        gates: dict[int, str] = {gate_id: name for gate_id, name in gate_rows}
    people = []
    for row in rows:
        entry: dict[str, Any] = {
            "id": row[0],
            "ticket_id": row[1],
            "staff_id": row[2],
            "name": row[3],
            "zone": row[4],
            "last_gate": row[5],
            "last_gate_name": gates.get(row[5], "") if row[5] is not None else "",
            "last_seen_at": iso(row[6]),
            "reason": row[7],
        }
        if contact:
            entry["email"] = row[8] or ""
            entry["phone"] = row[9] or ""
        people.append(entry)
    return {"evacuation": evacuation.id, "count": len(people), "people": people}


async def roll(db: Database, evacuation_id: int) -> list[dict[str, Any]]:
    """Everyone on the roll with their state (the muster mode's list, the CSV)."""
    async with db.reading() as session:
        evacuation = await evacuation_in(session, evacuation_id)
        people = await session.scalars(
            select(EvacuationPerson)
            .where(EvacuationPerson.evacuation_id == evacuation.id)
            .order_by(EvacuationPerson.name, EvacuationPerson.id)
        )
        return [person_json(p) for p in people]


async def all_clear(db: Database, evacuation_id: int, principal: Principal) -> dict[str, Any]:
    """End the evacuation; a second all-clear answers the first one's end."""
    await catch_up(db, evacuation_id)
    async with db.writing() as session:
        evacuation = await evacuation_in(session, evacuation_id)
        await session.execute(
            update(Evacuation)
            .where(Evacuation.id == evacuation.id, Evacuation.ended_at.is_(None))
            .values(ended_at=utcnow(), ended_by=principal.account_id)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(evacuation)
        return evacuation_json(evacuation)


async def active_of(db: Database, event_id: int) -> int | None:
    async with db.reading() as session:
        found: int | None = await session.scalar(
            select(Evacuation.id).where(
                Evacuation.event_id == event_id, Evacuation.ended_at.is_(None)
            )
        )
        return found


async def list_evacuations(db: Database, event_id: int) -> list[dict[str, Any]]:
    async with db.reading() as session:
        await get_event(session, event_id)
        rows = await session.scalars(
            select(Evacuation)
            .where(Evacuation.event_id == event_id)
            .order_by(Evacuation.started_at.desc())
        )
        return [evacuation_json(e) for e in rows]


async def evacuation_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The ``evacuation`` state topic: the running evacuation's figures, or none."""
    evacuation_id = await active_of(db, event_id)
    if evacuation_id is None:
        async with db.reading() as session:
            last = await session.scalar(
                select(Evacuation)
                .where(Evacuation.event_id == event_id)
                .order_by(Evacuation.started_at.desc())
                .limit(1)
            )
        return {"active": False, "last": None if last is None else evacuation_json(last)}
    return {"active": True, "evacuation": await summary(db, evacuation_id)}
