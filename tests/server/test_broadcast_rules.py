"""Who a broadcast reaches: the one rule the hub, the acknowledgement and the receipts call."""

from __future__ import annotations

from server.features.broadcast_rules import (
    Audience,
    Reader,
    ack_times,
    audience_of,
    count_confirmations,
    not_acknowledged,
    plan_expects,
    reaches,
    shown_to,
)

DOOR_NORTH = Reader(1, "door", staff_id=10, team="security", zone_id=100)
STAFF_HALL = Reader(2, "staff", staff_id=11, team="logistics", zone_id=200)
UNPAIRED = Reader(3, "staff")
COMMAND = Reader(4, "command")
PHONES = (DOOR_NORTH, STAFF_HALL, UNPAIRED)


def reached(audience: Audience) -> set[int | None]:
    return {r.account_id for r in PHONES if reaches(audience, r)}


def test_each_selector_reaches_exactly_its_phones():
    assert reached(Audience(everyone=True)) == {1, 2, 3}
    assert reached(Audience(roles=frozenset({"staff"}))) == {2, 3}
    assert reached(Audience(teams=frozenset({"security"}))) == {1}
    assert reached(Audience(zones=frozenset({200}))) == {2}
    assert reached(Audience(people=frozenset({10}))) == {1}
    assert reached(Audience(devices=frozenset({3}))) == {3}
    assert reached(Audience()) == set()


def test_selectors_add_up():
    audience = Audience(teams=frozenset({"security"}), zones=frozenset({200}))
    assert reached(audience) == {1, 2}


def test_screens_see_every_message_but_are_never_expected_to_acknowledge():
    assert not reaches(Audience(everyone=True), COMMAND)
    assert shown_to(Audience(), COMMAND)
    assert not shown_to(Audience(), DOOR_NORTH)


def test_the_audience_survives_its_json():
    audience = Audience(roles=frozenset({"door"}), zones=frozenset({5, 3}), people=frozenset({7}))
    assert audience_of(audience.as_json()) == audience
    assert audience_of(None).empty and not audience.empty


def test_a_resend_names_the_phones_that_have_not_acknowledged():
    again = not_acknowledged(Audience(everyone=True), PHONES, acked={2})
    assert again == Audience(devices=frozenset({1, 3}))
    assert reached(again) == {1, 3}


def test_acknowledgement_times():
    assert ack_times([]) == {"median_seconds": None, "slowest_seconds": None}
    assert ack_times([30.0, 10.0, 20.0]) == {"median_seconds": 20.0, "slowest_seconds": 30.0}


def test_a_plan_naming_no_team_is_expected_of_everyone() -> None:
    assert plan_expects([], "security") and plan_expects([], None)
    assert plan_expects(["security"], "security")
    assert not plan_expects(["security"], "tech") and not plan_expects(["security"], None)


def test_confirmations_count_only_the_teams_a_plan_names() -> None:
    plans = {1: ["security"], 2: []}
    members = {10: "security", 11: "tech"}
    counted = count_confirmations(plans, members, {(1, 10), (1, 11), (2, 11)})
    assert (counted["confirmed"], counted["expected"]) == (2, 3)  # (1, 11): not tech's plan
    assert counted["teams"] == [
        {"team": "security", "people": 1, "ready": 0, "expected": 2, "confirmed": 1},
        {"team": "tech", "people": 1, "ready": 1, "expected": 1, "confirmed": 1},
    ]
    assert counted["plans"] == [
        {"id": 1, "teams": ["security"], "expected": 1, "confirmed": 1},
        {"id": 2, "teams": [], "expected": 2, "confirmed": 1},
    ]
