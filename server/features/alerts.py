"""Raising alerts for the command centre (offline conflicts, zones near full,
low stock, escalations), once per cause.

An alert is a ``kind`` and its ``data``: the parameters the pages put into
their own sentence for that kind, in the reader's language (``alert.<kind>``
in ``pwa/shared/terms.js``). The server never writes the sentence itself.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.outbox import publish
from server.db import Database
from server.models import Alert
from server.serialize import iso

SEVERITIES = ("info", "warning", "critical")


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "event_id": alert.event_id,
        "kind": alert.kind,
        "severity": alert.severity,
        "data": alert.data,
        "created_at": iso(alert.created_at),
        "acknowledged_at": iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
    }


async def raise_alert(
    session: AsyncSession,
    event_id: int,
    kind: str,
    *,
    severity: str = "warning",
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Alert | None:
    """Add an alert (and its ``alerts`` message) to the caller's transaction.

    ``data`` holds everything a page needs to say what happened (names as
    well as ids: a phone may not know the ids).

    With a ``dedupe_key``, nothing is raised while an unacknowledged alert
    with that key exists; returns None then. Call ``Muster.changed(event_id,
    "alerts")`` after the commit.
    """
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    if dedupe_key is not None:
        existing = await session.scalar(
            select(Alert.id).where(
                Alert.event_id == event_id,
                Alert.dedupe_key == dedupe_key,
                Alert.acknowledged_at.is_(None),
            )
        )
        if existing is not None:
            return None
    alert = Alert(
        event_id=event_id,
        kind=kind,
        severity=severity,
        data=data or {},
        dedupe_key=dedupe_key,
    )
    session.add(alert)
    await session.flush()
    publish(session, event_id, "alerts", {"action": "raised", "alert": alert_json(alert)})
    return alert


async def alerts_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """The open (unacknowledged) alerts, newest first."""
    async with db.reading() as session:
        alerts = await session.scalars(
            select(Alert)
            .where(Alert.event_id == event_id, Alert.acknowledged_at.is_(None))
            .order_by(Alert.id.desc())
        )
        return {"alerts": [alert_json(a) for a in alerts]}
