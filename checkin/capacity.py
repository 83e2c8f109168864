"""Zone capacity without a hot row: sharded counters, and the alerts as a zone fills.

A zone's capacity is split over a few ``zone_shards`` rows whose caps sum
to it (``slice_capacity``); an admission takes a place in one shard with
room (``inside < cap``, re-checked by the database), starting at the shard
the ticket id picks (``shard_walk``), so concurrent doors mostly touch
different rows. ``zone_full`` is answered only when no shard had room, and
the ticket is never moved without its place: a zone's inside count never
exceeds its capacity. The statements are the store's (``checkin.store``).

As a zone fills, the command centre is told once: a "zone_near_full" alert
at the zone's soft warning level, a "zone_full" alert at its capacity
(``zone_alert_level``, then ``raise_zone_alert`` after the scan committed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.rules import ZONE_AT_CAPACITY, ZONE_OK, zone_level
from checkin.store import ShardWalk, Store
from checkin.venue import Venue, VenueCache, ZoneInfo
from server.features.alerts import raise_alert
from server.models import Zone, ZoneShard

#: After a zone alert was raised (or found raised), this process skips the
#: near-full/full checks of that zone for this long.
ZONE_ALERT_QUIET_SECONDS = 30.0


# --- the counters ------------------------------------------------------------------------


def slice_capacity(capacity: int | None, shards: int) -> list[int | None]:
    """Split ``capacity`` into ``shards`` caps that sum to it exactly."""
    if capacity is None:
        return [None] * shards
    base, extra = divmod(capacity, shards)
    return [base + (1 if i < extra else 0) for i in range(shards)]


def new_shards(zone_id: int, capacity: int | None, shards: int) -> list[ZoneShard]:
    """The counter rows of a new zone, empty, their caps summing to ``capacity``."""
    caps = slice_capacity(capacity, shards)
    return [ZoneShard(zone_id=zone_id, shard=i, inside=0, cap=c) for i, c in enumerate(caps)]


async def reslice_zone(session: AsyncSession, zone: Zone) -> None:
    """Give the zone's shards new caps after a capacity change.

    Rows are locked in shard order (the order admissions never hold two in),
    and people already inside stay counted where they are: a shard over its
    new cap simply admits no one until enough have left.
    """
    shards = (
        await session.scalars(
            select(ZoneShard)
            .where(ZoneShard.zone_id == zone.id)
            .order_by(ZoneShard.shard)
            .with_for_update()
        )
    ).all()
    for shard, cap in zip(shards, slice_capacity(zone.capacity, len(shards)), strict=True):
        shard.cap = cap


def shard_walk(venue: Venue, zone_id: int | None, ticket_id: int) -> ShardWalk | None:
    """The counters of a zone, walked from the ticket's own shard (None: outside)."""
    if zone_id is None:
        return None
    zone = venue.zones.get(zone_id)
    if zone is None:
        return None
    # A zone without shard rows has no place to give: it answers zone_full.
    return ShardWalk(zone_id, ticket_id, max(zone.shards, 1))


# --- the alerts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneLevel:
    zone: ZoneInfo
    total: int
    full: bool


async def zone_alert_level(
    store: Store,
    cache: VenueCache,
    zone: ZoneInfo | None,
    taken: tuple[int, int | None] | None,
    refused_full: bool,
) -> ZoneLevel | None:
    """Whether a zone just reached its "near full" or "full" level (alert it after commit).

    ``taken`` is the (inside, cap) of the shard an admission just took a
    place in; ``refused_full`` says a scan was just refused ``zone_full``.
    Cheap on the common path: the zone's total is summed only when the
    shard just used is itself past its slice of the warning level (when the
    zone total crosses a level, at least one shard has crossed its slice),
    and not again in this process for ``ZONE_ALERT_QUIET_SECONDS``.
    """
    if zone is None or zone.capacity is None:
        return None
    quiet = cache.quiet_zones
    now = time.monotonic()
    kinds = ("zone_full",) if refused_full else ("zone_near_full", "zone_full")
    if all(quiet.get((zone.id, kind), 0.0) > now for kind in kinds):
        return None
    if not refused_full and (
        taken is None or zone_level(taken[0], taken[1], zone.soft_warning) == ZONE_OK
    ):
        return None
    total = await store.zone_total(zone.id)
    reached = zone_level(total, zone.capacity, zone.soft_warning)
    if reached == ZONE_OK and not refused_full:
        return None
    full = refused_full or reached == ZONE_AT_CAPACITY
    kind = "zone_full" if full else "zone_near_full"
    if quiet.get((zone.id, kind), 0.0) > now:
        return None
    quiet[(zone.id, kind)] = now + ZONE_ALERT_QUIET_SECONDS
    return ZoneLevel(zone, total, full)


async def raise_zone_alert(session: AsyncSession, event_id: int, level: ZoneLevel) -> bool:
    """Raise a zone's "zone_full" or "zone_near_full" alert (once while unacknowledged)."""
    kind = "zone_full" if level.full else "zone_near_full"
    zone = level.zone
    alert = await raise_alert(
        session,
        event_id,
        kind,
        severity="critical" if level.full else "warning",
        data={
            "zone": zone.id,
            "name": zone.name,
            "inside": level.total,
            "capacity": zone.capacity,
        },
        dedupe_key=f"{kind}:{zone.id}",
    )
    return alert is not None
