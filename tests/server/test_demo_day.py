"""The demo's planned day (server/demo_day.py): the arrival curve and the plan."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from server import demo_day as day
from server.demo_day import (
    DOORS_OPEN,
    GATES,
    JOURNEY,
    LAST_ENTRY,
    OFFLINE_FROM,
    OFFLINE_GATE,
    OFFLINE_UNTIL,
    ZONES,
    Forged,
    IncidentStep,
    Offline,
    Revoke,
    Scan,
    StockMove,
    arrival_times,
    arrival_weight,
    hm,
    plan_day,
    ticket_kinds,
)

RESERVED = frozenset(range(12))


def a_day(seed: int = 1, count: int = 3000) -> day.DayPlan:
    return plan_day(ticket_kinds(count), random.Random(seed), reserved=RESERVED)


def test_nobody_arrives_before_the_doors_open_or_after_last_entry():
    assert arrival_weight(-1) == 0 and arrival_weight(LAST_ENTRY - DOORS_OPEN + 1) == 0
    times = arrival_times(5000, random.Random(3))
    assert times == sorted(times) and len(times) == 5000
    assert DOORS_OPEN <= times[0] and times[-1] <= LAST_ENTRY


def test_the_rush_is_at_doors_open():
    weights = [arrival_weight(m) for m in range(LAST_ENTRY - DOORS_OPEN)]
    assert weights.index(max(weights)) < 15
    times = arrival_times(10_000, random.Random(4))
    per_hour = Counter(int((t - DOORS_OPEN) // 60) for t in times)
    assert per_hour[0] > 0.4 * len(times)
    assert per_hour[0] == max(per_hour.values())
    first_quarter = sum(1 for t in times if t < DOORS_OPEN + 15)
    assert first_quarter > 0.15 * len(times)


def test_a_second_wave_comes_for_the_afternoon_session():
    assert arrival_weight(hm(13, 15) - DOORS_OPEN) > 3 * arrival_weight(hm(12, 15) - DOORS_OPEN)


def test_the_plan_is_the_same_for_a_seed():
    assert a_day(7).actions == a_day(7).actions
    assert a_day(7).actions != a_day(8).actions


def test_the_plan_is_in_time_order_and_has_every_kind_of_action():
    actions = a_day().actions
    assert [a.at for a in actions] == sorted(a.at for a in actions)
    kinds = Counter(type(a) for a in actions)
    assert kinds[Scan] > 5000 and kinds[Forged] >= 1 and kinds[Revoke] == 1
    assert kinds[StockMove] > 50 and kinds[IncidentStep] > 10 and kinds[Offline] == 2
    purposes = Counter(a.purpose for a in actions if isinstance(a, Scan))
    for purpose in ("arrive", "visit", "return", "leave", "repeat", "wrong_zone", "conflict"):
        assert purposes[purpose] >= 1, purpose


def test_reserved_tickets_are_never_used():
    used = {a.ticket for a in a_day().actions if isinstance(a, Scan | Revoke)}
    assert not used & RESERVED


def walk(actions):
    """Play the journeys as the server would (zone capacity included): the peak of each zone."""
    where: dict[int, str | None] = {}
    inside: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    for action in actions:
        if not (isinstance(action, Scan) and action.purpose in JOURNEY):
            continue
        assert (
            where.get(action.ticket) == action.expect_zone
            or action.purpose != "arrive"
            or (action.ticket not in where)
        )
        if where.get(action.ticket) != action.expect_zone:
            continue
        from_zone, to_zone = GATES[action.gate]
        after = to_zone if action.direction == "in" else from_zone
        if after and inside[after] >= ZONES[after][1]:
            continue  # zone_full: the person stays
        if action.expect_zone:
            inside[action.expect_zone] -= 1
        where[action.ticket] = after
        if after:
            inside[after] += 1
            peak[after] = max(peak[after], inside[after])
    return where, peak


def test_every_journey_is_a_path_through_the_gates():
    by_ticket: dict[int, list[Scan]] = {}
    for action in a_day().actions:
        if isinstance(action, Scan) and action.purpose in JOURNEY:
            by_ticket.setdefault(action.ticket, []).append(action)
    for steps in by_ticket.values():
        where = None
        for step in steps:
            assert step.expect_zone == where
            from_zone, to_zone = GATES[step.gate]
            assert where == (from_zone if step.direction == "in" else to_zone)
            where = to_zone if step.direction == "in" else from_zone


def test_the_vip_lounge_fills_and_the_expo_passes_its_warning():
    _where, peak = walk(a_day().actions)
    assert peak["vip"] == ZONES["vip"][1]
    assert peak["expo"] >= ZONES["expo"][1] * ZONES["expo"][2]


def test_the_shared_ticket_is_used_online_then_at_the_offline_door():
    scans = [a for a in a_day().actions if isinstance(a, Scan)]
    conflict = next(s for s in scans if s.purpose == "conflict")
    assert conflict.gate == OFFLINE_GATE and OFFLINE_FROM < conflict.at < OFFLINE_UNTIL
    online = [s for s in scans if s.ticket == conflict.ticket and s is not conflict]
    assert len(online) == 1 and online[0].gate != OFFLINE_GATE and online[0].at < conflict.at


@pytest.mark.parametrize("tickets", [600, 3000, 10_000])
def test_the_first_minute_of_a_60x_demo_has_arrivals_an_incident_and_a_stock_alert(tickets):
    minute = day.DAY_START + 60  # one real minute at --speed 60
    actions = [a for a in a_day(count=tickets).actions if a.at < minute]
    arrived = sum(1 for a in actions if isinstance(a, Scan) and a.purpose == "arrive")
    assert arrived > tickets / 6
    assert any(isinstance(a, IncidentStep) and a.step == "report" for a in actions)
    bags = next(s for s in day.stock_for(tickets) if s.key == "bags")
    issued = sum(
        a.quantity
        for a in actions
        if isinstance(a, StockMove) and a.item == "bags" and a.kind == "issue"
    )
    assert bags.quantity - issued <= bags.low


def test_escalation_clocks_scale_with_the_speed():
    assert day.escalation_seconds(1)["ack"]["P1"] == 120
    assert day.escalation_seconds(60)["resolve"]["P3"] == 60
    assert day.escalation_seconds(600)["ack"]["P1"] == 3


def test_the_fire_drill_starts_accounts_most_people_and_ends():
    drill = [a for a in a_day().actions if isinstance(a, day.Drill)]
    assert [d.step for d in drill] == ["start", "account", "account", "account", "all_clear"]
    assert 0.8 < sum(d.share for d in drill) < 1, "a few are still missing at all clear"
    assert day.ZONES[day.DRILL_ZONE] and drill[0].at == day.DRILL_START < day.DAY_END
