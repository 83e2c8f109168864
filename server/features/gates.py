"""What the ``gates`` topic shows: each gate's tallies (``server.features.headcount``)
beside its door devices, online or not, as ``realtime.gates.DeviceTracker``
keeps them in ``device_status`` (online: a socket holds it and its
heartbeat is younger than ``realtime.gates.LEASE``), and scans a minute
(the last 60 seconds to the second, ``server.features.scan_tally``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from realtime.gates import LEASE
from server.db import Database
from server.features.headcount import gate_figures
from server.features.scan_tally import ScanTallies, count_scans
from server.models import Account, DeviceStatus, utcnow
from server.serialize import iso


async def gates_snapshot(
    db: Database, event_id: int, tallies: ScanTallies | None = None
) -> dict[str, Any]:
    """What the ``gates`` topic shows.

    ``{"event_id", "gates": [{"id", "name", "in", "out", "refused",
    "last_scan_at", "scans_per_minute", "refused_per_minute", "online",
    "devices": [device id…]}], "devices": [{"id", "name", "gate", "online",
    "last_seen", "queue", "queue_reported_at", "scans_per_minute"}]}`` —
    every door device of the event, paired phones and door tokens alike.
    ``tallies``: a realtime hub's (see ``server.features.headcount``).
    """
    now = utcnow()
    tally = None if tallies is None else await tallies.of(db, event_id)
    async with db.reading() as session:
        if tally is None:
            tally = await count_scans(
                session, db.engine.dialect.name, event_id, now, arrivals=False
            )
        gates = await gate_figures(session, event_id, tally)
        rows = await session.execute(
            select(Account, DeviceStatus)
            .outerjoin(DeviceStatus, DeviceStatus.account_id == Account.id)
            .where(
                Account.event_id == event_id, Account.role == "door", Account.revoked_at.is_(None)
            )
            .order_by(Account.id)
        )
        accounts = rows.all()
    per_gate, per_device = tally.rates(now)
    devices = []
    for account, status in accounts:
        online = bool(status and status.connection and status.last_seen_at >= now - LEASE)
        devices.append(
            {
                "id": account.id,
                "name": account.name,
                "kind": account.kind,
                "gate": status.gate_id
                if status and status.gate_id is not None
                else account.gate_id,
                "online": online,
                "last_seen": iso(status.last_seen_at if status else account.last_seen_at),
                "queue": status.queue_length if status else None,
                "queue_reported_at": iso(status.queue_reported_at) if status else None,
                "scans_per_minute": per_device.get(account.id, 0),
            }
        )
    for gate in gates:
        scans, refused = per_gate.get(gate["id"], (0, 0))
        on_gate = [d for d in devices if d["gate"] == gate["id"]]
        gate["scans_per_minute"] = scans
        gate["refused_per_minute"] = refused
        gate["devices"] = [d["id"] for d in on_gate]
        gate["online"] = sum(1 for d in on_gate if d["online"])
    return {"event_id": event_id, "gates": gates, "devices": devices}
