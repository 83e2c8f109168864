"""Snapshots and messages of the stream topics the hub itself reads from tables.

``admissions`` and ``revocations`` are read straight from the ``scans`` and
``revocations`` logs (a bus row per scan would double the writes on the
busiest path); ``annulments`` are bus messages (an annul changes a scan row
the reader has passed). Each message carries
the whole item, so applying one already reflected in a snapshot is harmless.
The ``admissions`` and ``annulments`` snapshots are check-in's
(``checkin.topics``): the hub knows no admission; the ``alerts`` one (the
open alerts) is ``server.features.alerts``'.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from server.db import Database
from server.models import Revocation
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


async def revocations_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The whole revocation list of the event."""
    async with db.reading() as session:
        revocations = await session.scalars(
            select(Revocation).where(Revocation.event_id == event_id).order_by(Revocation.id)
        )
        return {"revocations": [revocation_json(r) for r in revocations]}
