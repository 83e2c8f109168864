"""The headcount snapshot: who is inside each zone, what each gate let through.

The same dict is the answer of ``GET /api/v1/events/{event}/headcount`` and
the data of the realtime ``headcount`` snapshots and updates.

Every figure is read from committed state, never from a counter every scan
updates: zone counts are the sum of the zone's capacity shards
(``zone_shards``), totals are counted on ``tickets``, gate tallies and the
arrival rate on the ``scans`` log (``server.features.scan_tally``: counted
in the database for the API, kept from the log as it grows by a realtime
hub). The hub coalesces updates to a few a second, so these few queries
run a few times a second at most, however fast the doors scan.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.rules import zone_level
from server.db import Database
from server.features.scan_tally import ScanTallies, ScanTally, count_scans
from server.lookup import get_event
from server.models import Gate, Ticket, Zone, ZoneShard, utcnow
from server.serialize import iso


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


async def gate_figures(
    session: AsyncSession, event_id: int, tally: ScanTally
) -> list[dict[str, Any]]:
    """The event's gates with their tallies: ``[{"id", "name", "from_zone",
    "to_zone", "in", "out", "refused", "last_scan_at"}]``."""
    rows = await session.execute(
        select(Gate.id, Gate.name, Gate.from_zone_id, Gate.to_zone_id)
        .where(Gate.event_id == event_id)
        .order_by(Gate.id)
    )
    gates = []
    for gate_id, name, from_zone, to_zone in rows:
        figures = tally.gate(gate_id)
        gates.append(
            {
                "id": gate_id,
                "name": name,
                "from_zone": from_zone,
                "to_zone": to_zone,
                "in": figures.n_in,
                "out": figures.n_out,
                "refused": figures.refused,
                "last_scan_at": iso(figures.last_scan_at),
            }
        )
    return gates


async def headcount_snapshot(
    db: Database, event_id: int, tallies: ScanTallies | None = None
) -> dict[str, Any]:
    """The event's headcount, as ``GET /headcount`` and the websocket send it.

    ``{"event_id", "at", "inside", "checked_in", "expected", "not_yet_arrived",
    "zones": [{"id", "name", "inside", "capacity", "soft_warning", "level"}],
    "gates": [{"id", "name", "from_zone", "to_zone", "in", "out", "refused",
    "last_scan_at"}], "arrivals_per_minute": {"start", "counts": [n × 60]}}``.

    ``expected`` counts valid tickets, ``checked_in`` those admitted at least
    once, ``not_yet_arrived`` the valid ones never admitted. Raises NotFound
    for an unknown event. ``tallies``: a realtime hub's, where the scan log's
    figures are kept (``server.features.scan_tally``); without, they are
    counted here.
    """
    now = utcnow()
    # Before the session: a first use counts the log in a session of its own.
    tally = None if tallies is None else await tallies.of(db, event_id)
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
        if tally is None:
            tally = await count_scans(session, db.engine.dialect.name, event_id, now, rates=False)
        gates = await gate_figures(session, event_id, tally)
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
        "arrivals_per_minute": tally.arrivals_json(now),
    }
