"""The admission decision: one pure function, the same online, offline and at sync.

The door phone evaluates the same rule when it has no network:
``pwa/shared/rules.js`` is the JavaScript copy (keep the two in step; the
reason codes are a stable contract).

Inputs are plain data. The callers read them with no lock and apply the
result with a statement that moves the ticket only if it still holds what
was read (``checkin.store.guard``), deciding again when it no longer does
(``checkin/admission.py``, ``checkin/door_line.py``); the offline replay
reads them under row locks (``checkin/sync.py``).

A zone's level (``zone_level``) is here too: the headcount shows it, and the
doors and the offline replay raise the near-full and full alerts by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

# Stable reason codes (DESIGN.md, Admission).
INVALID = "invalid"
WRONG_EVENT = "wrong_event"
REVOKED = "revoked"
#: The event's personal data was shredded (or the holder erased): the
#: ticket's secret is retired and no QR of it admits anyone again.
RETIRED = "retired"
NOT_YET_VALID = "not_yet_valid"
EXPIRED = "expired"
ALREADY_INSIDE = "already_inside"
NOT_INSIDE = "not_inside"
ZONE_FULL = "zone_full"
WRONG_ZONE = "wrong_zone"

REASONS = (
    INVALID,
    WRONG_EVENT,
    REVOKED,
    RETIRED,
    NOT_YET_VALID,
    EXPIRED,
    ALREADY_INSIDE,
    NOT_INSIDE,
    ZONE_FULL,
    WRONG_ZONE,
)


@dataclass(frozen=True)
class TicketState:
    """What the server (or the phone) knows of a ticket at the moment of the scan."""

    #: "valid", "revoked", "retired" or "blank" (an unbound walk-in blank).
    status: str
    #: The generation the database holds; a secret of another one was re-issued.
    generation: int
    #: Zone ids the ticket's type may enter; None: every zone.
    allowed_zones: frozenset[int] | None
    reentry: bool
    valid_from: datetime | None
    valid_until: datetime | None
    #: Where the holder is now: a zone id, or None when outside.
    zone_id: int | None
    #: True once the holder has been admitted at least once.
    checked_in: bool


@dataclass(frozen=True)
class GateMove:
    """A gate leads from ``from_zone`` (None: outside) into ``to_zone``.

    Scanning "in" moves from → to; scanning "out" moves to → from.
    """

    from_zone: int | None
    to_zone: int
    direction: str

    @property
    def leaving(self) -> int | None:
        return self.from_zone if self.direction == "in" else self.to_zone

    @property
    def entering(self) -> int | None:
        return self.to_zone if self.direction == "in" else self.from_zone


@dataclass(frozen=True)
class Decision:
    ok: bool
    reason: str | None
    #: The zone the holder is in after the scan (None: outside).
    zone_after: int | None


def decide(
    ticket: TicketState,
    secret_generation: int,
    move: GateMove,
    when: datetime,
    zone_has_room: bool = True,
) -> Decision:
    """Admit, let out, or refuse with a stable reason.

    ``zone_has_room`` is whether the zone being entered can take one more;
    the caller settles it (with sharded capacity counters on the server,
    optimistically offline) and passes True when no zone is entered.
    """

    def refuse(reason: str) -> Decision:
        return Decision(False, reason, ticket.zone_id)

    if ticket.status == RETIRED:
        return refuse(RETIRED)
    if ticket.status == "blank":
        # A walk-in blank not bound to anyone yet (server.features.walk_ins): no ticket.
        return refuse(INVALID)
    if ticket.status == "revoked" or secret_generation != ticket.generation:
        return refuse(REVOKED)
    if ticket.valid_from is not None and when < ticket.valid_from:
        return refuse(NOT_YET_VALID)
    if ticket.valid_until is not None and when > ticket.valid_until:
        return refuse(EXPIRED)
    if ticket.zone_id != move.leaving:
        # Going in to where the holder already is, or in from outside while
        # recorded inside anywhere (anti-passback): already inside. Any other
        # move from a zone the holder is not in — through an inner door
        # (Hall A → VIP) before entering Hall A, or out of a zone never
        # entered — is not_inside: not inside the zone the move leaves.
        if move.direction == "in" and (
            ticket.zone_id == move.to_zone
            or (move.from_zone is None and ticket.zone_id is not None)
        ):
            return refuse(ALREADY_INSIDE)
        return refuse(NOT_INSIDE)
    entering = move.entering
    if entering is not None:
        if ticket.allowed_zones is not None and entering not in ticket.allowed_zones:
            return refuse(WRONG_ZONE)
        if (
            move.direction == "in"
            and move.from_zone is None
            and ticket.checked_in
            and not ticket.reentry
        ):
            return refuse(ALREADY_INSIDE)
        if not zone_has_room:
            return refuse(ZONE_FULL)
    return Decision(True, None, entering)


#: ``zone_level`` answers.
ZONE_OK = "ok"
ZONE_NEAR_FULL = "near_full"
ZONE_AT_CAPACITY = "full"


def zone_level(inside: int, capacity: int | None, soft_warning: float) -> str:
    """ "ok", "near_full" (at or over the soft warning share of the
    capacity) or "full" (at or over the capacity); "ok" without a capacity.

    ``pwa/command/model.js`` shows the level the headcount sends; it does
    not compute it again.
    """
    if capacity is None:
        return ZONE_OK
    if inside >= capacity:
        return ZONE_AT_CAPACITY
    if inside >= math.ceil(capacity * soft_warning):
        return ZONE_NEAR_FULL
    return ZONE_OK
