"""What the ``gates`` topic shows: each gate's tallies (``server.features.headcount``)
beside its door devices, online or not, as ``realtime.gates.DeviceTracker``
keeps them in ``device_status`` (online: a socket holds it and its
heartbeat is younger than ``realtime.gates.LEASE``), and scans a minute."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from realtime.gates import LEASE
from server.db import Database
from server.features.headcount import headcount_snapshot
from server.models import Account, DeviceStatus, Scan, utcnow
from server.serialize import iso

SCAN_RATE_WINDOW = timedelta(seconds=60)


async def _gate_tallies(db: Database, event_id: int) -> list[dict[str, Any]]:
    """The gates with their in/out tallies from the headcount."""
    found: list[dict[str, Any]] = (await headcount_snapshot(db, event_id))["gates"]
    return found


async def gates_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """What the ``gates`` topic shows.

    ``{"event_id", "gates": [{"id", "name", "in", "out", "refused",
    "last_scan_at", "scans_per_minute", "refused_per_minute", "online",
    "devices": [device id…]}], "devices": [{"id", "name", "gate", "online",
    "last_seen", "queue", "queue_reported_at", "scans_per_minute"}]}`` —
    every door device of the event, paired phones and door tokens alike.
    """
    gates = await _gate_tallies(db, event_id)
    now = utcnow()
    async with db.reading() as session:
        rows = await session.execute(
            select(Account, DeviceStatus)
            .outerjoin(DeviceStatus, DeviceStatus.account_id == Account.id)
            .where(
                Account.event_id == event_id, Account.role == "door", Account.revoked_at.is_(None)
            )
            .order_by(Account.id)
        )
        accounts = rows.all()
        rates = await session.execute(
            select(Scan.gate_id, Scan.device_id, Scan.status, func.count())
            .where(Scan.event_id == event_id, Scan.received_at >= now - SCAN_RATE_WINDOW)
            .group_by(Scan.gate_id, Scan.device_id, Scan.status)
        )
        rate_rows = rates.all()
    per_gate: dict[int | None, list[int]] = {}
    per_device: dict[int | None, int] = {}
    for gate_id, device_id, scan_status, count in rate_rows:
        tally = per_gate.setdefault(gate_id, [0, 0])
        tally[0] += count
        if scan_status != "ok":
            tally[1] += count
        per_device[device_id] = per_device.get(device_id, 0) + count
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
