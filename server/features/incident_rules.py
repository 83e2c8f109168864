"""Incident rules: pure functions of plain data.

Which transitions are legal and who may make them, whether a new report is a
duplicate of an open incident, when an incident is due to escalate, and the
categories an event uses. ``server/features/incidents.py`` wraps them with the
database; ``server/features/escalation.py`` runs the escalation clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.auth import COMMAND, ORGANISER, STAFF

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)
ACTIVE = (OPEN, ACKNOWLEDGED)
SEVERITIES = ("P1", "P2", "P3", "P4")
DEFAULT_CATEGORIES = (
    "equipment_failure",
    "power",
    "network",
    "medical",
    "security",
    "facility",
    "crowd",
    "other",
)

ACK, ASSIGN, RESOLVE, REOPEN, COMMENT = "ack", "assign", "resolve", "reopen", "comment"

#: Stable refusal code of an action the incident's status does not allow.
INVALID_TRANSITION = "invalid_transition"

#: action -> {status before: status after}
TRANSITIONS: dict[str, dict[str, str]] = {
    ACK: {OPEN: ACKNOWLEDGED},
    ASSIGN: {OPEN: OPEN, ACKNOWLEDGED: ACKNOWLEDGED},
    RESOLVE: {OPEN: RESOLVED, ACKNOWLEDGED: RESOLVED},
    REOPEN: {RESOLVED: OPEN},
    COMMENT: {s: s for s in STATUSES},
}

#: The log's word for each action.
LOGGED = {
    ACK: "acknowledged",
    ASSIGN: "assigned",
    RESOLVE: "resolved",
    REOPEN: "reopened",
    COMMENT: "commented",
}


def next_status(status: str, action: str) -> str | None:
    """The status after ``action``, or None when the action is illegal now."""
    return TRANSITIONS[action].get(status)


def may_act(
    role: str,
    action: str,
    *,
    actor_id: int | None,
    assignee_id: int | None,
    reporter_id: int | None,
    new_assignee_id: int | None = None,
    sets_team: bool = False,
) -> bool:
    """Whether ``role`` may take ``action`` on an incident.

    Organiser and command run every incident (and assign it to a person, a
    team, or both). Floor staff take incidents (acknowledge, assign to
    themselves when no person has it, its team kept), resolve the ones
    assigned to them, and reopen those or their own reports. Door phones
    report (a dead card reader at the gate) and comment, nothing more: a
    door volunteer must stay at the door (one may be assigned an incident,
    to read it and write on it).
    """
    if role in (ORGANISER, COMMAND):
        return True
    if action == COMMENT:
        return True
    if role != STAFF:
        return False
    mine = actor_id is not None and assignee_id == actor_id
    if action == ACK:
        return True
    if action == ASSIGN:
        # Taking it: to themselves, never to a team, when nobody (or only a
        # team) has it.
        return not sets_team and new_assignee_id == actor_id and (assignee_id is None or mine)
    if action == RESOLVE:
        return mine
    if action == REOPEN:
        return mine or (actor_id is not None and reporter_id == actor_id)
    return False


# Escalation --------------------------------------------------------------

#: Seconds an incident may stay unacknowledged (level 1) or acknowledged but
#: unresolved (level 2) before it escalates; None: never. Overridable per
#: event: ``options["escalation"] = {"ack": {"P1": 60}, "resolve": {"P3": null}}``.
DEFAULT_ACK_SECONDS: dict[str, float | None] = {"P1": 120, "P2": 300, "P3": 900, "P4": None}
DEFAULT_RESOLVE_SECONDS: dict[str, float | None] = {
    "P1": 900,
    "P2": 1800,
    "P3": 3600,
    "P4": None,
}


@dataclass(frozen=True)
class EscalationTimeouts:
    ack: Mapping[str, float | None]
    resolve: Mapping[str, float | None]

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> EscalationTimeouts:
        """Defaults, overridden by the event's options; bad values are ignored
        (a typo in an option must not stop escalation)."""
        ack, resolve = dict(DEFAULT_ACK_SECONDS), dict(DEFAULT_RESOLVE_SECONDS)
        raw = (options or {}).get("escalation")
        if isinstance(raw, Mapping):
            for target, key in ((ack, "ack"), (resolve, "resolve")):
                given = raw.get(key)
                if not isinstance(given, Mapping):
                    continue
                for severity, seconds in given.items():
                    if severity not in SEVERITIES:
                        continue
                    if seconds is None:
                        target[severity] = None
                    elif isinstance(seconds, int | float) and not isinstance(seconds, bool):
                        if seconds >= 0:
                            target[severity] = float(seconds)
        return cls(ack, resolve)


@dataclass(frozen=True)
class IncidentClock:
    """What the escalation decision needs to know of an incident."""

    status: str
    severity: str
    status_since: datetime
    escalation_level: int


def escalation_due(clock: IncidentClock, now: datetime, timeouts: EscalationTimeouts) -> int | None:
    """The escalation level an incident should now be raised to, or None.

    Level 1: still open (not acknowledged) past the ack timeout of its
    severity. Level 2: acknowledged but unresolved past the resolve timeout
    (counted from the acknowledgement). Each level is raised once; a reopen
    starts the clocks again from level 0.
    """
    if clock.status == OPEN and clock.escalation_level < 1:
        limit = timeouts.ack.get(clock.severity)
        if limit is not None and now >= clock.status_since + timedelta(seconds=limit):
            return 1
    if clock.status == ACKNOWLEDGED and clock.escalation_level < 2:
        limit = timeouts.resolve.get(clock.severity)
        if limit is not None and now >= clock.status_since + timedelta(seconds=limit):
            return 2
    return None


# Deduplication -------------------------------------------------------------


def normalise(words: str) -> str:
    return re.sub(r"\s+", " ", words).strip().casefold()


@dataclass(frozen=True)
class Place:
    """Where a report or an incident is, and what it is about."""

    category: str
    zone_id: int | None
    gate_id: int | None
    location_text: str
    equipment_tag: str

    def key(self) -> tuple[Any, ...] | None:
        """A gate is a place of its own; otherwise the zone and the free text
        together (so "Hall A, booth 12" and "Hall A" are different places)."""
        if self.gate_id is not None:
            return ("gate", self.gate_id)
        text_key = normalise(self.location_text)
        if self.zone_id is None and not text_key:
            return None
        return ("place", self.zone_id, text_key)


@dataclass(frozen=True)
class OpenIncident:
    id: int
    status: str
    place: Place
    last_reported_at: datetime


def duplicate_of(
    report: Place, candidates: Iterable[OpenIncident], now: datetime, window: timedelta
) -> int | None:
    """The open incident a new report belongs to, or None for a new incident.

    Same equipment tag (any category: it is the same broken thing), or same
    place and same category (two medical calls from the same gate are most
    likely one patient), while the incident is unresolved and was last
    reported within ``window``. The most recently reported match wins. A
    reporter who knows better sends ``force_new``.
    """
    tag = normalise(report.equipment_tag)
    place = report.key()
    for candidate in sorted(candidates, key=lambda c: c.last_reported_at, reverse=True):
        if candidate.status == RESOLVED or now - candidate.last_reported_at > window:
            continue
        if tag and tag == normalise(candidate.place.equipment_tag):
            return candidate.id
        if (
            place is not None
            and report.category == candidate.place.category
            and place == candidate.place.key()
        ):
            return candidate.id
    return None


def event_categories(options: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The incident categories of an event: ``options["incident_categories"]``
    (a list of keys) or the defaults."""
    given = (options or {}).get("incident_categories")
    if isinstance(given, list):
        keys = tuple(c for c in given if isinstance(c, str) and 0 < len(c) <= 32)
        if keys:
            return keys
    return DEFAULT_CATEGORIES
