"""Undoing a recent scan by its nonce (``annul``): the door pressed the wrong button.

An accepted scan's move is reversed — the ticket goes back where it was and
the zone counters with it — in one transaction that locks the scan and the
ticket rows; the door phones hear of it on the ``annulments`` topic, written
in the same transaction. The scan stays in the log, marked annulled.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row

from checkin.answers import TOPICS
from checkin.capacity import shard_walk
from checkin.store import CoreAnnul, annulling
from checkin.venue import Venue, venues
from server.context import Muster
from server.errors import Conflict, Forbidden, NotFound
from server.models import utcnow
from server.serialize import iso

log = logging.getLogger("muster.checkin")


async def annul(
    ctx: Muster, event_id: int, nonce: str, account_id: int, may_annul_any: bool
) -> dict[str, Any]:
    """Undo a scan by its nonce, within ``MUSTER_ANNUL_WINDOW_SECONDS``.

    The scanning device may annul its own scans; ``may_annul_any`` (command
    and organiser roles) any scan. An accepted scan's move is reversed —
    the ticket goes back where it was and the zone counts with it — provided
    the ticket has not moved since (else ``superseded``). The scan stays in
    the log, marked annulled. Annulling twice answers the same.
    """
    window = timedelta(seconds=ctx.settings.annul_window_seconds)
    venue = await venues(ctx).get(event_id)
    now = utcnow()
    async with annulling(ctx.db) as store:
        scan = await store.scan(event_id, nonce)
        if scan is None:
            raise NotFound(f"No scan with nonce {nonce!r} in this event.")
        if scan.device_id != account_id and not may_annul_any:
            raise Forbidden(
                "Only the device that made a scan (or the command centre) may annul it.",
                code="not_own_scan",
            )
        if scan.annulled_at is not None:
            return _annul_answer(scan, scan.annulled_at, scan.annulled_by)
        if now - scan.received_at > window:
            raise Conflict(
                f"Scans can only be annulled within {window.total_seconds():.0f} seconds.",
                code="annul_window_passed",
            )
        moved = scan.status == "ok" and scan.ticket_id is not None
        if moved:
            checked_in = await _reverse_move(store, venue, scan)
            # On the ``annulments`` topic (``realtime.topics.MESSAGE_TOPICS``), in
            # this transaction: the door phones drop the admission at once.
            message = annulment_json(scan.id, scan.ticket_id, scan.from_zone_id, checked_in, now)
            await store.publish(event_id, "annulments", message, now)
        await store.mark_annulled(scan.id, now, account_id)
    ctx.changed(event_id, *TOPICS, *(("annulments",) if moved else ()))
    return _annul_answer(scan, now, account_id)


def annulment_json(
    scan: int, ticket: int, zone: int | None, checked_in: bool, annulled_at: datetime
) -> dict[str, Any]:
    """An ``annulments`` message: scan ``scan`` of ``ticket`` was undone and its
    holder is now in ``zone`` (None: outside), checked in or not.

    Door phones drop the admission at once: before this topic they learnt it
    at their next offline-bundle sync, and refused the holder as already
    inside meanwhile if the network went.
    """
    return {
        "scan": scan,
        "ticket": ticket,
        "zone": zone,
        "checked_in": checked_in,
        "annulled_at": iso(annulled_at),
    }


async def _reverse_move(store: CoreAnnul, venue: Venue, scan: Row[Any]) -> bool:
    """Put the ticket back where the scan found it; whether it is still checked in."""
    ticket = await store.ticket(scan.ticket_id)
    if ticket is None:
        raise NotFound(f"No ticket {scan.ticket_id}.")
    if ticket.zone_id != scan.to_zone_id:
        raise Conflict(
            "The ticket has been scanned again since; annul the later scan first.",
            code="superseded",
        )
    shards = store.shards
    back = shard_walk(venue, scan.from_zone_id, ticket.id)
    # Touch the two zones' counters in zone-id order, like the sync's locks.
    for zone_id in sorted(z for z in (scan.to_zone_id, scan.from_zone_id) if z is not None):
        if zone_id == scan.to_zone_id and (gone := shard_walk(venue, zone_id, ticket.id)):
            if not await shards.leave(gone):
                log.warning("zone %s: an annul left it, but its shards count nobody", zone_id)
        elif back is not None and await shards.enter(back) is None:
            # The way back is "full" now; the holder was counted there
            # before this scan, so they are counted there again.
            await shards.force_into(back)
    # The first admission is whatever accepted entry from outside is left.
    first_in = await store.first_admission(scan.event_id, ticket.id, scan.id)
    await store.put_back(ticket.id, scan.from_zone_id, first_in)
    return first_in is not None


def _annul_answer(scan: Row[Any], annulled_at: datetime, annulled_by: int | None) -> dict[str, Any]:
    return {
        "nonce": scan.nonce,
        "annulled_at": iso(annulled_at),
        "annulled_by": annulled_by,
        "scan": scan.response,
        "ticket": None
        if scan.ticket_id is None
        else {
            "id": scan.ticket_id,
            "zone": scan.from_zone_id if scan.status == "ok" else scan.to_zone_id,
        },
    }
