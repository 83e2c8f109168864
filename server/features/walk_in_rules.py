"""Walk-ins at the door: the pure rules (``server/features/walk_ins.py`` wraps them).

A door supervisor's phone holds a few signed blank tickets per ticket type
(the signing key never leaves the server). Registering a walk-in binds one
blank to the person on the phone, admits it, and sends the registration
with a nonce, at once or from the offline queue; the server binds it once.

Conflicts are answers, flagged like offline scan conflicts (a
``walk_in_conflict`` alert), never errors: the person may already be inside.
The phone's copy of the contact check is ``pwa/app/walkin.js`` (checkContact).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

BOUND = "ok"
CONFLICT = "conflict"

#: Not a blank of this event at all (another event's, or an ordinary ticket).
UNKNOWN_BLANK = "unknown_blank"
#: A blank another phone holds.
NOT_YOUR_BLANK = "not_your_blank"
#: Revoked: its phone was unpaired, or the organiser revoked it.
BLANK_REVOKED = "blank_revoked"
#: Bound to someone else already (another nonce).
BLANK_TAKEN = "blank_taken"
CONFLICTS = (UNKNOWN_BLANK, NOT_YOUR_BLANK, BLANK_REVOKED, BLANK_TAKEN)

#: The most blanks of one type a phone holds, whatever the setting.
MAX_PER_TYPE = 200


@dataclass(frozen=True)
class BlankState:
    """What the server knows of the ticket a registration names."""

    event_id: int
    #: The phone holding it; None: the ticket was never a walk-in blank.
    device_id: int | None
    #: The ticket's status: "blank", "valid" (bound), "revoked", "retired".
    status: str
    #: The walk-in that bound it, if any.
    bound_by: int | None


def judge_binding(blank: BlankState | None, event_id: int, device_id: int) -> str | None:
    """None: bind it; else the conflict's code."""
    if blank is None or blank.event_id != event_id or blank.device_id is None:
        return UNKNOWN_BLANK
    if blank.device_id != device_id:
        return NOT_YOUR_BLANK
    if blank.status in ("revoked", "retired"):
        return BLANK_REVOKED
    if blank.bound_by is not None or blank.status != "blank":
        return BLANK_TAKEN
    return None


def blanks_to_give(held: Mapping[int, int], live_types: Iterable[int], per_type: int) -> list[int]:
    """The ticket type of each blank to add so the phone holds ``per_type`` of
    every live type (``held``: type → unbound blanks it holds now)."""
    target = max(0, min(per_type, MAX_PER_TYPE))
    wanted: list[int] = []
    for type_id in sorted(set(live_types)):
        wanted.extend([type_id] * max(0, target - held.get(type_id, 0)))
    return wanted


def contact_problem(name: str, email: str, phone: str) -> str | None:
    """The code of what is wrong with a registration's person, or None."""
    if not name.strip():
        return "name_empty"
    if not email.strip() and not phone.strip():
        return "contact_required"
    mail = email.strip()
    if mail and ("@" not in mail or " " in mail):
        return "email_invalid"
    if phone.strip() and not any(ch.isdigit() for ch in phone):
        return "phone_invalid"
    return None


def qr_bits(matrix: list[list[bool]]) -> bytes:
    """A QR module matrix as bits, row after row, the first module in the
    highest bit: ~300 bytes a ticket, so a phone draws a walk-in's QR offline
    (``pwa/app/walkin.js`` drawQr reads them)."""
    flat = [cell for row in matrix for cell in row]
    out = bytearray((len(flat) + 7) // 8)
    for index, cell in enumerate(flat):
        if cell:
            out[index // 8] |= 0x80 >> (index % 8)
    return bytes(out)
