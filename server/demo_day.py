"""The demo's day, planned ahead as plain data: who arrives when, where they
go, and what goes wrong. Pure functions of a seed and the ticket list; no
I/O. ``server.demo`` plays the plan against the real HTTP API and websocket
(``tests/server/test_demo_day.py`` tests the plan, ``tests/server/test_demo.py``
the playing).

Times are minutes after midnight of the event's day (its own time zone).
The day runs from ``DAY_START`` to ``DAY_END``; doors open at ``DOORS_OPEN``.

The arrival curve is the shape door staff know: the queue that formed before
opening pours in during the first minutes, a broad morning wave peaks about
twenty minutes later and tails off over two hours, a smaller wave comes for
the afternoon session, and a trickle in between.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

DAY_START = 8 * 60 + 50
DOORS_OPEN = 9 * 60
AFTERNOON_SESSION = 13 * 60 + 30
LAST_ENTRY = 17 * 60
DAY_END = 18 * 60 + 30

#: Zones by key: (name, capacity, soft warning level).
ZONES: dict[str, tuple[str, int, float]] = {
    "main": ("主会场 Main hall", 2400, 0.9),
    "expo": ("展区 Expo", 700, 0.8),
    "vip": ("贵宾室 VIP lounge", 40, 0.9),
}
#: Gates by key: (from zone, to zone); None is outside.
GATES: dict[str, tuple[str | None, str]] = {
    "north": (None, "main"),
    "south": (None, "main"),
    "expo": ("main", "expo"),
    "vip": ("main", "vip"),
}
#: The door that drops off the network for a while, and when (minutes).
OFFLINE_GATE = "south"
OFFLINE_FROM = 10 * 60 + 10
OFFLINE_UNTIL = 10 * 60 + 35

TicketKind = Literal["standard", "vip", "press"]
Direction = Literal["in", "out"]


def arrival_weight(minute: float) -> float:
    """Relative arrivals in the minute ``minute`` after doors open (0 before)."""
    if minute < 0 or minute > LAST_ENTRY - DOORS_OPEN:
        return 0.0
    queue_at_opening = 9.0 * math.exp(-minute / 6)
    morning_wave = 4.0 * (minute / 25) * math.exp(1 - minute / 25)
    session = AFTERNOON_SESSION - DOORS_OPEN
    afternoon_wave = 1.2 * math.exp(-(((minute - (session - 15)) / 25) ** 2))
    trickle = 0.15 if minute < 7 * 60 else 0.05
    return queue_at_opening + morning_wave + afternoon_wave + trickle


def arrival_times(count: int, rng: random.Random) -> list[float]:
    """``count`` arrival times (minutes of the day), sorted, following ``arrival_weight``."""
    minutes = range(LAST_ENTRY - DOORS_OPEN)
    weights = [arrival_weight(m) for m in minutes]
    chosen = rng.choices(minutes, weights=weights, k=count)
    return sorted(DOORS_OPEN + m + rng.random() for m in chosen)


def departure_time(arrived: float, rng: random.Random) -> float:
    """When someone who arrived at ``arrived`` leaves: a few at lunch, most at the end."""
    roll = rng.random()
    if roll < 0.12:
        leave = rng.uniform(12 * 60, 13 * 60 + 30)
    elif roll < 0.3:
        leave = rng.uniform(14 * 60 + 30, 17 * 60)
    else:
        leave = rng.gauss(17 * 60 + 40, 20)
    return min(max(leave, arrived + 30), DAY_END - 5)


@dataclass(frozen=True)
class Scan:
    """A ticket at a gate. ``ticket`` indexes the demo's ticket list;
    ``expect_zone`` is where its holder must be for the scan to be played
    (a step after a refused one is skipped, as the person would not come)."""

    at: float
    ticket: int
    gate: str
    direction: Direction
    expect_zone: str | None
    #: What it shows: one of ``JOURNEY`` (played only while the holder is
    #: where ``expect_zone`` says), or a refusal played on purpose:
    #: "repeat", "wrong_zone", "conflict", "revoked" (the old secret).
    purpose: str


JOURNEY = frozenset({"arrive", "visit", "return", "leave"})


@dataclass(frozen=True)
class Forged:
    """A made-up code shown at a gate (refused as ``invalid``)."""

    at: float
    gate: str


@dataclass(frozen=True)
class Revoke:
    """The organiser revokes a lost ticket and issues its holder a new one."""

    at: float
    ticket: int


@dataclass(frozen=True)
class Offline:
    """A door's phone loses the network (``online`` False) or gets it back."""

    at: float
    gate: str
    online: bool


@dataclass(frozen=True)
class StockMove:
    at: float
    item: str
    kind: Literal["issue", "receive"]
    quantity: int
    reason: str


@dataclass(frozen=True)
class IncidentStep:
    """One step of an incident's life: ``report`` (by floor staff), ``ack``,
    ``assign``, ``resolve`` (by the command centre)."""

    at: float
    incident: str
    step: Literal["report", "ack", "assign", "resolve"]


@dataclass(frozen=True)
class Drill:
    """The afternoon fire drill: the command centre starts it for one zone,
    floor staff account the people at the assembly point in a few rounds
    (``share`` of the roll each), then all clear."""

    at: float
    step: Literal["start", "account", "all_clear"]
    share: float = 0.0


#: The zone the drill clears, where its people gather, and when.
DRILL_ZONE = "expo"
DRILL_POINT = "南停车场 South car park"
DRILL_START = 15 * 60 + 30

Action = Scan | Forged | Revoke | Offline | StockMove | IncidentStep | Drill


@dataclass(frozen=True)
class IncidentStory:
    key: str
    category: str
    severity: Literal["P1", "P2", "P3", "P4"]
    title: str
    place: str  # a gate or a zone key
    reported: float
    acknowledged: float | None
    resolved: float | None
    assignee: str = ""
    equipment_tag: str = ""
    #: A second report of the same thing a little later (linked to this one).
    reported_again: float | None = None


def hm(hours: int, minutes: int = 0) -> float:
    return hours * 60 + minutes


INCIDENTS: tuple[IncidentStory, ...] = (
    IncidentStory(
        "scanner",
        "equipment_failure",
        "P2",
        "北门2号扫码枪无响应 · North door scanner 2 not responding",
        "north",
        hm(9, 6),
        hm(9, 10),
        hm(9, 45),
        "AV 技术员小陈 · Chen (AV)",
        "SCAN-N-02",
        hm(9, 8),
    ),
    IncidentStory(
        "queue",
        "crowd",
        "P3",
        "南门排队超过 15 分钟 · South door queue over 15 minutes",
        "south",
        hm(9, 12),
        hm(9, 14),
        hm(9, 50),
        "安保组 · Security team",
    ),
    IncidentStory(
        "faint",
        "medical",
        "P1",
        "展区有观众晕倒 · Visitor fainted in the Expo",
        "expo",
        hm(10, 40),
        hm(10, 58),
        hm(11, 20),
        "医疗点王医生 · Dr Wang (first aid)",
    ),
    IncidentStory(
        "power",
        "power",
        "P2",
        "主会场舞台电源跳闸 · Stage power tripped in the Main hall",
        "main",
        hm(11, 30),
        hm(11, 33),
        hm(12, 5),
        "电工老李 · Li (electrician)",
        "PDU-STAGE-1",
    ),
    IncidentStory(
        "wifi",
        "network",
        "P3",
        "展区 Wi-Fi 时断时续 · Expo Wi-Fi keeps dropping",
        "expo",
        hm(14, 5),
        hm(14, 20),
        None,
        "网络组 · Network team",
    ),
    IncidentStory(
        "lost",
        "security",
        "P4",
        "失物招领：黑色双肩包 · Lost property: black backpack",
        "main",
        hm(16, 30),
        hm(16, 40),
        hm(17, 20),
        "服务台 · Help desk",
    ),
)


@dataclass(frozen=True)
class StockStory:
    key: str
    name: str
    unit: str
    quantity: int
    low: int
    critical: int


STOCK: tuple[StockStory, ...] = (
    StockStory("bags", "迎宾礼袋 Welcome bags", "个", 600, 300, 120),
    StockStory("water", "矿泉水 Water", "瓶", 720, 300, 120),
    StockStory("brochures", "宣传册 Brochures", "本", 2000, 400, 150),
)


#: The ticket count the stock levels and the day's water are sized for.
SIZED_FOR = 3000


def sized(amount: int, tickets: int) -> int:
    """``amount`` for a day of ``tickets`` tickets (the stories are sized for ``SIZED_FOR``)."""
    return max(1, round(amount * tickets / SIZED_FOR))


def stock_for(tickets: int) -> list[StockStory]:
    """The stock items, with quantities and thresholds sized to the tickets."""
    return [
        StockStory(
            s.key,
            s.name,
            s.unit,
            sized(s.quantity, tickets),
            sized(s.low, tickets),
            sized(s.critical, tickets),
        )
        for s in STOCK
    ]


@dataclass(frozen=True)
class DayPlan:
    actions: list[Action]
    #: Tickets that never come (no-shows, and the demo badges).
    absent: frozenset[int]


def plan_day(
    kinds: Sequence[TicketKind],
    rng: random.Random,
    show_rate: float = 0.88,
    reserved: frozenset[int] = frozenset(),
) -> DayPlan:
    """The whole day for tickets of ``kinds`` (index = ticket), sorted by time;
    ``reserved`` tickets (the demo badges a person scans) are never used.

    Some people play the refusals: the first to arrive shows the ticket
    twice; the last had lost theirs (revoked and re-issued before the doors
    open, the old one shown at 09:30); a no-show's ticket is shared with a
    friend (used online at one door, then offline at the dropped door: a
    conflict at sync).
    """
    people = [i for i in range(len(kinds)) if i not in reserved and rng.random() < show_rate]
    absent = frozenset(range(len(kinds))) - set(people)
    actions: list[Action] = []
    arrivals = arrival_times(len(people), rng)
    rng.shuffle(people)
    for ticket, arrived in zip(people, arrivals, strict=True):
        actions.extend(journey(ticket, kinds[ticket], arrived, rng))
    actions.extend(_refusals(kinds, people, absent - reserved, arrivals, actions))
    actions.extend(_stock_moves(arrivals, len(kinds)))
    actions.extend(_incident_steps())
    actions.extend(_drill_steps())
    actions += [
        Offline(OFFLINE_FROM, OFFLINE_GATE, online=False),
        Offline(OFFLINE_UNTIL, OFFLINE_GATE, online=True),
    ]
    actions.sort(key=lambda action: action.at)
    return DayPlan(actions, absent)


def journey(ticket: int, kind: TicketKind, arrived: float, rng: random.Random) -> list[Scan]:
    """One person's day: in at a street door, visits to the Expo or the VIP
    lounge (each in and back out), out at a street door."""
    door = "north" if rng.random() < 0.6 else "south"
    steps = [Scan(arrived, ticket, door, "in", None, "arrive")]
    now = arrived
    visits: list[str] = []
    if kind == "vip":
        visits.append("vip")
    if kind != "press" and rng.random() < 0.55:
        visits.append("expo")
    if kind != "press" and rng.random() < 0.25:
        visits.append("expo")
    for zone in visits:
        start = now + rng.uniform(5, 60)
        stay = rng.uniform(40, 150) if zone == "vip" else rng.uniform(15, 70)
        if start + stay > DAY_END - 20:
            break
        steps.append(Scan(start, ticket, zone, "in", "main", "visit"))
        steps.append(Scan(start + stay, ticket, zone, "out", zone, "return"))
        now = start + stay
    leave = max(departure_time(arrived, rng), now + rng.uniform(5, 20))
    if leave < DAY_END:
        exit_door = door if rng.random() < 0.7 else ("south" if door == "north" else "north")
        steps.append(Scan(leave, ticket, exit_door, "out", "main", "leave"))
    return steps


def _refusals(
    kinds: Sequence[TicketKind],
    people: list[int],
    absent: frozenset[int],
    arrivals: list[float],
    planned: list[Action],
) -> list[Action]:
    first = people[0]  # arrived first (people were shuffled before pairing with times)
    standard = next(p for p in people if kinds[p] == "standard")
    standard_arrival = next(a.at for a in planned if isinstance(a, Scan) and a.ticket == standard)
    shared = min(absent) if absent else None
    found: list[Action] = [
        # Shown again at the other door a few minutes after going in.
        Scan(arrivals[0] + 3, first, "south", "in", None, "repeat"),
        # A standard ticket tried at the VIP lounge.
        Scan(max(standard_arrival + 10, hm(10, 20)), standard, "vip", "in", "main", "wrong_zone"),
        Forged(hm(9, 20), "north"),
        Forged(hm(14, 10), "south"),
        Revoke(hm(8, 55), people[-1]),
        Scan(hm(9, 30), people[-1], "north", "in", None, "revoked"),
    ]
    if shared is not None:
        found += [
            Scan(OFFLINE_FROM + 4, shared, "north", "in", None, "arrive"),
            Scan(OFFLINE_FROM + 9, shared, OFFLINE_GATE, "in", None, "conflict"),
        ]
    return found


def _stock_moves(arrivals: list[float], tickets: int) -> list[StockMove]:
    """Welcome bags and brochures handed out as people arrive, water through
    the day (more at lunch), and deliveries that restock them."""
    moves: list[StockMove] = []
    for index in range(20, len(arrivals), 20):
        moves.append(StockMove(arrivals[index], "bags", "issue", 10, "welcome desk"))
    for index in range(100, len(arrivals), 100):
        moves.append(StockMove(arrivals[index], "brochures", "issue", 50, "welcome desk"))
    minute = hm(9, 30)
    while minute < hm(17, 30):
        lunch = hm(12) <= minute < hm(13)
        moves.append(
            StockMove(minute, "water", "issue", sized(72 if lunch else 24, tickets), "water point")
        )
        minute += 15
    moves += [
        StockMove(hm(9, 50), "bags", "receive", sized(400, tickets), "warehouse delivery"),
        StockMove(hm(13, 0), "bags", "receive", sized(400, tickets), "warehouse delivery"),
        StockMove(hm(13, 30), "water", "receive", sized(480, tickets), "supplier delivery"),
    ]
    return moves


def _drill_steps() -> list[Drill]:
    """Start; 40%, 35% and 20% of the roll accounted three minutes apart (5%
    are still missing when the drill ends: the roll shows who); all clear."""
    return [
        Drill(DRILL_START, "start"),
        Drill(DRILL_START + 3, "account", 0.4),
        Drill(DRILL_START + 6, "account", 0.35),
        Drill(DRILL_START + 9, "account", 0.2),
        Drill(DRILL_START + 15, "all_clear"),
    ]


def _incident_steps() -> list[IncidentStep]:
    steps: list[IncidentStep] = []
    for story in INCIDENTS:
        steps.append(IncidentStep(story.reported, story.key, "report"))
        if story.reported_again is not None:
            steps.append(IncidentStep(story.reported_again, story.key, "report"))
        if story.acknowledged is not None:
            steps.append(IncidentStep(story.acknowledged, story.key, "ack"))
            if story.assignee:
                steps.append(IncidentStep(story.acknowledged + 1, story.key, "assign"))
        if story.resolved is not None:
            steps.append(IncidentStep(story.resolved, story.key, "resolve"))
    return steps


def ticket_kinds(count: int) -> list[TicketKind]:
    """The demo's ticket mix: 3% VIP, 40 press passes, the rest standard."""
    vip = max(1, count * 3 // 100)
    press = min(40, count // 50)
    kinds: list[TicketKind] = ["vip"] * vip
    return kinds + ["press"] * press + ["standard"] * (count - vip - press)


def escalation_seconds(speed: float) -> dict[str, dict[str, float]]:
    """The escalation clocks of an event, scaled to a day that runs ``speed``
    times faster (at least 3 s: the demo checks every second)."""
    ack = {"P1": 2, "P2": 5, "P3": 15}
    resolve = {"P1": 15, "P2": 30, "P3": 60}
    return {
        name: {p: max(3.0, minutes * 60 / speed) for p, minutes in table.items()}
        for name, table in (("ack", ack), ("resolve", resolve))
    }
