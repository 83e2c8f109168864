"""What the scan path's statements read and write, the same on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

TICKET_FIELDS = (
    "id",
    "type_id",
    "holder_name",
    "code",
    "status",
    "generation",
    "valid_from",
    "valid_until",
    "zone_id",
    "checked_in_at",
)

SCAN_FIELDS = (
    "event_id",
    "ticket_id",
    "gate_id",
    "device_id",
    "direction",
    "nonce",
    "scanned_at",
    "received_at",
    "status",
    "reason",
    "from_zone_id",
    "to_zone_id",
    "offline",
    "conflict_with",
    "annulled_at",
    "annulled_by",
    "response",
)


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: int
    type_id: int
    holder_name: str
    code: str
    status: str
    generation: int
    valid_from: datetime | None
    valid_until: datetime | None
    zone_id: int | None
    checked_in_at: datetime | None

    def moved(self, zone_id: int | None, checked_in_at: datetime | None) -> TicketRow:
        """The same ticket after a move (``dataclasses.replace`` costs ~3× as much)."""
        return TicketRow(
            self.id,
            self.type_id,
            self.holder_name,
            self.code,
            self.status,
            self.generation,
            self.valid_from,
            self.valid_until,
            zone_id,
            checked_in_at,
        )


@dataclass(frozen=True, slots=True)
class Seen:
    """What ``read`` found: the ticket (None: no such secret or id) and the
    answer stored for the nonce (None: a new nonce)."""

    ticket: TicketRow | None
    stored: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ShardWalk:
    """The shards of one zone, walked from ``start`` (the ticket's own shard)."""

    zone_id: int
    start: int
    count: int


@dataclass(frozen=True, slots=True)
class Move:
    """An accepted scan's change: the ticket from ``seen.zone_id`` to ``zone_after``."""

    seen: TicketRow
    zone_after: int | None
    #: The first admission's time, when this scan may be it.
    first_in: datetime | None
    #: The zone counters to take a place in and to give one back to.
    enter: ShardWalk | None
    leave: ShardWalk | None


#: ``apply`` outcomes.
APPLIED = "applied"
#: The ticket no longer holds what the decision was taken on: read again.
STALE = "stale"
#: No shard of the zone entered has room.
FULL = "full"
#: The nonce was logged meanwhile (a twin request): answer with the stored one.
REPEATED = "repeated"


@dataclass(frozen=True, slots=True)
class Applied:
    outcome: str
    scan_id: int | None = None
    #: The entered shard's (inside, cap) after the move.
    taken: tuple[int, int | None] | None = None


#: A door-line batch's tickets moved: each as it was read, and after the batch.
BatchMoves = list[tuple[TicketRow, TicketRow]]
#: The zone shards a batch counted: (zone, inside, cap).
Counted = list[tuple[int, int, int | None]]


@dataclass(frozen=True, slots=True)
class ZoneStep:
    """A batch's people entering and leaving one zone, its shards walked from ``start``."""

    zone_id: int
    enters: int
    leaves: int
    start: int
    count: int


@dataclass
class Logged:
    """A scan already in the log (its nonce came before: online, or in an earlier batch)."""

    id: int
    ticket_id: int | None
    conflict_with: int | None
    answer: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TicketMove:
    """Where an offline replay leaves a ticket."""

    ticket_id: int
    zone_id: int | None
    first_in: datetime | None
