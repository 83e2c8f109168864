"""An event's venue (gates, zones, ticket types) as the doors read it: cached per process.

Every scan needs its gate, the zones on either side and its ticket's type;
reading them from the database each time would be three queries a scan.
Each process keeps a copy per event for ``VENUE_CACHE_SECONDS``; an unknown
gate or zone id reloads at once, but an edit to an existing gate or ticket
type takes up to that long to reach other processes' door answers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from server.context import Muster, Slot
from server.db import Database
from server.errors import InvalidRequest
from server.lookup import get_event
from server.models import Gate, TicketType, Zone, ZoneShard

#: How long a process trusts its copy of an event's gates, zones and types.
VENUE_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class GateInfo:
    id: int
    name: str
    from_zone: int | None
    to_zone: int


@dataclass(frozen=True)
class ZoneInfo:
    id: int
    name: str
    capacity: int | None
    soft_warning: float
    shards: int


@dataclass(frozen=True)
class TypeInfo:
    id: int
    name: str
    zones: frozenset[int] | None
    reentry: bool


@dataclass(frozen=True)
class Venue:
    event_id: int
    gates: dict[int, GateInfo]
    zones: dict[int, ZoneInfo]
    types: dict[int, TypeInfo]
    loaded_at: float

    def gate(self, gate_id: int) -> GateInfo | None:
        return self.gates.get(gate_id)


async def load_venue(db: Database, event_id: int) -> Venue:
    started = time.monotonic()
    async with db.reading() as session:
        await get_event(session, event_id)
        gates = (await session.scalars(select(Gate).where(Gate.event_id == event_id))).all()
        zones = (await session.scalars(select(Zone).where(Zone.event_id == event_id))).all()
        types = (
            await session.scalars(select(TicketType).where(TicketType.event_id == event_id))
        ).all()
        counted = await session.execute(
            select(ZoneShard.zone_id, func.count())
            .join(Zone, Zone.id == ZoneShard.zone_id)
            .where(Zone.event_id == event_id)
            .group_by(ZoneShard.zone_id)
        )
        shard_counts = {int(zone_id): int(n) for zone_id, n in counted}
    return Venue(
        event_id=event_id,
        gates={g.id: GateInfo(g.id, g.name, g.from_zone_id, g.to_zone_id) for g in gates},
        zones={
            z.id: ZoneInfo(z.id, z.name, z.capacity, z.soft_warning, int(shard_counts.get(z.id, 0)))
            for z in zones
        },
        types={
            t.id: TypeInfo(
                t.id,
                t.name,
                None if t.zone_ids is None else frozenset(int(z) for z in t.zone_ids),
                t.reentry,
            )
            for t in types
        },
        loaded_at=started,
    )


class VenueCache:
    """Each event's venue data, per process, for ``VENUE_CACHE_SECONDS``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._venues: dict[int, Venue] = {}
        self._loading: dict[int, asyncio.Lock] = {}
        #: (zone id, alert kind) -> monotonic time until which it is not
        #: checked (``checkin.capacity``).
        self.quiet_zones: dict[tuple[int, str], float] = {}

    async def get(self, event_id: int, *, fresh: bool = False) -> Venue:
        asked = time.monotonic()
        venue = self._venues.get(event_id)
        if not fresh and venue is not None and asked - venue.loaded_at <= VENUE_CACHE_SECONDS:
            return venue
        # One load at a time per event: when the copy expires in a rush, the
        # 64 scans waiting on it take the one reload instead of making 64.
        async with self._loading.setdefault(event_id, asyncio.Lock()):
            venue = self._venues.get(event_id)
            if venue is not None and (
                venue.loaded_at >= asked
                or (not fresh and time.monotonic() - venue.loaded_at <= VENUE_CACHE_SECONDS)
            ):
                return venue
            venue = await load_venue(self.db, event_id)
            self._venues[event_id] = venue
        return venue

    async def gate(self, event_id: int, gate_id: int) -> tuple[Venue, GateInfo]:
        venue = await self.get(event_id)
        gate = venue.gate(gate_id)
        if gate is None:
            venue = await self.get(event_id, fresh=True)
            gate = venue.gate(gate_id)
        if gate is None:
            raise InvalidRequest(f"No gate {gate_id} in this event.", code="unknown_gate")
        return venue, gate

    async def with_gates(self, event_id: int, gate_ids: set[int]) -> Venue:
        """The venue, reloaded once if it lacks one of ``gate_ids``; ``unknown_gate`` if still."""
        venue = await self.get(event_id)
        if any(g not in venue.gates for g in gate_ids):
            venue = await self.get(event_id, fresh=True)
        unknown = sorted(g for g in gate_ids if g not in venue.gates)
        if unknown:
            raise InvalidRequest(
                f"No gate {unknown[0]} in this event.", {"gates": unknown}, code="unknown_gate"
            )
        return venue

    def forget(self, event_id: int | None = None) -> None:
        if event_id is None:
            self._venues.clear()
        else:
            self._venues.pop(event_id, None)


#: This process's venue cache in ``Muster.parts`` (made on first use).
VENUES: Slot[VenueCache] = Slot("checkin.venues")


def venues(ctx: Muster) -> VenueCache:
    cache = ctx.part(VENUES)
    if cache is None or cache.db is not ctx.db:
        cache = ctx.keep(VENUES, VenueCache(ctx.db))
    return cache
