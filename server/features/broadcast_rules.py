"""Who a broadcast is for: one pure function over what is known of a phone.

A broadcast names its audience as a union of selectors: ``everyone``, or
any of ``roles``, ``teams``, ``zones``, ``people`` (roster members) and
``devices`` (phones, by account: a re-send to the phones that have not
acknowledged names them). ``reaches`` decides it for one ``Reader`` (a
phone or screen, with the roster facts of the person holding it); the same
function is called by the hub's fan-out of the ``broadcasts`` topic (which
phones get the message), by the acknowledgement (a phone outside the
audience is refused) and by the receipts (who is expected to acknowledge).

Command and organiser screens see every broadcast (they send them and
watch the receipts), but are never expected to acknowledge one.

Emergency plans are confirmed by the roster members of the teams a plan
names (``plan_expects``; none named: everyone), counted by ``count_confirmations``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import median
from typing import Any

INFO = "info"
URGENT = "urgent"
PRIORITIES = (INFO, URGENT)

#: Roles a broadcast may be aimed at (the phones of the floor and the doors).
PHONE_ROLES = ("door", "staff")
SCREEN_ROLES = frozenset({"organiser", "command"})

SELECTORS = ("roles", "teams", "zones", "people", "devices")


@dataclass(frozen=True, slots=True)
class Audience:
    everyone: bool = False
    roles: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    zones: frozenset[int] = frozenset()
    people: frozenset[int] = frozenset()
    devices: frozenset[int] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.everyone and not any(getattr(self, key) for key in SELECTORS)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"everyone": self.everyone}
        for key in SELECTORS:
            data[key] = sorted(getattr(self, key))
        return data


def audience_of(data: Mapping[str, Any] | None) -> Audience:
    """An ``Audience`` from its JSON (as stored, or as carried by a stream message)."""
    data = data or {}
    return Audience(
        everyone=bool(data.get("everyone")),
        roles=frozenset(str(r) for r in data.get("roles") or ()),
        teams=frozenset(str(t) for t in data.get("teams") or ()),
        zones=frozenset(int(z) for z in data.get("zones") or ()),
        people=frozenset(int(p) for p in data.get("people") or ()),
        devices=frozenset(int(d) for d in data.get("devices") or ()),
    )


@dataclass(frozen=True, slots=True)
class Reader:
    """A phone (or screen) as the audience sees it.

    ``role`` is the roster member's role when the phone is paired to one,
    else the phone's own; ``zone_id`` where they stand (the running shift,
    else the member's zone, else the zone their gate leads into).
    """

    account_id: int | None
    role: str
    staff_id: int | None = None
    team: str | None = None
    zone_id: int | None = None


def reaches(audience: Audience, reader: Reader) -> bool:
    """Whether a broadcast to ``audience`` is for ``reader`` to read and acknowledge."""
    if reader.role in SCREEN_ROLES:
        return False
    if audience.everyone:
        return True
    return (
        reader.role in audience.roles
        or (reader.team is not None and reader.team in audience.teams)
        or (reader.zone_id is not None and reader.zone_id in audience.zones)
        or (reader.staff_id is not None and reader.staff_id in audience.people)
        or (reader.account_id is not None and reader.account_id in audience.devices)
    )


def audience_text(audience: Audience) -> str:
    """An audience as one spreadsheet cell: "everyone", or its selectors
    ("roles=door; teams=security,tech; zones=3")."""
    if audience.everyone:
        return "everyone"
    return "; ".join(
        f"{key}={','.join(str(v) for v in sorted(getattr(audience, key)))}"
        for key in SELECTORS
        if getattr(audience, key)
    )


def shown_to(audience: Audience, reader: Reader) -> bool:
    """Whether a socket gets a broadcast message: its audience, and every screen."""
    return reader.role in SCREEN_ROLES or reaches(audience, reader)


def not_acknowledged(audience: Audience, readers: Iterable[Reader], acked: set[int]) -> Audience:
    """The audience of a re-send: the phones of ``audience`` whose account has
    not acknowledged (``acked``: account ids), named one by one."""
    return Audience(
        devices=frozenset(
            r.account_id
            for r in readers
            if r.account_id is not None and r.account_id not in acked and reaches(audience, r)
        )
    )


def plan_expects(plan_teams: Iterable[str], team: str | None) -> bool:
    """Whether a roster member of ``team`` is expected to confirm a plan that
    names ``plan_teams`` (a plan naming none: every member)."""
    named = set(plan_teams)
    return not named or (team is not None and team in named)


def count_confirmations(
    plans: Mapping[int, Iterable[str]],
    members: Mapping[int, str],
    confirmed: set[tuple[int, int]],
) -> dict[str, Any]:
    """Plans confirmed / expected, in all, by team and by plan.

    ``plans``: plan id -> the teams it names; ``members``: roster member id ->
    team; ``confirmed``: the (plan, member) pairs standing. A member is
    expected to confirm the plans of their team (``plan_expects``); one they
    read though not expected of them does not count. A member with every
    expected plan confirmed is ready.
    """
    teams: dict[str, Counter[str]] = defaultdict(Counter)
    per_plan: dict[int, Counter[str]] = {p: Counter() for p in plans}
    for staff_id, team in members.items():
        mine = [p for p, named in plans.items() if plan_expects(named, team)]
        done = sum(1 for p in mine if (p, staff_id) in confirmed)
        counts = teams[team]
        counts["people"] += 1
        counts["expected"] += len(mine)
        counts["confirmed"] += done
        counts["ready"] += done == len(mine)
        for p in mine:
            per_plan[p]["expected"] += 1
            per_plan[p]["confirmed"] += (p, staff_id) in confirmed
    return {
        "expected": sum(c["expected"] for c in teams.values()),
        "confirmed": sum(c["confirmed"] for c in teams.values()),
        "teams": [
            {"team": team, **{k: c[k] for k in ("people", "ready", "expected", "confirmed")}}
            for team, c in sorted(teams.items())
        ],
        "plans": [
            {
                "id": p,
                "teams": sorted(plans[p]),
                "expected": c["expected"],
                "confirmed": c["confirmed"],
            }
            for p, c in sorted(per_plan.items())
        ],
    }


def ack_times(sent_seconds: Iterable[float]) -> dict[str, float | None]:
    """Median and slowest seconds from sending to acknowledgement."""
    times = sorted(sent_seconds)
    if not times:
        return {"median_seconds": None, "slowest_seconds": None}
    return {"median_seconds": round(median(times), 1), "slowest_seconds": round(times[-1], 1)}
