"""The task board's pure rules: transitions, overdue, run-sheet offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.features.task_rules import (
    BAD_TRANSITION,
    BLOCKED,
    DOING,
    DONE,
    LATE,
    NOT_DONE,
    ON_TIME,
    REASON_NEEDED,
    TODO,
    due_from,
    due_soon,
    kept_steps,
    outcome,
    overdue,
    parse_offset,
    transition,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "target"),
    [(TODO, DOING), (DOING, DONE), (TODO, DONE), (DOING, TODO), (BLOCKED, DOING), (DONE, DOING)],
)
def test_the_days_path_and_its_returns_are_allowed(current, target):
    assert transition(current, target) is None


@pytest.mark.parametrize(("current", "target"), [(DONE, TODO), (DONE, BLOCKED), (BLOCKED, DONE)])
def test_other_moves_are_refused_with_a_code(current, target):
    assert transition(current, target, "reason") == BAD_TRANSITION


def test_blocked_needs_a_reason():
    assert transition(DOING, BLOCKED) == REASON_NEEDED
    assert transition(DOING, BLOCKED, "   ") == REASON_NEEDED
    assert transition(DOING, BLOCKED, "没有电源") is None


def test_the_same_status_again_is_a_harmless_repeat():
    for status in (TODO, DOING, DONE):
        assert transition(status, status) is None


def test_unknown_statuses_are_refused():
    assert transition(TODO, "finished") == BAD_TRANSITION
    assert transition("lost", DONE) == BAD_TRANSITION


def test_overdue_only_for_open_tasks_past_due_once():
    due = NOW - timedelta(minutes=1)
    assert overdue(TODO, due, False, NOW)
    assert overdue(BLOCKED, due, False, NOW)
    assert overdue(DOING, NOW, False, NOW)  # due this instant
    assert not overdue(DONE, due, False, NOW)
    assert not overdue(TODO, due, True, NOW)  # already raised
    assert not overdue(TODO, NOW + timedelta(seconds=1), False, NOW)
    assert not overdue(TODO, None, False, NOW)


def test_outcome_on_time_late_or_not_done():
    due = NOW
    assert outcome(DONE, due, NOW) == ON_TIME
    assert outcome(DONE, None, NOW) == ON_TIME
    assert outcome(DONE, due, NOW + timedelta(seconds=1)) == LATE
    assert outcome(DOING, due, None) == NOT_DONE
    assert outcome(BLOCKED, None, None) == NOT_DONE


def test_run_sheet_offsets():
    assert parse_offset("T-120") == -120
    assert parse_offset("T\u221230") == -30
    assert parse_offset("t+15") == 15
    assert parse_offset("T0") == 0
    assert parse_offset("T") == 0
    assert parse_offset(" -45 ") == -45
    assert parse_offset("90") == 90
    for bad in ("", "soon", "T-", "1.5", "T-999999"):
        assert parse_offset(bad) is None, bad
    assert due_from(NOW, -120) == NOW - timedelta(hours=2)


def test_a_new_checklist_keeps_old_steps_by_title_once_each():
    assert kept_steps(["A", "B", "C"], ["B", "D", "A"]) == [1, None, 0]
    assert kept_steps(["A", "A"], ["A", "A", "A"]) == [0, 1, None]
    assert kept_steps([], ["x"]) == [None]
    assert kept_steps(["x"], []) == []


def test_due_soon_for_open_tasks_due_within_fifteen_minutes_once():
    assert due_soon(TODO, NOW + timedelta(minutes=15), False, NOW)
    assert due_soon(BLOCKED, NOW + timedelta(seconds=1), False, NOW)
    assert not due_soon(TODO, NOW + timedelta(minutes=15, seconds=1), False, NOW)
    assert not due_soon(TODO, NOW, False, NOW)  # due now: overdue's
    assert not due_soon(DONE, NOW + timedelta(minutes=5), False, NOW)
    assert not due_soon(TODO, NOW + timedelta(minutes=5), True, NOW)  # already pushed
    assert not due_soon(TODO, None, False, NOW)
