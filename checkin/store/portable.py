"""The scan path's statements that are the same SQLAlchemy Core on both databases.

They are the rare or small ones, where compiling a Core statement costs
nothing that matters: the whole of an annul, and the steps of a zone counter
and a ticket move that the other forms build on. The hot statements have a
PostgreSQL form (``checkin.store.postgres``) and a SQLite form
(``checkin.store.sqlite``); an offline replay's are in ``checkin.store.replay``
(its Core ones there too, beside the others).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from checkin.store.rows import TICKET_FIELDS, ShardWalk
from server.db import Database
from server.models import BusMessage, Scan, Ticket, ZoneShard, utcnow

#: The scan path's tables as Core tables (for every form's Core statements).
TICKETS = cast(Table, Ticket.__table__)
SCANS = cast(Table, Scan.__table__)
SHARDS = cast(Table, ZoneShard.__table__)
TICKET_COLUMNS = tuple(TICKETS.c[name] for name in TICKET_FIELDS)


@contextlib.asynccontextmanager
async def writing(db: Database) -> AsyncIterator[AsyncConnection]:
    """A Core connection in a transaction, under the SQLite writer lock."""
    lock = db.write_lock if db.is_sqlite else contextlib.nullcontext()
    async with lock, db.engine.begin() as conn:
        yield conn


ENTER_SHARD = (
    update(SHARDS)
    .where(
        SHARDS.c.zone_id == bindparam("b_zone"),
        SHARDS.c.shard == bindparam("b_shard"),
        or_(SHARDS.c.cap.is_(None), SHARDS.c.inside < SHARDS.c.cap),
    )
    .values(inside=SHARDS.c.inside + 1)
    .returning(SHARDS.c.inside, SHARDS.c.cap)
)
LEAVE_SHARD = (
    update(SHARDS)
    .where(
        SHARDS.c.zone_id == bindparam("b_zone"),
        SHARDS.c.shard == bindparam("b_shard"),
        SHARDS.c.inside > 0,
    )
    .values(inside=SHARDS.c.inside - 1)
    .returning(SHARDS.c.inside)
)
_FORCE_SHARD = (
    update(SHARDS)
    .where(SHARDS.c.zone_id == bindparam("b_zone"), SHARDS.c.shard == bindparam("b_shard"))
    .values(inside=SHARDS.c.inside + 1)
)
#: Move a ticket (no guard: the caller holds its row lock, or adds the guard).
MOVE_TICKET = (
    update(TICKETS)
    .where(TICKETS.c.id == bindparam("ticket"))
    .values(
        zone_id=bindparam("zone_after"),
        # Typed, so that SQLite stores it as the column's own text (the guard compares it).
        checked_in_at=func.coalesce(
            TICKETS.c.checked_in_at, bindparam("first_in", type_=TICKETS.c.checked_in_at.type)
        ),
    )
)


class CoreShards:
    """Zone counter steps as Core statements in the caller's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def enter(self, walk: ShardWalk) -> tuple[int, int | None] | None:
        """Take a place in a shard with room: (its new inside, its cap), or None when full."""
        for step in range(walk.count):
            shard = (walk.start + step) % walk.count
            found = await self.conn.execute(ENTER_SHARD, {"b_zone": walk.zone_id, "b_shard": shard})
            row = found.first()
            if row is not None:
                return int(row.inside), row.cap
        return None

    async def leave(self, walk: ShardWalk) -> bool:
        for step in range(walk.count):
            shard = (walk.start + step) % walk.count
            found = await self.conn.execute(LEAVE_SHARD, {"b_zone": walk.zone_id, "b_shard": shard})
            if found.first() is not None:
                return True
        return False

    async def force_into(self, walk: ShardWalk) -> None:
        """Count one more person whatever the caps (undoing a departure)."""
        if walk.count:
            await self.conn.execute(
                _FORCE_SHARD, {"b_zone": walk.zone_id, "b_shard": walk.start % walk.count}
            )


class CoreAnnul:
    """An annul's statements in its transaction (``checkin.annul``): rows locked."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.shards = CoreShards(conn)

    async def scan(self, event_id: int, nonce: str) -> Row[Any] | None:
        query = select(SCANS).where(SCANS.c.event_id == event_id, SCANS.c.nonce == nonce)
        return (await self.conn.execute(query.with_for_update())).first()

    async def ticket(self, ticket_id: int) -> Row[Any] | None:
        query = select(*TICKET_COLUMNS).where(TICKETS.c.id == ticket_id)
        return (await self.conn.execute(query.with_for_update())).first()

    async def first_admission(
        self, event_id: int, ticket_id: int, but_scan: int
    ) -> datetime | None:
        """The earliest accepted entry of the ticket left once ``but_scan`` is undone."""
        first_in = await self.conn.scalar(
            select(func.min(SCANS.c.received_at)).where(
                SCANS.c.event_id == event_id,
                SCANS.c.ticket_id == ticket_id,
                SCANS.c.id != but_scan,
                SCANS.c.status == "ok",
                SCANS.c.direction == "in",
                SCANS.c.annulled_at.is_(None),
            )
        )
        if isinstance(first_in, str):  # an aggregate on SQLite loses the column type
            first_in = datetime.fromisoformat(first_in).replace(tzinfo=utcnow().tzinfo)
        return cast(datetime | None, first_in)

    async def put_back(
        self, ticket_id: int, zone_id: int | None, first_in: datetime | None
    ) -> None:
        await self.conn.execute(
            update(TICKETS)
            .where(TICKETS.c.id == ticket_id)
            .values(zone_id=zone_id, checked_in_at=first_in)
        )

    async def mark_annulled(self, scan_id: int, at: datetime, by: int) -> None:
        await self.conn.execute(
            update(SCANS).where(SCANS.c.id == scan_id).values(annulled_at=at, annulled_by=by)
        )

    async def publish(
        self, event_id: int, topic: str, message: dict[str, Any], at: datetime
    ) -> None:
        """A message on a stream topic, in this transaction (``realtime.outbox``)."""
        await self.conn.execute(
            insert(BusMessage).values(
                event_id=event_id, topic=topic, payload=message, created_at=at
            )
        )
