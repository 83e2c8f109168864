"""Evacuation roll-call: assembly points, the roll frozen at the alarm, accounts merged once.

The rules are in ``server/features/roll_call.py``; this module reads and writes the
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

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Principal
from server.db import Database, dialect_name
from server.errors import Conflict, InvalidRequest, NotFound
from server.features import roll_call, staff, walk_in_rules
from server.features.roll_call import LastScan
from server.fields import DbInt, Text
from server.lookup import get_event, get_in_event
from server.models import (
    Evacuation,
    EvacuationAccount,
    EvacuationPerson,
    Gate,
    MusterPoint,
    Scan,
    StaffMember,
    Ticket,
    WalkIn,
    Zone,
    utcnow,
)
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


class MusterPointPatch(BaseModel):
    """Fields to change; those left out stay as they are."""

    name: Name | None = None
    zones: Annotated[list[DbInt], Field(max_length=500)] | None = None
    map_note: Annotated[Text, Field(max_length=500)] | None = None


class EvacuationIn(BaseModel):
    kind: Literal["live", "drill"]
    #: Zone ids to clear; None or absent: every zone.
    zones: Annotated[list[DbInt], Field(min_length=1, max_length=500)] | None = None
    message: Annotated[Text, Field(max_length=1000)] = ""
    plan: Annotated[Text, Field(max_length=20000)] = ""


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


async def update_point(
    db: Database, event_id: int, point_id: int, body: MusterPointPatch
) -> dict[str, Any]:
    async with db.writing() as session:
        point: MusterPoint = await get_in_event(session, MusterPoint, event_id, point_id)
        if body.zones is not None:
            await _check_zones(session, event_id, body.zones)
            point.zone_ids = sorted(set(body.zones))
        if body.name is not None:
            point.name = body.name
        if body.map_note is not None:
            point.map_note = body.map_note
        await session.flush()
        return point_json(point)


async def delete_point(db: Database, event_id: int, point_id: int) -> None:
    """Remove an assembly point; one that an evacuation or drill has accounted
    people at stays (409 ``muster_point_in_use``): its report names it."""
    async with db.writing() as session:
        point: MusterPoint = await get_in_event(session, MusterPoint, event_id, point_id)
        used = await session.scalar(
            select(EvacuationAccount.id).where(EvacuationAccount.point_id == point_id).limit(1)
        )
        if used is not None:
            raise Conflict(
                "People were accounted at this assembly point.",
                {"point": point_id},
                code="muster_point_in_use",
            )
        await session.delete(point)


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


def _late_scans_query(evacuation: Evacuation) -> Any:
    """Tickets of scans received since the last look whose scan time is before the start."""
    since = max(evacuation.started_at, evacuation.scans_checked_at - LATE_SCAN_MARGIN)
    return (
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


#: Runs a Core select and answers its rows (``_reads``).
Rows = Callable[[Any], Awaitable[Sequence[Any]]]


def _session_rows(session: AsyncSession) -> Rows:
    async def rows(query: Any) -> Sequence[Any]:
        return (await session.execute(query)).all()

    return rows


@contextlib.asynccontextmanager
async def _reads(db: Database) -> AsyncIterator[Rows]:
    """How the picture of an evacuation is read: on PostgreSQL one connection
    of the raw asyncpg pool for the block, each statement one round trip in
    autocommit; on SQLite a session.

    The engine's pool is the phones': while 40 of them account, each
    request holds one of its 40 connections, and the topic's snapshot
    waited 3-4.7 s a compute to check one out (measured in the hub with
    bench.evacuation). Columns read this way get no SQLAlchemy result
    processing: times come back aware from asyncpg, JSON as text
    (``_json``).
    """
    if db.is_sqlite:
        async with db.reading() as session:
            yield _session_rows(session)
        return
    async with db.raw_connection() as conn:

        async def rows(query: Any) -> Sequence[Any]:
            compiled = query.compile(dialect=asyncpg_dialect())
            names = list(compiled.positiontup or [])
            return list(await conn.fetch(str(compiled), *(compiled.params[n] for n in names)))

        yield rows


def _json(value: Any) -> Any:
    """A JSON column's value, read raw (text) or through SQLAlchemy (decoded)."""
    return orjson.loads(value) if isinstance(value, str) else value


async def _catch_up_due(rows: Rows, evacuation: Evacuation) -> bool:
    """Whether ``catch_up`` has anything to write: late scans to apply, or the
    last look to write down. Read-only, on the caller's reads: most reads
    of an evacuation find neither and take no write transaction (on SQLite
    the write lock queues behind every phone's batch)."""
    if evacuation.ended_at is not None:
        return False
    if _look_due(evacuation):
        return True
    return bool(await rows(_late_scans_query(evacuation).limit(1)))


def _look_due(evacuation: Evacuation) -> bool:
    """Whether the last look for late scans is to be written down (running, LATE_SCAN_STEP on)."""
    return evacuation.ended_at is None and utcnow() - evacuation.scans_checked_at >= LATE_SCAN_STEP


async def catch_up(db: Database, evacuation_id: int) -> bool:
    """Add (or mark gone) the people that offline scans synced since the start prove.

    True when the roll changed.
    """
    async with db.reading() as session:
        evacuation = await session.get(Evacuation, evacuation_id)
        if evacuation is None or not await _catch_up_due(_session_rows(session), evacuation):
            return False
    return await _catch_up(db, evacuation_id)


async def _catch_up(db: Database, evacuation_id: int) -> bool:
    async with db.writing() as session:
        evacuation = await session.get(Evacuation, evacuation_id)
        if evacuation is None or evacuation.ended_at is not None:
            return False
        late = list(await session.scalars(_late_scans_query(evacuation)))
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


# --- reading ------------------------------------------------------------------

#: The columns of a person that the merge reads and the answer shows.
PERSON_COLUMNS = (
    EvacuationPerson.id,
    EvacuationPerson.ticket_id,
    EvacuationPerson.staff_id,
    EvacuationPerson.name,
    EvacuationPerson.zone_id,
    EvacuationPerson.reason,
    EvacuationPerson.status,
    EvacuationPerson.accounted_at,
    EvacuationPerson.point_id,
    EvacuationPerson.status_at,
    EvacuationPerson.recorded_at,
)


def person_json(person: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": person["id"],
        "ticket_id": person["ticket_id"],
        "staff_id": person["staff_id"],
        "name": person["name"],
        "zone": person["zone_id"],
        "reason": person["reason"],
        "status": person["status"],
        "accounted_at": iso(person["accounted_at"]),
        "point": person["point_id"],
    }


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
    """The event an evacuation belongs to (404 for none), to check rights against.

    On ``_reads``: every request about an evacuation asks this first, the
    40 phones' accounts too, and through a session of the engine's pool it
    was three round trips and a wait for a connection the phones hold.
    """
    async with _reads(db) as rows:
        found = await rows(select(Evacuation.event_id).where(Evacuation.id == evacuation_id))
    if not found:
        raise NotFound(f"No evacuation {evacuation_id}.")
    return int(found[0][0])


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
    async with db.reading() as session:
        evacuation = await evacuation_in(session, evacuation_id)
    return await _picture(db, evacuation)


async def _picture(db: Database, evacuation: Evacuation) -> dict[str, Any]:
    """``_summary`` from one statement (``_figures_query``), after ``catch_up``
    when it is due: every LATE_SCAN_STEP, or when the statement found late
    scans (the write, then the figures again)."""
    if not _look_due(evacuation):
        running = evacuation.ended_at is None
        async with _reads(db) as rows:
            figures = _Figures(await rows(_figures_query(db, evacuation, late_scans=running)))
        if not figures.late_scans:
            return _summary(evacuation, figures)
    await _catch_up(db, evacuation.id)
    async with _reads(db) as rows:
        return _summary(
            evacuation, _Figures(await rows(_figures_query(db, evacuation, late_scans=False)))
        )


def _minute_since(db: Database, column: Any, started_at: datetime) -> Any:
    """Whole minutes from ``started_at`` to ``column``, computed in the database."""
    start = literal(started_at, EvacuationPerson.__table__.c.accounted_at.type)
    if db.is_sqlite:
        return cast((func.julianday(column) - func.julianday(start)) * 1440, Integer)
    return cast(func.floor(func.extract("epoch", column - start) / 60), Integer)


#: The parts of ``_figures_query``'s rows.
_COUNTS, _ARRIVALS, _ZONES, _POINTS, _LATE_SCANS = range(5)


def _figures_query(db: Database, evacuation: Evacuation, *, late_scans: bool) -> Any:
    """Every figure of the picture in one statement: rows of (part, id, minute,
    name, note, zones, n), one part each for the counts per zone and status,
    the arrivals per point and minute, the zones' names, the points, and
    (``late_scans``) whether late offline scans wait for ``catch_up``.

    One statement, one round trip: timed under bench.evacuation's 40
    phones at load 8-14, every statement of the snapshot waited 0.1-0.5 s
    for its answer, the 4-row read of the zones as long as the count of
    20,000 people, so the six statements it was took up to 1.4 s.
    Counted in the database, a few rows per zone and status and per point
    and minute, never one per person.
    """
    person = EvacuationPerson
    no_int, no_text = cast(null(), Integer), cast(null(), String)
    minute = _minute_since(db, person.accounted_at, evacuation.started_at)

    def part(n: int) -> Any:
        return literal(n, Integer)

    counts = (
        select(part(_COUNTS), person.zone_id, no_int, person.status, no_text, no_text)
        .add_columns(func.count())
        .where(person.evacuation_id == evacuation.id)
        .group_by(person.zone_id, person.status)
    )
    arrivals = (
        select(part(_ARRIVALS), person.point_id, minute, no_text, no_text, no_text)
        .add_columns(func.count())
        .where(
            person.evacuation_id == evacuation.id,
            person.accounted_at.is_not(None),
            person.status != roll_call.LEFT_EARLIER,
        )
        .group_by(person.point_id, minute)
    )
    zones = select(part(_ZONES), Zone.id, no_int, Zone.name, no_text, no_text, no_int).where(
        Zone.event_id == evacuation.event_id
    )
    points = select(
        part(_POINTS),
        MusterPoint.id,
        no_int,
        MusterPoint.name,
        MusterPoint.map_note,
        cast(MusterPoint.zone_ids, String),
        no_int,
    ).where(MusterPoint.event_id == evacuation.event_id)
    parts = [counts, arrivals, zones, points]
    if late_scans:
        late = _late_scans_query(evacuation).limit(1).subquery()
        parts.append(
            select(
                part(_LATE_SCANS), no_int, no_int, no_text, no_text, no_text, literal(1, Integer)
            ).select_from(late)
        )
    return union_all(*parts)


class _Figures:
    """``_figures_query``'s rows sorted by part."""

    def __init__(self, found: Sequence[Any]) -> None:
        self.counts: list[tuple[int | None, str, int]] = []
        self.arrivals: list[tuple[int | None, int, int]] = []
        self.zones: dict[int, str] = {}
        self.points: list[tuple[int, str, str, Any]] = []
        self.late_scans = False
        for row_part, key, minute, name, note, zone_ids, n in found:
            if row_part == _COUNTS:
                self.counts.append((key, name, n))
            elif row_part == _ARRIVALS:
                self.arrivals.append((key, minute, n))
            elif row_part == _ZONES:
                self.zones[key] = name
            elif row_part == _POINTS:
                self.points.append((key, name, note, _json(zone_ids)))
            else:
                self.late_scans = True
        self.points.sort(key=lambda p: p[0])


def _summary(evacuation: Evacuation, figures: _Figures) -> dict[str, Any]:
    """The ``evacuation`` topic's picture of ``_figures_query``'s figures."""
    counted, zones = figures.counts, figures.zones
    statuses: dict[str, int] = dict.fromkeys(roll_call.STATUSES, 0)
    for _zone, status, n in counted:
        statuses[status] += n
    by_zone = _tally(counted)
    arrivals: dict[int | None, dict[int, int]] = {}
    for point_id, at_minute, n in figures.arrivals:
        by_minute = arrivals.setdefault(point_id, {})
        at_minute = max(0, int(at_minute or 0))
        by_minute[at_minute] = by_minute.get(at_minute, 0) + n
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
                "id": point_id,
                "name": name,
                "zones": list(zone_ids or []),
                "map_note": map_note,
                "accounted": sum(arrivals.get(point_id, {}).values()),
                "per_minute": roll_call.per_minute_of_counts(
                    arrivals.get(point_id, {}), ARRIVAL_MINUTES
                ),
            }
            for point_id, name, map_note, zone_ids in figures.points
        ],
        "unplaced": sum(arrivals.get(None, {}).values()),
    }


def _missing_columns(*, contact: bool) -> tuple[list[Any], Any]:
    """The missing list's columns, labelled with the answer's keys, and their FROM
    (the last gate's name joined in, the ticket's email for contact data)."""
    person = EvacuationPerson
    columns: list[Any] = [
        person.id.label("id"),
        person.ticket_id.label("ticket_id"),
        person.staff_id.label("staff_id"),
        person.name.label("name"),
        person.zone_id.label("zone"),
        person.last_gate_id.label("last_gate"),
        func.coalesce(Gate.name, "").label("last_gate_name"),
        person.last_seen_at.label("last_seen_at"),
        person.reason.label("reason"),
    ]
    joined = person.__table__.outerjoin(Gate, Gate.id == person.last_gate_id)
    if contact:
        # Staff on the roll are reached by the phone number on the roster, a
        # walk-in by the one given at the door (a ticket holds no phone); one
        # walk-in row per ticket is bound, the others are conflicts.
        columns += [
            func.coalesce(Ticket.holder_email, "").label("email"),
            func.coalesce(StaffMember.phone, WalkIn.holder_phone, "").label("phone"),
        ]
        joined = (
            joined.outerjoin(Ticket, Ticket.id == person.ticket_id)
            .outerjoin(StaffMember, StaffMember.id == person.staff_id)
            .outerjoin(
                WalkIn,
                and_(WalkIn.ticket_id == person.ticket_id, WalkIn.status == walk_in_rules.BOUND),
            )
        )
    return columns, joined


def _missing_query(evacuation_id: int, *, contact: bool) -> Any:
    """The missing by name, each row in the answer's shape."""
    columns, joined = _missing_columns(contact=contact)
    return (
        select(*columns)
        .select_from(joined)
        .where(
            EvacuationPerson.evacuation_id == evacuation_id,
            EvacuationPerson.status == roll_call.MISSING,
        )
        .order_by(EvacuationPerson.name)
    )


async def missing(db: Database, evacuation_id: int, *, contact: bool) -> dict[str, Any]:
    """Who is still unaccounted for, with the last gate and time seen (contact data if asked).

    Read on ``_reads`` (on PostgreSQL the raw pool: the same statement as
    the bare select, through the ORM ~3x). Each row is zipped with the
    query's labels into its dict (an asyncpg record and a SQLAlchemy row
    alike); times stay datetimes in UTC, which orjson writes as ``iso``
    does. For 20,000 rows that is ~25 ms of CPU and the encoding ~16 ms:
    on a loaded machine the answer's time is mostly waiting for the CPU.
    """
    async with _reads(db) as rows:
        evacuation = _evacuation_of(await rows(_evacuation_query(evacuation_id)), evacuation_id)
        due = await _catch_up_due(rows, evacuation)
    if due:
        await _catch_up(db, evacuation.id)
    query = _missing_query(evacuation.id, contact=contact)
    keys = [column.name for column in query.selected_columns]
    async with _reads(db) as rows:
        people = [dict(zip(keys, row, strict=True)) for row in await rows(query)]
    return {"evacuation": evacuation.id, "count": len(people), "people": people}


async def roll(db: Database, evacuation_id: int) -> list[dict[str, Any]]:
    """Everyone on the roll with their state (the muster mode's list, the CSV)."""
    async with db.reading() as session:
        evacuation = await evacuation_in(session, evacuation_id)
        people = await session.execute(
            select(*PERSON_COLUMNS)
            .where(EvacuationPerson.evacuation_id == evacuation.id)
            .order_by(EvacuationPerson.name, EvacuationPerson.id)
        )
        return [person_json(p._mapping) for p in people]


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


async def list_evacuations(db: Database, event_id: int) -> list[dict[str, Any]]:
    async with db.reading() as session:
        await get_event(session, event_id)
        rows = await session.scalars(
            select(Evacuation)
            .where(Evacuation.event_id == event_id)
            .order_by(Evacuation.started_at.desc())
        )
        return [evacuation_json(e) for e in rows]


def _running_or_last(event_id: int) -> Any:
    """The event's running evacuation, else its last one: one row at most."""
    return (
        select(*Evacuation.__table__.c)
        .where(Evacuation.event_id == event_id)
        .order_by(Evacuation.ended_at.is_not(None), Evacuation.started_at.desc())
        .limit(1)
    )


def _evacuation_query(evacuation_id: int) -> Any:
    return select(*Evacuation.__table__.c).where(Evacuation.id == evacuation_id)


def _evacuation_of(found: Sequence[Any], evacuation_id: int) -> Evacuation:
    """The evacuation of a row read on ``_reads`` (404 for none), detached."""
    if not found:
        raise NotFound(f"No evacuation {evacuation_id}.")
    columns = Evacuation.__table__.c
    evacuation = Evacuation(**{c.key: found[0][i] for i, c in enumerate(columns)})
    evacuation.zone_ids = _json(evacuation.zone_ids)
    return evacuation


#: Fields of ``summary`` that change with the clock alone: left out of the
#: topic, whose hub sends a picture only when it differs from the last (an
#: unchanged roll would go to every screen at every poll); the pages count
#: the time since ``started_at`` themselves.
_TICKING = frozenset({"at", "elapsed_seconds"})


async def evacuation_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The ``evacuation`` state topic: the running evacuation's figures, or none.

    Read on one connection of ``_reads`` (on PostgreSQL not the engine's
    pool, which the accounting phones hold).
    """
    async with _reads(db) as rows:
        found = await rows(_running_or_last(event_id))
    if not found:
        return {"active": False, "last": None}
    evacuation = _evacuation_of(found, 0)
    if evacuation.ended_at is not None:
        return {"active": False, "last": evacuation_json(evacuation)}
    picture = await _picture(db, evacuation)
    return {"active": True, "evacuation": {k: picture[k] for k in picture if k not in _TICKING}}
