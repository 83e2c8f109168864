"""The headcount snapshot: who is inside each zone, what each gate let through.

The same dict is the answer of ``GET /api/v1/events/{event}/headcount`` and
the data of the realtime ``headcount`` and ``gates`` snapshots and updates.

Every figure is read from committed state, never from a counter every scan
updates: zone counts are the sum of the zone's capacity shards
(``zone_shards``), totals are counted on ``tickets``, gate tallies and the
arrival rate on the ``scans`` log. The realtime hub coalesces updates to a
few a second, so these few aggregate queries run a few times a second at
most, however fast the doors scan.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.rules import zone_level
from server.db import Database
from server.lookup import get_event
from server.models import Gate, Scan, Ticket, Zone, ZoneShard, utcnow
from server.serialize import iso

#: How far back the arrivals-per-minute series reaches.
ARRIVALS_WINDOW = timedelta(hours=1)


def _minute_bucket(dialect: str) -> ColumnElement[Any]:
    """Minutes since the Unix epoch of a scan's ``scanned_at``, in SQL."""
    if dialect == "sqlite":
        # UTCDateTime stores naive UTC text on SQLite.
        seconds = cast(func.strftime("%s", Scan.scanned_at), Integer)
        return seconds // 60  # "//": SQLAlchemy 2 renders "/" as true division
    return func.floor(func.extract("epoch", Scan.scanned_at) / 60)


async def _arrivals(
    session: AsyncSession, dialect: str, event_id: int, now: datetime
) -> dict[str, Any]:
    """Arrivals from outside in each minute of the last hour, oldest first.

    ``{"start": first minute, "counts": [n × 60]}``: a bare list of counts
    keeps the headcount message small, and it goes to every screen and
    phone several times a second.
    """
    since = now - ARRIVALS_WINDOW
    bucket = _minute_bucket(dialect).label("minute")
    rows = await session.execute(
        select(bucket, func.count())
        .where(
            Scan.event_id == event_id,
            # A scan is received after it is made, so this bound only lets the
            # (event, received_at) index skip older rows; scanned_at decides.
            Scan.received_at >= since,
            Scan.scanned_at >= since,
            Scan.scanned_at <= now,
            Scan.status == "ok",
            Scan.direction == "in",
            Scan.from_zone_id.is_(None),
            Scan.annulled_at.is_(None),
        )
        .group_by(literal_column("minute"))
    )
    counts = {int(minute): int(count) for minute, count in rows}
    last = int(now.timestamp()) // 60
    first = last - int(ARRIVALS_WINDOW.total_seconds()) // 60 + 1
    return {
        "start": iso(datetime.fromtimestamp(first * 60, now.tzinfo)),
        "counts": [counts.get(m, 0) for m in range(first, last + 1)],
    }


async def _zones(session: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    inside = (
        select(ZoneShard.zone_id, func.sum(ZoneShard.inside).label("inside"))
        .group_by(ZoneShard.zone_id)
        .subquery()
    )
    rows = await session.execute(
        select(Zone, func.coalesce(inside.c.inside, 0))
        .outerjoin(inside, inside.c.zone_id == Zone.id)
        .where(Zone.event_id == event_id)
        .order_by(Zone.id)
    )
    zones = []
    for zone, count in rows:
        count = int(count)
        zones.append(
            {
                "id": zone.id,
                "name": zone.name,
                "inside": count,
                "capacity": zone.capacity,
                "soft_warning": zone.soft_warning,
                "level": zone_level(count, zone.capacity, zone.soft_warning),
            }
        )
    return zones


async def _gates(session: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    counted = Scan.annulled_at.is_(None)
    tallies = (
        select(
            Scan.gate_id,
            func.sum(
                case((and_(Scan.status == "ok", Scan.direction == "in", counted), 1), else_=0)
            ).label("n_in"),
            func.sum(
                case((and_(Scan.status == "ok", Scan.direction == "out", counted), 1), else_=0)
            ).label("n_out"),
            func.sum(case((Scan.status == "error", 1), else_=0)).label("refused"),
            func.max(Scan.received_at).label("last_scan_at"),
        )
        .where(Scan.event_id == event_id)
        .group_by(Scan.gate_id)
        .subquery()
    )
    rows = await session.execute(
        select(Gate, tallies.c.n_in, tallies.c.n_out, tallies.c.refused, tallies.c.last_scan_at)
        .outerjoin(tallies, tallies.c.gate_id == Gate.id)
        .where(Gate.event_id == event_id)
        .order_by(Gate.id)
    )
    gates = []
    for gate, n_in, n_out, refused, last_scan_at in rows:
        if isinstance(last_scan_at, str):  # an aggregate on SQLite loses the column type
            last_scan_at = datetime.fromisoformat(last_scan_at + "+00:00")
        gates.append(
            {
                "id": gate.id,
                "name": gate.name,
                "from_zone": gate.from_zone_id,
                "to_zone": gate.to_zone_id,
                "in": int(n_in or 0),
                "out": int(n_out or 0),
                "refused": int(refused or 0),
                "last_scan_at": iso(last_scan_at),
            }
        )
    return gates


async def headcount_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The event's headcount, as ``GET /headcount`` and the websocket send it.

    ``{"event_id", "at", "inside", "checked_in", "expected", "not_yet_arrived",
    "zones": [{"id", "name", "inside", "capacity", "soft_warning", "level"}],
    "gates": [{"id", "name", "from_zone", "to_zone", "in", "out", "refused",
    "last_scan_at"}], "arrivals_per_minute": {"start", "counts": [n × 60]}}``.

    ``expected`` counts valid tickets, ``checked_in`` those admitted at least
    once, ``not_yet_arrived`` the valid ones never admitted. Raises NotFound
    for an unknown event.
    """
    now = utcnow()
    async with db.reading() as session:
        await get_event(session, event_id)
        valid = Ticket.status == "valid"
        totals = (
            await session.execute(
                select(
                    func.sum(case((valid, 1), else_=0)),
                    func.sum(case((Ticket.checked_in_at.is_not(None), 1), else_=0)),
                    func.sum(case((and_(valid, Ticket.checked_in_at.is_(None)), 1), else_=0)),
                ).where(Ticket.event_id == event_id)
            )
        ).one()
        zones = await _zones(session, event_id)
        gates = await _gates(session, event_id)
        arrivals = await _arrivals(session, db.engine.dialect.name, event_id, now)
    expected, checked_in, not_yet_arrived = (int(v or 0) for v in totals)
    return {
        "event_id": event_id,
        "at": iso(now),
        "inside": sum(z["inside"] for z in zones),
        "checked_in": checked_in,
        "expected": expected,
        "not_yet_arrived": not_yet_arrived,
        "zones": zones,
        "gates": gates,
        "arrivals_per_minute": arrivals,
    }
