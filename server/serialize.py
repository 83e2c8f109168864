"""Plain-dict views of the models, as the API returns them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.models import Event, Gate, Ticket, TicketType, Zone


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, whatever offset the value was given with."""
    if value is None:
        return None
    # Most values are UTC already (the clock, the database): skip the conversion.
    return (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat()


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "starts_at": iso(event.starts_at),
        "ends_at": iso(event.ends_at),
        "timezone": event.timezone,
        "language": event.language,
        "location": event.location,
        "options": event.options,
        "created_at": iso(event.created_at),
        "retention_days": event.retention_days,
        "shredded_at": iso(event.shredded_at),
    }


def zone_json(zone: Zone) -> dict[str, Any]:
    return {
        "id": zone.id,
        "event_id": zone.event_id,
        "name": zone.name,
        "capacity": zone.capacity,
        "soft_warning": zone.soft_warning,
        "archived_at": iso(zone.archived_at),
    }


def gate_json(gate: Gate) -> dict[str, Any]:
    return {
        "id": gate.id,
        "event_id": gate.event_id,
        "name": gate.name,
        "from_zone": gate.from_zone_id,
        "to_zone": gate.to_zone_id,
        "archived_at": iso(gate.archived_at),
    }


def ticket_type_json(ticket_type: TicketType) -> dict[str, Any]:
    return {
        "id": ticket_type.id,
        "event_id": ticket_type.event_id,
        "name": ticket_type.name,
        "zones": ticket_type.zone_ids,
        "reentry": ticket_type.reentry,
        "is_default": ticket_type.is_default,
        "valid_from": iso(ticket_type.valid_from),
        "valid_until": iso(ticket_type.valid_until),
        "archived_at": iso(ticket_type.archived_at),
    }


def ticket_json(
    ticket: Ticket, *, with_secret: bool = True, with_contact: bool = True
) -> dict[str, Any]:
    """A ticket; ``with_secret`` and ``with_contact`` (its email) say what the
    reader may see (server/features/rights.py: ``ticket_view`` picks them by role)."""
    out: dict[str, Any] = {
        "id": ticket.id,
        "event_id": ticket.event_id,
        "ticket_type": ticket.type_id,
        "holder_name": ticket.holder_name,
        "language": ticket.language,
        "code": ticket.code,
        "status": ticket.status,
        "generation": ticket.generation,
        "valid_from": iso(ticket.valid_from),
        "valid_until": iso(ticket.valid_until),
        "zone": ticket.zone_id,
        "checked_in_at": iso(ticket.checked_in_at),
    }
    if with_contact:
        out["holder_email"] = ticket.holder_email
    if with_secret:
        out["secret"] = ticket.secret
    return out


#: What a door sees of a ticket it looks up: what admitting by name needs
#: (who, which ticket type, the printed code, inside or not) and nothing more.
#: The printed code admits through the server (POST /scans), so a door never
#: needs another ticket's secret; pwa/app/scanner.js (lookup) reads these.
DOOR_TICKET_FIELDS = (
    "id",
    "event_id",
    "ticket_type",
    "holder_name",
    "code",
    "status",
    "zone",
    "checked_in_at",
)


def door_ticket_json(ticket: Ticket) -> dict[str, Any]:
    full = ticket_json(ticket, with_secret=False, with_contact=False)
    return {name: full[name] for name in DOOR_TICKET_FIELDS}
