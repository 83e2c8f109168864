"""Snapshots and messages of the stream topics the hub itself reads from tables.

``admissions`` and ``revocations`` are read straight from the ``scans`` and
``revocations`` logs (a bus row per scan would double the writes on the
busiest path); ``annulments`` are bus messages (an annul changes a scan row
the reader has passed); ``alerts`` snapshots are the open alerts. Each message carries
the whole item, so applying one already reflected in a snapshot is harmless.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from checkin.admitted import read_admitted
from checkin.annul import annulment_json
from server.alerts import alert_json
from server.db import Database
from server.models import Alert, Revocation, Scan, Ticket, utcnow
from server.serialize import iso


def admission_json(scan: Any, generation: int | None) -> dict[str, Any]:
    """An ``admissions`` message: one accepted scan, in or out (``scan``: a
    ``Scan``, or a row with its columns)."""
    return {
        "scan": scan.id,
        "ticket": scan.ticket_id,
        "generation": generation,
        "gate": scan.gate_id,
        "device": scan.device_id,
        "direction": scan.direction,
        # A scan row records the move it made: from_zone -> to_zone (None: outside).
        "zone": scan.to_zone_id,
        "scanned_at": iso(scan.scanned_at),
        "received_at": iso(scan.received_at),
        "offline": scan.offline,
    }


def revocation_json(revocation: Any) -> dict[str, Any]:
    """A ``revocations`` message: a (ticket, generation) no door may admit any more
    (``revocation``: a ``Revocation``, or a row with its columns)."""
    return {
        "id": revocation.id,
        "ticket": revocation.ticket_id,
        "generation": revocation.generation,
        "reason": revocation.reason,
        "revoked_at": iso(revocation.revoked_at),
    }


async def alerts_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The open (unacknowledged) alerts, newest first."""
    async with db.reading() as session:
        alerts = await session.scalars(
            select(Alert)
            .where(Alert.event_id == event_id, Alert.acknowledged_at.is_(None))
            .order_by(Alert.id.desc())
        )
        return {"alerts": [alert_json(a) for a in alerts]}


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


async def revocations_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The whole revocation list of the event."""
    async with db.reading() as session:
        revocations = await session.scalars(
            select(Revocation).where(Revocation.event_id == event_id).order_by(Revocation.id)
        )
        return {"revocations": [revocation_json(r) for r in revocations]}
