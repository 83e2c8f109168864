"""The roster's pure rules: member validation codes, who is on duty where, supervisor rights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.features import roster_rules as rules
from server.features.roster_rules import Shift

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_valid_member_has_no_problems() -> None:
    assert rules.member_problems("王伟", "+86 138-0000-0000", rules.SECURITY, "door") == []
    assert rules.member_problems("Ann", None, "VIP desk", "staff") == []


def test_each_bad_field_gives_its_code() -> None:
    assert rules.member_problems(" ", None, "tech", "door") == [rules.NAME_REQUIRED]
    assert rules.member_problems("x" * 121, None, "tech", "door") == [rules.NAME_TOO_LONG]
    assert rules.member_problems("A", "call me", "tech", "door") == [rules.PHONE_INVALID]
    assert rules.member_problems("A", None, "", "door") == [rules.TEAM_REQUIRED]
    assert rules.member_problems("A", None, "t" * 41, "door") == [rules.TEAM_TOO_LONG]
    assert rules.member_problems("A", None, "tech", "organiser") == [rules.ROLE_INVALID]
    assert rules.TEXT_HAS_NUL in rules.member_problems("A\x00", None, "tech", "door")


def test_on_duty_in_keeps_covering_shifts_in_the_cleared_zones() -> None:
    shifts = [
        Shift(1, 10, T0, None),
        Shift(2, 20, T0, None),
        Shift(3, 10, T0, T0 + timedelta(minutes=5)),  # ended before
        Shift(4, 10, T0 + timedelta(hours=1), None),  # starts after
        Shift(5, None, T0, None),  # no zone
    ]
    at = T0 + timedelta(minutes=30)
    assert rules.on_duty_in(shifts, frozenset({10}), at) == {1: 10}
    assert rules.on_duty_in(shifts, None, at) == {1: 10, 2: 20, 5: None}


def test_the_end_is_excluded_and_the_latest_shift_wins() -> None:
    ended = Shift(1, 10, T0, T0 + timedelta(minutes=5))
    assert rules.on_duty_at(ended, T0)
    assert not rules.on_duty_at(ended, T0 + timedelta(minutes=5))
    twice = [Shift(1, 10, T0, None), Shift(1, 20, T0 + timedelta(minutes=1), None)]
    assert rules.on_duty_in(twice, None, T0 + timedelta(minutes=2)) == {1: 20}


def test_only_door_supervisors_may_override() -> None:
    assert rules.may_override("door", True)
    assert not rules.may_override("door", False)
    assert not rules.may_override("staff", True)
