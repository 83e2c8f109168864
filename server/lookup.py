"""Finding an event, or a row of one, or answering 404 — the one way every module does it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import NotFound
from server.models import Event


async def get_event(session: AsyncSession, event_id: int) -> Event:
    event = await session.get(Event, event_id)
    if event is None:
        raise NotFound(f"No event {event_id}.")
    return event


async def get_in_event(session: AsyncSession, model: Any, event_id: int, item_id: int) -> Any:
    """Row ``item_id`` of ``model``, if it belongs to the event; else 404."""
    item = await session.get(model, item_id)
    if item is None or item.event_id != event_id:
        raise NotFound(f"No {model.__tablename__.rstrip('s').replace('_', ' ')} {item_id}.")
    return item


async def event_rows(session: AsyncSession, model: Any, event_id: int, order_by: Any) -> list[Any]:
    """Every row of ``model`` in the event (404 for an unknown event)."""
    await get_event(session, event_id)
    rows = await session.scalars(select(model).where(model.event_id == event_id).order_by(order_by))
    return list(rows.all())


async def event_of_row(session: AsyncSession, model: Any, item_id: int, code: str) -> int:
    """The event row ``item_id`` of ``model`` belongs to (for the rights check); else 404 ``code``."""
    event_id = await session.scalar(select(model.event_id).where(model.id == item_id))
    if event_id is None:
        raise NotFound(
            f"No {model.__tablename__.rstrip('s').replace('_', ' ')} {item_id}.", code=code
        )
    return int(event_id)
