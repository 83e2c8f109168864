"""Alerts for the command centre: list them, acknowledge them.

Alerts are raised elsewhere (``server.features.alerts.raise_alert``: offline
conflicts, zones near full, low stock, escalations). Acknowledging one
publishes an ``acknowledged`` message on the ``alerts`` topic, so every
screen clears it at once, on every server process.
"""

from __future__ import annotations

from sqlalchemy import select, update
from starlette.requests import Request
from starlette.routing import Route

from realtime.outbox import publish
from server.auth import EVERYONE, READERS, authorize
from server.context import muster
from server.errors import InvalidRequest, NotFound
from server.features.alerts import alert_json
from server.http import json_response, path_int
from server.lookup import get_event
from server.models import Alert, utcnow
from server.openapi import FLAG, answers, reads
from server.responses import JSONResponse

#: Most alerts one list answer carries (newest first).
LIST_LIMIT = 500


def _open_filter(request: Request) -> bool | None:
    raw = request.query_params.get("open")
    if raw is None or raw == "":
        return None
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise InvalidRequest("open must be true or false.", {"open": raw})


@answers(422)
@reads(open=FLAG)
async def list_alerts(request: Request) -> JSONResponse:
    """The event's alerts, newest first; ``?open=true`` for unacknowledged ones only."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, EVERYONE)
    only_open = _open_filter(request)
    query = select(Alert).where(Alert.event_id == event_id)
    if only_open is True:
        query = query.where(Alert.acknowledged_at.is_(None))
    elif only_open is False:
        query = query.where(Alert.acknowledged_at.is_not(None))
    async with muster(request).db.reading() as session:
        await get_event(session, event_id)
        alerts = (await session.scalars(query.order_by(Alert.id.desc()).limit(LIST_LIMIT))).all()
    return json_response({"alerts": [alert_json(a) for a in alerts]})


async def acknowledge_alert(request: Request) -> JSONResponse:
    """Acknowledge an alert (command centre); acknowledging it again changes nothing."""
    event_id, alert_id = path_int(request, "event_id"), path_int(request, "alert_id")
    principal = await authorize(request, event_id, READERS)
    ctx = muster(request)
    async with ctx.db.writing() as session:
        # One statement decides who acknowledges: two screens pressing at
        # once publish one "acknowledged" message, not two.
        claimed = await session.execute(
            update(Alert)
            .where(
                Alert.id == alert_id, Alert.event_id == event_id, Alert.acknowledged_at.is_(None)
            )
            .values(acknowledged_at=utcnow(), acknowledged_by=principal.account_id)
        )
        alert = await session.get(Alert, alert_id, populate_existing=True)
        if alert is None or alert.event_id != event_id:
            raise NotFound(f"No alert {alert_id}.")
        first = claimed.rowcount == 1  # type: ignore[attr-defined]
        if first:
            publish(
                session, event_id, "alerts", {"action": "acknowledged", "alert": alert_json(alert)}
            )
    if first:
        ctx.changed(event_id, "alerts")
    return json_response(alert_json(alert))


routes = [
    Route("/api/v1/events/{event_id}/alerts", list_alerts, methods=["GET"]),
    Route("/api/v1/events/{event_id}/alerts/{alert_id}/ack", acknowledge_alert, methods=["POST"]),
]
