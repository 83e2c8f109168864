"""The roll-call rules (server/features/roll_call.py): pure, so fast and exhaustive."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from server.features import roll_call
from server.features.roll_call import Accounting, LastScan

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def last(ticket: int, zone: int | None, received: int = -1) -> LastScan:
    return LastScan(ticket, zone, 7, T0 - timedelta(seconds=10), T0 + timedelta(seconds=received))


def test_freeze_keeps_those_left_inside_cleared_zones() -> None:
    scans = [last(1, 10), last(2, None), last(3, 20), last(4, 10, received=30)]
    roll = roll_call.freeze_roll(scans, frozenset({10}), T0)
    assert [(e.ticket_id, e.reason) for e in roll] == [(1, "inside"), (4, "offline_scan")]
    everyone = roll_call.freeze_roll(scans, None, T0)
    assert [e.ticket_id for e in everyone] == [1, 3, 4]


def test_late_scans_join_or_mark_gone() -> None:
    zones = frozenset({10})
    assert roll_call.late_change(last(1, 10, 30), on_roll=False, zones=zones) == "join"
    assert roll_call.late_change(last(1, None, 30), on_roll=True, zones=zones) == "left"
    assert roll_call.late_change(last(1, 10, 30), on_roll=True, zones=zones) is None
    assert roll_call.late_change(last(1, 20, 30), on_roll=False, zones=zones) is None


def test_merge_keeps_first_time_and_place_and_latest_status_in_any_order() -> None:
    accounts = [
        ("safe", T0 + timedelta(seconds=50), 1),
        ("needs_help", T0 + timedelta(seconds=20), 2),
        ("safe", T0 + timedelta(seconds=90), 3),
        ("needs_help", T0 + timedelta(seconds=70), 1),
    ]
    results = set()
    for order in itertools.permutations(accounts):
        state = Accounting()
        for status, at, point in [*order, *order]:  # every account twice
            state = roll_call.merge_account(state, status, at, point)
        results.add(state)
    assert results == {
        Accounting("safe", T0 + timedelta(seconds=20), 2, T0 + timedelta(seconds=90))
    }
    with pytest.raises(ValueError):
        roll_call.merge_account(Accounting(), "missing", T0, None)


def test_times_to_fractions() -> None:
    times = [T0 + timedelta(seconds=s) for s in (10, 20, 30, 40)]
    assert roll_call.time_to_fraction(times, 4, T0, 0.5) == 20
    assert roll_call.time_to_fraction(times, 4, T0, 0.9) == 40
    assert roll_call.time_to_fraction(times, 5, T0, 1.0) is None
    assert roll_call.time_to_fraction([], 0, T0, 1.0) == 0.0


def test_arrivals_per_minute_and_missing_over_time() -> None:
    times = [T0 + timedelta(seconds=s) for s in (5, 50, 70, 185)]
    assert roll_call.per_minute(times, T0, 30) == [2, 1, 0, 1]
    assert roll_call.per_minute(times, T0, 2) == [0, 1]
    curve = roll_call.missing_over_time(times, 5, T0)
    assert curve == [
        {"seconds": 0, "missing": 5},
        {"seconds": 60, "missing": 3},
        {"seconds": 120, "missing": 2},
        {"seconds": 180, "missing": 2},
        {"seconds": 240, "missing": 1},
    ]
