"""The post-event review: pure summaries of the logs.

Everything here is a function of plain rows (the routes in
``server/routes/report.py`` read them), so the arithmetic — peak occupancy
replayed from the scan log, arrival curves, times to acknowledge — is tested
without a database.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo


@dataclass(frozen=True)
class ScanRow:
    scanned_at: datetime
    status: str
    reason: str | None
    direction: str
    gate_id: int | None
    from_zone_id: int | None
    to_zone_id: int | None
    offline: bool
    conflict: bool
    annulled: bool


@dataclass(frozen=True)
class IncidentRow:
    category: str
    severity: str
    status: str
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    escalated: bool


def summarise_scans(
    rows: Iterable[ScanRow], zone_ids: Iterable[int], tz: tzinfo
) -> dict[str, object]:
    """Totals, refusals by reason, per-gate tallies, peak occupancy per zone
    and arrivals per 15 minutes (in the event's time zone)."""
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    gates: dict[int, Counter[str]] = defaultdict(Counter)
    inside = dict.fromkeys(zone_ids, 0)
    peak: dict[int, tuple[int, datetime | None]] = {z: (0, None) for z in inside}
    arrivals: Counter[datetime] = Counter()
    for row in sorted(rows, key=lambda r: r.scanned_at):
        counts["scans"] += 1
        counts["offline"] += row.offline
        counts["conflicts"] += row.conflict
        if row.annulled:
            counts["annulled"] += 1
            continue
        if row.status != "ok":
            counts["refused"] += 1
            reasons[row.reason or "unknown"] += 1
            continue
        counts["accepted"] += 1
        if row.gate_id is not None:
            gates[row.gate_id][row.direction] += 1
        # A scan moves one person from from_zone_id to to_zone_id.
        if row.from_zone_id in inside:
            inside[row.from_zone_id] -= 1
        if row.to_zone_id in inside:
            inside[row.to_zone_id] += 1
            if inside[row.to_zone_id] > peak[row.to_zone_id][0]:
                peak[row.to_zone_id] = (inside[row.to_zone_id], row.scanned_at)
        if row.direction == "in" and row.from_zone_id is None:
            local = row.scanned_at.astimezone(tz)
            arrivals[
                local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
            ] += 1
    busiest = max(arrivals.items(), key=lambda kv: kv[1], default=None)
    return {
        "scans": counts["scans"],
        "accepted": counts["accepted"],
        "refused": counts["refused"],
        "refused_by_reason": dict(reasons.most_common()),
        "offline": counts["offline"],
        "conflicts": counts["conflicts"],
        "annulled": counts["annulled"],
        "gates": {g: {"in": c["in"], "out": c["out"]} for g, c in gates.items()},
        "peak_inside": {
            z: {"inside": n, "at": at.isoformat() if at else None} for z, (n, at) in peak.items()
        },
        "arrivals_per_15_minutes": [
            {"from": start.isoformat(), "arrivals": n} for start, n in sorted(arrivals.items())
        ],
        "busiest_15_minutes": (
            {"from": busiest[0].isoformat(), "arrivals": busiest[1]} if busiest else None
        ),
    }


def _median_minutes(spans: list[timedelta]) -> float | None:
    if not spans:
        return None
    return round(statistics.median(s.total_seconds() for s in spans) / 60, 1)


def summarise_incidents(rows: Iterable[IncidentRow]) -> dict[str, object]:
    """Counts, and the median minutes to take and to resolve an incident,
    overall and per category (next year's team asks "how long did medical
    calls wait?", not only "how long did calls wait?")."""
    by_category: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    to_ack: list[timedelta] = []
    to_resolve: list[timedelta] = []
    ack_by_category: dict[str, list[timedelta]] = defaultdict(list)
    resolve_by_category: dict[str, list[timedelta]] = defaultdict(list)
    total = escalated = unresolved = 0
    for row in rows:
        total += 1
        by_category[row.category] += 1
        by_severity[row.severity] += 1
        escalated += row.escalated
        unresolved += row.status != "resolved"
        if row.acknowledged_at is not None:
            to_ack.append(row.acknowledged_at - row.created_at)
            ack_by_category[row.category].append(to_ack[-1])
        if row.resolved_at is not None:
            to_resolve.append(row.resolved_at - row.created_at)
            resolve_by_category[row.category].append(to_resolve[-1])
    return {
        "total": total,
        "unresolved": unresolved,
        "escalated": escalated,
        "by_category": dict(by_category.most_common()),
        "by_severity": dict(sorted(by_severity.items())),
        "median_minutes_to_acknowledge": _median_minutes(to_ack),
        "median_minutes_to_resolve": _median_minutes(to_resolve),
        "times_by_category": {
            category: {
                "median_minutes_to_acknowledge": _median_minutes(ack_by_category[category]),
                "median_minutes_to_resolve": _median_minutes(resolve_by_category[category]),
            }
            for category, _n in by_category.most_common()
        },
    }
