"""The staff roster's rules: pure functions of plain data, no I/O.

- **A roster member** has a name, an optional phone, a team (one of the
  built-in ``TEAMS`` or a name the event gives its own), a role (``door``,
  ``staff``, ``command``), a supervisor flag and an optional zone or gate.
  ``member_problems`` answers with stable codes (the pages word them; the
  CSV import reports them per row), never sentences.
- **Duty**: a shift is a period ``[started_at, ended_at)``, ``ended_at``
  None while it runs. ``on_duty_in`` decides who was on duty in a set of
  zones at an instant; the evacuation roll (``server/features/evacuations.py``,
  ``staff_on_duty``) is meant to call it with the zones being cleared.
- **Supervisor rights**: ``may_override`` is the one rule for whether a door
  phone may look up, admit by hand and override.

The roster's tables, routes and pages (issue 16) are to be built around
these rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Built-in teams (stable codes; the pages word them: 安保, 接待, 物资, 技术).
SECURITY = "security"
RECEPTION = "reception"
LOGISTICS = "logistics"
TECH = "tech"
TEAMS = (SECURITY, RECEPTION, LOGISTICS, TECH)

# Roles a roster member can hold on a paired phone.
ROLES = ("door", "staff", "command")

NAME_MAX = 120
PHONE_MAX = 32
TEAM_MAX = 40
_PHONE_CHARACTERS = frozenset("0123456789+-() ")

# Problem codes (one per field that is wrong).
NAME_REQUIRED = "name_required"
NAME_TOO_LONG = "name_too_long"
PHONE_INVALID = "phone_invalid"
TEAM_REQUIRED = "team_required"
TEAM_TOO_LONG = "team_too_long"
ROLE_INVALID = "role_invalid"
TEXT_HAS_NUL = "text_has_nul"


def member_problems(name: str, phone: str | None, team: str, role: str) -> list[str]:
    """Every problem of a roster member's fields as codes; empty when it is valid.

    A team outside ``TEAMS`` is the event's own and allowed, bounded in length.
    """
    problems: list[str] = []
    if any("\x00" in text for text in (name, phone or "", team, role)):
        problems.append(TEXT_HAS_NUL)
    if not name.strip():
        problems.append(NAME_REQUIRED)
    elif len(name) > NAME_MAX:
        problems.append(NAME_TOO_LONG)
    if phone is not None and phone.strip():
        digits = sum(character.isdigit() for character in phone)
        if len(phone) > PHONE_MAX or digits < 3 or not set(phone) <= _PHONE_CHARACTERS:
            problems.append(PHONE_INVALID)
    if not team.strip():
        problems.append(TEAM_REQUIRED)
    elif len(team) > TEAM_MAX:
        problems.append(TEAM_TOO_LONG)
    if role not in ROLES:
        problems.append(ROLE_INVALID)
    return problems


@dataclass(frozen=True)
class Shift:
    """One duty period of a roster member, where they stood."""

    staff_id: int
    zone_id: int | None
    started_at: datetime
    ended_at: datetime | None


def on_duty_at(shift: Shift, instant: datetime) -> bool:
    """Whether ``shift`` covers ``instant`` (start included, end excluded)."""
    return shift.started_at <= instant and (shift.ended_at is None or instant < shift.ended_at)


def on_duty_in(
    shifts: Iterable[Shift], zones: frozenset[int] | None, instant: datetime
) -> dict[int, int | None]:
    """Who was on duty at ``instant`` in ``zones`` (None: every zone): staff id → zone.

    A member with several covering shifts (a phone that started twice) counts
    once, in the zone of the latest started. A shift with no zone is kept only
    when every zone is cleared: nobody can say it stood in the cleared ones.
    """
    latest: dict[int, Shift] = {}
    for shift in shifts:
        if not on_duty_at(shift, instant):
            continue
        if zones is not None and shift.zone_id not in zones:
            continue
        known = latest.get(shift.staff_id)
        if known is None or shift.started_at > known.started_at:
            latest[shift.staff_id] = shift
    return {staff_id: shift.zone_id for staff_id, shift in latest.items()}


def may_override(role: str, supervisor: bool) -> bool:
    """Whether a phone may look up, admit by hand and override: door supervisors.

    Organiser and command accounts are not roster phones and keep their rights.
    """
    return role == "door" and supervisor
