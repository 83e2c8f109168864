"""The admission decision, as pure data (mirrored by pwa/shared/rules.js)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from checkin.rules import REASONS, GateMove, TicketState, decide, zone_level

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
HALL, VIP = 1, 2
OUTSIDE_TO_HALL = GateMove(None, HALL, "in")
HALL_TO_VIP = GateMove(HALL, VIP, "in")

FRESH = TicketState(
    status="valid",
    generation=1,
    allowed_zones=None,
    reentry=True,
    valid_from=NOW - timedelta(hours=1),
    valid_until=NOW + timedelta(hours=1),
    zone_id=None,
    checked_in=False,
)


def test_admits_into_the_gates_zone() -> None:
    decision = decide(FRESH, 1, OUTSIDE_TO_HALL, NOW)
    assert (decision.ok, decision.reason, decision.zone_after) == (True, None, HALL)


def test_exit_moves_back() -> None:
    inside = replace(FRESH, zone_id=HALL, checked_in=True)
    assert decide(inside, 1, GateMove(None, HALL, "out"), NOW).zone_after is None
    assert (
        decide(replace(FRESH, zone_id=VIP), 1, GateMove(HALL, VIP, "out"), NOW).zone_after == HALL
    )


@pytest.mark.parametrize(
    ("state", "generation", "move", "when", "room", "reason"),
    [
        (replace(FRESH, status="revoked"), 1, OUTSIDE_TO_HALL, NOW, True, "revoked"),
        (FRESH, 2, OUTSIDE_TO_HALL, NOW, True, "revoked"),
        (FRESH, 1, OUTSIDE_TO_HALL, NOW - timedelta(hours=2), True, "not_yet_valid"),
        (FRESH, 1, OUTSIDE_TO_HALL, NOW + timedelta(hours=2), True, "expired"),
        (replace(FRESH, zone_id=HALL), 1, OUTSIDE_TO_HALL, NOW, True, "already_inside"),
        (replace(FRESH, zone_id=VIP), 1, HALL_TO_VIP, NOW, True, "already_inside"),
        (
            replace(FRESH, checked_in=True, reentry=False),
            1,
            OUTSIDE_TO_HALL,
            NOW,
            True,
            "already_inside",
        ),
        (FRESH, 1, GateMove(None, HALL, "out"), NOW, True, "not_inside"),
        (FRESH, 1, HALL_TO_VIP, NOW, True, "not_inside"),
        (
            replace(FRESH, allowed_zones=frozenset({VIP})),
            1,
            OUTSIDE_TO_HALL,
            NOW,
            True,
            "wrong_zone",
        ),
        (FRESH, 1, OUTSIDE_TO_HALL, NOW, False, "zone_full"),
    ],
)
def test_refusals(
    state: TicketState, generation: int, move: GateMove, when: datetime, room: bool, reason: str
) -> None:
    decision = decide(state, generation, move, when, room)
    assert (decision.ok, decision.reason, decision.zone_after) == (False, reason, state.zone_id)
    assert reason in REASONS


def test_reentry_allowed_when_type_says_so() -> None:
    left = replace(FRESH, checked_in=True)
    assert decide(left, 1, OUTSIDE_TO_HALL, NOW).ok


def test_no_room_does_not_matter_when_leaving() -> None:
    inside = replace(FRESH, zone_id=HALL, checked_in=True)
    assert decide(inside, 1, GateMove(None, HALL, "out"), NOW, zone_has_room=False).ok


OTHER = 3
OUTSIDE = None


@pytest.mark.parametrize(
    ("shape", "move", "where", "expected"),
    [
        # outside → zone, scanned in: entering the venue.
        ("outside→zone", GateMove(None, HALL, "in"), OUTSIDE, (True, None, HALL)),
        ("outside→zone", GateMove(None, HALL, "in"), HALL, (False, "already_inside", HALL)),
        ("outside→zone", GateMove(None, HALL, "in"), VIP, (False, "already_inside", VIP)),
        # zone → outside: the same door scanned out, leaving the venue.
        ("zone→outside", GateMove(None, HALL, "out"), HALL, (True, None, None)),
        ("zone→outside", GateMove(None, HALL, "out"), OUTSIDE, (False, "not_inside", None)),
        ("zone→outside", GateMove(None, HALL, "out"), VIP, (False, "not_inside", VIP)),
        # zone → zone, scanned in: the VIP door inside Hall A.
        ("zone→zone", GateMove(HALL, VIP, "in"), HALL, (True, None, VIP)),
        ("zone→zone", GateMove(HALL, VIP, "in"), OUTSIDE, (False, "not_inside", None)),
        ("zone→zone", GateMove(HALL, VIP, "in"), VIP, (False, "already_inside", VIP)),
        ("zone→zone", GateMove(HALL, VIP, "in"), OTHER, (False, "not_inside", OTHER)),
        # zone → zone, scanned out: back from VIP into Hall A.
        ("zone→zone", GateMove(HALL, VIP, "out"), VIP, (True, None, HALL)),
        ("zone→zone", GateMove(HALL, VIP, "out"), HALL, (False, "not_inside", HALL)),
        ("zone→zone", GateMove(HALL, VIP, "out"), OUTSIDE, (False, "not_inside", None)),
        ("zone→zone", GateMove(HALL, VIP, "out"), OTHER, (False, "not_inside", OTHER)),
    ],
)
def test_each_gate_shape_gives_the_right_reason(
    shape: str, move: GateMove, where: int | None, expected: tuple[bool, str | None, int | None]
) -> None:
    # already_inside: in the zone the move enters (or, from outside, anywhere
    # inside); not_inside: not in the zone the move leaves — a VIP holder at
    # the Hall A → VIP door who has not entered Hall A yet is not_inside
    # (the phone says "not in Hall A yet"), not told they cannot exit.
    holder = replace(FRESH, zone_id=where, checked_in=where is not None)
    found = decide(holder, 1, move, NOW)
    assert (found.ok, found.reason, found.zone_after) == expected, shape


@pytest.mark.parametrize(
    ("inside", "capacity", "soft_warning", "level"),
    [
        (5, None, 0.9, "ok"),
        (8, 10, 0.9, "ok"),
        (9, 10, 0.9, "near_full"),
        (10, 10, 0.9, "full"),
        (11, 10, 0.9, "full"),  # over capacity (a capacity cut below the count)
        (1, 3, 0.5, "ok"),  # the warning level rounds up: ceil(1.5) = 2
        (2, 3, 0.5, "near_full"),
        (0, 0, 0.9, "full"),
    ],
)
def test_zone_level(inside: int, capacity: int | None, soft_warning: float, level: str) -> None:
    assert zone_level(inside, capacity, soft_warning) == level
