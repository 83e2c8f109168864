"""The roll-call rules of an evacuation: pure functions of plain data.

- **The roll** is frozen at the start instant from the scan log: a ticket is
  on it when its last accepted scan at or before the start put it inside
  one of the zones being cleared. An offline scan synced after the start
  that proves a person was inside at the start adds them later, with the
  reason ``offline_scan``; an offline exit synced later that proves they had
  left before the start marks them ``left_earlier`` (reason ``offline_exit``).
- **An account** (a badge scanned at an assembly point, a name found in the
  list) is merged into a person's state so that the result does not depend
  on the order in which phones deliver them: the earliest accounting keeps
  the first time and place, the latest one gives the status. A person
  accounted twice counts once.
- **The figures**: to account for, accounted and missing in total, per zone
  and per point; arrivals per minute at each point; the time to 50, 90 and
  100 % accounted.

``server/features/evacuations.py`` reads the rows and applies these results in one
transaction; the staff phone's muster mode (``pwa/app/evacuation.js``) shows
the same statuses offline until the server has merged them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

# Statuses of a person on the roll (stable codes; the pages name them).
MISSING = "missing"
SAFE = "safe"
LEFT_EARLIER = "left_earlier"
NEEDS_HELP = "needs_help"
STATUSES = (MISSING, SAFE, LEFT_EARLIER, NEEDS_HELP)
ACCOUNT_STATUSES = (SAFE, LEFT_EARLIER, NEEDS_HELP)

# Why a person is on the roll (stable codes).
INSIDE = "inside"
OFFLINE_SCAN = "offline_scan"
ON_DUTY = "on_duty"
FOUND = "found"
OFFLINE_EXIT = "offline_exit"

LIVE, DRILL = "live", "drill"
KINDS = (LIVE, DRILL)


@dataclass(frozen=True)
class LastScan:
    """A ticket's last accepted scan at or before the start instant."""

    ticket_id: int
    #: Where the scan left the holder: a zone id, or None (outside).
    zone_id: int | None
    gate_id: int | None
    scanned_at: datetime
    received_at: datetime


@dataclass(frozen=True)
class RollEntry:
    ticket_id: int
    zone_id: int
    gate_id: int | None
    seen_at: datetime
    reason: str


def inside_at_start(scan: LastScan, zones: frozenset[int] | None) -> bool:
    """Whether this last scan before the start left its holder inside a cleared zone."""
    return scan.zone_id is not None and (zones is None or scan.zone_id in zones)


def roll_reason(scan: LastScan, started_at: datetime) -> str:
    """``inside``, or ``offline_scan`` when the proof arrived after the start."""
    return OFFLINE_SCAN if scan.received_at > started_at else INSIDE


def freeze_roll(
    last_scans: Iterable[LastScan], zones: frozenset[int] | None, started_at: datetime
) -> list[RollEntry]:
    """The roll: every ticket whose last scan before ``started_at`` left it inside ``zones``."""
    return [
        RollEntry(s.ticket_id, s.zone_id, s.gate_id, s.scanned_at, roll_reason(s, started_at))
        for s in last_scans
        if s.zone_id is not None and inside_at_start(s, zones)
    ]


def late_change(scan: LastScan, on_roll: bool, zones: frozenset[int] | None) -> str | None:
    """What a scan synced after the start changes on the roll.

    ``scan`` is the ticket's last scan before the start as the log reads
    now (with the late arrivals in it): ``"join"`` when it proves the person
    inside and they are not on the roll yet, ``"left"`` when it proves they
    had gone out and they are, None otherwise.
    """
    inside = inside_at_start(scan, zones)
    if inside and not on_roll:
        return "join"
    if not inside and on_roll:
        return "left"
    return None


@dataclass(frozen=True)
class Accounting:
    """A person's accounted state: what the earliest and the latest account said."""

    status: str = MISSING
    #: The first time and place (earliest account): kept whatever arrives later.
    first_at: datetime | None = None
    point_id: int | None = None
    #: When the status was given (the latest account wins the status).
    status_at: datetime | None = None


def merge_account(
    current: Accounting, status: str, at: datetime, point_id: int | None
) -> Accounting:
    """``current`` with one more account merged in, whatever order accounts arrive in.

    The earliest account keeps the first time and place; the latest gives
    the status (someone marked ``needs_help`` and later ``safe`` is safe).
    Merging the same account twice changes nothing.
    """
    if status not in ACCOUNT_STATUSES:
        raise ValueError(f"unknown account status {status!r}")
    first_at, first_point = current.first_at, current.point_id
    if first_at is None or at < first_at:
        first_at, first_point = at, point_id
    new_status, status_at = current.status, current.status_at
    if status_at is None or at >= status_at:
        new_status, status_at = status, at
    return Accounting(new_status, first_at, first_point, status_at)


def is_accounted(status: str) -> bool:
    return status != MISSING


def time_to_fraction(
    accounted_at: Iterable[datetime], total: int, started_at: datetime, fraction: float
) -> float | None:
    """Seconds from the start until ``fraction`` of ``total`` was accounted, or None."""
    if total <= 0:
        return 0.0
    needed = max(1, math.ceil(total * fraction - 1e-9))
    times = sorted(accounted_at)
    if len(times) < needed:
        return None
    return max(0.0, (times[needed - 1] - started_at).total_seconds())


def per_minute(times: Iterable[datetime], started_at: datetime, minutes: int) -> list[int]:
    """How many arrivals in each minute since the start (the last ``minutes`` kept)."""
    counts: dict[int, int] = {}
    for at in times:
        minute = max(0, int((at - started_at).total_seconds() // 60))
        counts[minute] = counts.get(minute, 0) + 1
    return per_minute_of_counts(counts, minutes)


def per_minute_of_counts(counts: Mapping[int, int], minutes: int) -> list[int]:
    """``per_minute`` from arrivals already counted by minute since the start
    (the database counts them for the ``evacuation`` topic)."""
    last = max((m for m in counts if counts[m]), default=0)
    first = max(0, last - minutes + 1)
    return [counts.get(m, 0) for m in range(first, last + 1)]


def missing_over_time(
    accounted_at: Iterable[datetime], total: int, started_at: datetime, step_seconds: int = 60
) -> list[dict[str, float | int]]:
    """Missing count after each step since the start, until nobody is missing or the last account."""
    times = sorted(accounted_at)
    points: list[dict[str, float | int]] = [{"seconds": 0, "missing": total}]
    if not times:
        return points
    end = (times[-1] - started_at).total_seconds()
    step, done, index = step_seconds, 0, 0
    while step - step_seconds < end:
        while index < len(times) and (times[index] - started_at).total_seconds() <= step:
            index += 1
            done += 1
        points.append({"seconds": step, "missing": total - done})
        step += step_seconds
    return points
