"""The pure incident rules: transitions, rights, deduplication, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.features.incident_rules import (
    ACK,
    ACKNOWLEDGED,
    ASSIGN,
    COMMENT,
    DEFAULT_CATEGORIES,
    OPEN,
    REOPEN,
    RESOLVE,
    RESOLVED,
    EscalationTimeouts,
    IncidentClock,
    OpenIncident,
    Place,
    duplicate_of,
    escalation_due,
    event_categories,
    may_act,
    next_status,
)

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)


def test_transitions():
    assert next_status(OPEN, ACK) == ACKNOWLEDGED
    assert next_status(ACKNOWLEDGED, ACK) is None
    assert next_status(OPEN, RESOLVE) == RESOLVED
    assert next_status(ACKNOWLEDGED, RESOLVE) == RESOLVED
    assert next_status(RESOLVED, RESOLVE) is None
    assert next_status(RESOLVED, REOPEN) == OPEN
    assert next_status(OPEN, REOPEN) is None
    assert next_status(RESOLVED, ASSIGN) is None
    assert next_status(RESOLVED, COMMENT) == RESOLVED


@pytest.mark.parametrize("role", ["organiser", "command"])
def test_command_runs_everything(role):
    for action in (ACK, ASSIGN, RESOLVE, REOPEN, COMMENT):
        assert may_act(role, action, actor_id=1, assignee_id=2, reporter_id=3, new_assignee_id=4)


def test_staff_rights():
    me = 7
    assert may_act("staff", ACK, actor_id=me, assignee_id=None, reporter_id=None)
    assert may_act(
        "staff", ASSIGN, actor_id=me, assignee_id=None, reporter_id=None, new_assignee_id=me
    )
    assert not may_act(
        "staff", ASSIGN, actor_id=me, assignee_id=None, reporter_id=None, new_assignee_id=8
    )
    assert not may_act(
        "staff", ASSIGN, actor_id=me, assignee_id=8, reporter_id=None, new_assignee_id=me
    )
    assert may_act("staff", RESOLVE, actor_id=me, assignee_id=me, reporter_id=None)
    assert not may_act("staff", RESOLVE, actor_id=me, assignee_id=8, reporter_id=me)
    assert not may_act("staff", RESOLVE, actor_id=me, assignee_id=None, reporter_id=None)
    assert may_act("staff", REOPEN, actor_id=me, assignee_id=None, reporter_id=me)
    assert not may_act("staff", REOPEN, actor_id=me, assignee_id=8, reporter_id=9)
    assert may_act("staff", COMMENT, actor_id=me, assignee_id=8, reporter_id=9)


def test_door_only_comments():
    for action in (ACK, ASSIGN, RESOLVE, REOPEN):
        assert not may_act(
            "door", action, actor_id=1, assignee_id=1, reporter_id=1, new_assignee_id=1
        )
    assert may_act("door", COMMENT, actor_id=1, assignee_id=None, reporter_id=None)


def place(category="equipment_failure", zone=None, gate=None, text="", tag=""):
    return Place(category, zone, gate, text, tag)


def candidate(id_, p, *, status=OPEN, minutes_ago=5):
    return OpenIncident(id_, status, p, T0 - timedelta(minutes=minutes_ago))


def test_same_equipment_tag_is_a_duplicate_whatever_the_category():
    open_one = candidate(1, place(tag="PROJ-07", zone=3))
    assert duplicate_of(place("power", tag=" proj-07 "), [open_one], T0, WINDOW) == 1
    assert duplicate_of(place(tag="PROJ-08"), [open_one], T0, WINDOW) is None


def test_same_place_and_category_is_a_duplicate():
    at_gate = candidate(1, place("medical", gate=4))
    assert duplicate_of(place("medical", gate=4), [at_gate], T0, WINDOW) == 1
    assert duplicate_of(place("security", gate=4), [at_gate], T0, WINDOW) is None
    assert duplicate_of(place("medical", gate=5), [at_gate], T0, WINDOW) is None
    in_zone = candidate(2, place("crowd", zone=3, text="Booth 12"))
    assert duplicate_of(place("crowd", zone=3, text="booth  12"), [in_zone], T0, WINDOW) == 2
    assert duplicate_of(place("crowd", zone=3), [in_zone], T0, WINDOW) is None
    assert duplicate_of(place("crowd"), [candidate(3, place("crowd"))], T0, WINDOW) is None


def test_no_duplicate_outside_the_window_or_once_resolved():
    old = candidate(1, place(tag="X"), minutes_ago=31)
    done = candidate(2, place(tag="X"), status=RESOLVED)
    assert duplicate_of(place(tag="X"), [old, done], T0, WINDOW) is None
    fresh = candidate(3, place(tag="X"), minutes_ago=1)
    assert duplicate_of(place(tag="X"), [old, fresh, done], T0, WINDOW) == 3


def test_categories_from_options():
    assert event_categories({}) == DEFAULT_CATEGORIES
    assert event_categories({"incident_categories": ["av", "catering"]}) == ("av", "catering")
    assert event_categories({"incident_categories": "nonsense"}) == DEFAULT_CATEGORIES


def clock(status=OPEN, severity="P1", minutes_ago=0.0, level=0):
    return IncidentClock(status, severity, T0 - timedelta(minutes=minutes_ago), level)


def test_escalation_defaults():
    timeouts = EscalationTimeouts.from_options({})
    assert escalation_due(clock(minutes_ago=1.9), T0, timeouts) is None
    assert escalation_due(clock(minutes_ago=2), T0, timeouts) == 1
    assert escalation_due(clock(minutes_ago=2, level=1), T0, timeouts) is None
    assert escalation_due(clock(severity="P2", minutes_ago=4), T0, timeouts) is None
    assert escalation_due(clock(severity="P2", minutes_ago=5), T0, timeouts) == 1
    assert escalation_due(clock(severity="P3", minutes_ago=15), T0, timeouts) == 1
    assert escalation_due(clock(severity="P4", minutes_ago=10_000), T0, timeouts) is None


def test_second_level_after_acknowledgement():
    timeouts = EscalationTimeouts.from_options({})
    assert escalation_due(clock(ACKNOWLEDGED, minutes_ago=14), T0, timeouts) is None
    assert escalation_due(clock(ACKNOWLEDGED, minutes_ago=15), T0, timeouts) == 2
    assert escalation_due(clock(ACKNOWLEDGED, minutes_ago=15, level=1), T0, timeouts) == 2
    assert escalation_due(clock(ACKNOWLEDGED, minutes_ago=99, level=2), T0, timeouts) is None
    assert escalation_due(clock(RESOLVED, minutes_ago=99), T0, timeouts) is None


def test_escalation_options_override_and_bad_values_are_ignored():
    timeouts = EscalationTimeouts.from_options(
        {
            "escalation": {
                "ack": {"P1": 30, "P4": 60, "P2": "soon", "P9": 1},
                "resolve": {"P1": None},
            }
        }
    )
    assert timeouts.ack["P1"] == 30 and timeouts.ack["P4"] == 60
    assert timeouts.ack["P2"] == 300
    assert escalation_due(clock(ACKNOWLEDGED, minutes_ago=10_000), T0, timeouts) is None
    assert escalation_due(clock(minutes_ago=0.5), T0, timeouts) == 1
