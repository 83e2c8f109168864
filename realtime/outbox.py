"""Writing stream-topic messages in the business transaction.

A message is a ``bus_messages`` row added to the caller's session, so it
commits (or rolls back) with the change it describes; the hub of every
server process reads it from there. Call ``Muster.changed`` after the commit
to wake the hub at once instead of at its next poll.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from realtime.topics import MESSAGE_TOPICS
from server.models import BusMessage


def publish(session: AsyncSession, event_id: int, topic: str, data: dict[str, Any]) -> BusMessage:
    if topic not in MESSAGE_TOPICS:
        raise ValueError(f"{topic!r} is not a topic of bus_messages")
    message = BusMessage(event_id=event_id, topic=topic, payload=data)
    session.add(message)
    return message
