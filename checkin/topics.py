"""The check-in topics' snapshots, handed to the realtime hub by the app factory.

``admissions`` (where every admitted ticket's holder is now, as the compact
admitted set) and ``annulments`` (the admissions undone lately): what a door
phone needs to decide offline. Their messages are written by the scan path
(the scan log, read by the bus) and by ``checkin.annul``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from checkin.admitted import read_admitted
from checkin.annul import annulment_json
from server.db import Database
from server.models import Scan, Ticket, utcnow


async def admissions_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """Every ticket admitted once or in a zone: where its holder is now, and its
    generation, as the compact admitted set (``checkin.admitted``).

    What a door phone needs to refuse a second entry while offline; tens of
    kilobytes at 100,000 admitted, where a JSON object per ticket was megabytes.
    """
    async with db.reading() as session:
        return await read_admitted(session, event_id)


#: How far back an ``annulments`` snapshot looks.
RECENT_ANNULMENTS = timedelta(minutes=10)
#: Scans annulled are this recent at most when annulled (far above any annul window;
#: it only lets the scan log's (event, received_at) index bound the read).
ANNULLED_WITHIN = timedelta(days=1)


async def annulments_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The admissions annulled in the last ``RECENT_ANNULMENTS``, each with where
    its holder is now.

    A phone that gets this snapshot also got a fresh ``admissions`` snapshot
    (a lost history of this quiet topic means a lost one of that busy one),
    read a moment before: this covers the annulments of that moment. Each
    carries its ticket's state now, not just after the annul, so one that a
    later scan overtook is harmless to apply.
    """
    cutoff = utcnow() - RECENT_ANNULMENTS
    async with db.reading() as session:
        rows = await session.execute(
            select(Scan.id, Scan.ticket_id, Ticket.zone_id, Ticket.checked_in_at, Scan.annulled_at)
            .join(Ticket, Ticket.id == Scan.ticket_id)
            .where(
                Scan.event_id == event_id,
                Scan.received_at >= cutoff - ANNULLED_WITHIN,
                Scan.annulled_at >= cutoff,
                Scan.status == "ok",
            )
            .order_by(Scan.id)
        )
        found = []
        for scan, ticket, zone, at, annulled in rows:
            assert ticket is not None and annulled is not None  # the join and the filter
            found.append(annulment_json(scan, ticket, zone, at is not None, annulled))
        return {"annulments": found}
