"""What a scan asks and what it is answered: the shapes every admission path shares.

``ScanRequest`` is one scan as a door sent it (online, or replayed from an
offline queue); ``answer`` is the JSON a door gets back and the scan log
stores (``scans.response``), so a repeated nonce is answered the same;
``scan_row`` is the scan log's row. The single path
(``checkin.admission``), the door line (``checkin.door_line``) and the
offline replay (``checkin.sync``) all build their answers here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from checkin.rules import Decision, GateMove, TicketState
from checkin.store import TicketRow
from checkin.venue import GateInfo, Venue
from server.serialize import iso

#: The realtime topics an admission changes: its row on ``admissions`` (which
#: wakes the hub's scans reader). The headcount and the gates follow from
#: that row: the hub marks them when it has summed it (``realtime.hub``), so
#: an update never comes before its figures can show the scan.
TOPICS = ("admissions",)


@dataclass(frozen=True)
class ScanRequest:
    secret: str
    gate_id: int
    direction: str
    nonce: str
    scanned_at: datetime
    #: The scanning account (``Principal.account_id``).
    device_id: int | None
    #: Offline scans only: did the phone let the person through?
    local_ok: bool = True
    #: Offline scans only: the phone's reason when it refused.
    local_reason: str | None = None


#: A ticket's hot-path columns: from the store, or a Core row.
AnyTicket = TicketRow | Row[Any]


@dataclass(frozen=True)
class Verdict:
    """A verified secret's ticket (or the reason the secret was refused)."""

    ticket: AnyTicket | None
    generation: int
    reason: str | None

    @property
    def ticket_id(self) -> int | None:
        return None if self.ticket is None else int(self.ticket.id)


def ticket_state(row: AnyTicket, venue: Venue) -> TicketState:
    """The rule's view of a ticket row (``checkin.rules.decide``)."""
    ticket_type = venue.types.get(row.type_id)
    return TicketState(
        status=row.status,
        generation=row.generation,
        allowed_zones=ticket_type.zones if ticket_type else None,
        reentry=ticket_type.reentry if ticket_type else True,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        zone_id=row.zone_id,
        checked_in=row.checked_in_at is not None,
    )


def ticket_json(
    row: AnyTicket | None, venue: Venue, zone_after: int | None
) -> dict[str, Any] | None:
    if row is None:
        return None
    ticket_type = venue.types.get(row.type_id)
    return {
        "id": row.id,
        "holder_name": row.holder_name,
        "code": row.code,
        "ticket_type": {"id": row.type_id, "name": ticket_type.name if ticket_type else None},
        "zone": zone_after,
        "checked_in_at": iso(row.checked_in_at),
    }


def zone_json(venue: Venue, zone_id: int | None) -> dict[str, Any] | None:
    if zone_id is None:
        return None
    zone = venue.zones.get(zone_id)
    return {"id": zone_id, "name": zone.name if zone else None}


def answer(
    scan: ScanRequest,
    venue: Venue,
    gate: GateInfo,
    ticket: AnyTicket | None,
    decision: Decision,
    received_at: datetime,
    first_admitted_at: datetime | None = None,
) -> dict[str, Any]:
    """The answer to a scan, as returned and stored in ``scans.response``.

    ``zone`` is the zone the scan leads into (None: out of the venue);
    ``ticket.zone`` is where the holder is after the scan.
    """
    move = GateMove(gate.from_zone, gate.to_zone, scan.direction)
    body = ticket_json(ticket, venue, decision.zone_after)
    if body is not None and first_admitted_at is not None and body["checked_in_at"] is None:
        body["checked_in_at"] = iso(first_admitted_at)
    return {
        "status": "ok" if decision.ok else "error",
        "reason": decision.reason,
        "nonce": scan.nonce,
        "gate": gate.id,
        "direction": scan.direction,
        "ticket": body,
        "zone": zone_json(venue, move.entering),
        "scanned_at": iso(scan.scanned_at),
        "received_at": iso(received_at),
    }


def scan_row(
    event_id: int,
    scan: ScanRequest,
    ticket_id: int | None,
    decision: Decision,
    zone_before: int | None,
    received_at: datetime,
    response: dict[str, Any],
    *,
    offline: bool = False,
    conflict_with: int | None = None,
    scan_id: int | None = None,
) -> dict[str, Any]:
    """The scan log's row: from_zone_id is where the holder was, to_zone_id where they are."""
    row = {
        "event_id": event_id,
        "ticket_id": ticket_id,
        "gate_id": scan.gate_id,
        "device_id": scan.device_id,
        "direction": scan.direction,
        "nonce": scan.nonce,
        "scanned_at": scan.scanned_at,
        "received_at": received_at,
        "status": "ok" if decision.ok else "error",
        "reason": decision.reason,
        "from_zone_id": zone_before,
        "to_zone_id": decision.zone_after if decision.ok else zone_before,
        "offline": offline,
        "conflict_with": conflict_with,
        "annulled_at": None,
        "annulled_by": None,
        "response": response,
    }
    if scan_id is not None:
        row["id"] = scan_id
    return row
