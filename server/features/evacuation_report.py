"""The report of an evacuation or drill: how fast everyone was accounted, and the list.

Times to 50, 90 and 100 % accounted, the missing count over time, the
figures per assembly point, the event's drills side by side; the roll as a
CSV for the fire service (formula cells neutralised). The arithmetic is in
``server/features/roll_call.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from server.db import Database
from server.features import roll_call
from server.features.evacuations import evacuation_in, evacuation_json
from server.features.export_words import ExportWords, worded_table
from server.models import Evacuation, EvacuationPerson, MusterPoint


def _report_of(evacuation: Evacuation, people: list[EvacuationPerson]) -> dict[str, Any]:
    total = len(people)
    accounted_at = [p.accounted_at for p in people if p.accounted_at is not None]
    started = evacuation.started_at
    return {
        **evacuation_json(evacuation),
        "total": total,
        "accounted": len(accounted_at),
        "missing": total - len(accounted_at),
        "seconds_to": {
            str(pct): roll_call.time_to_fraction(accounted_at, total, started, pct / 100)
            for pct in (50, 90, 100)
        },
        "missing_over_time": roll_call.missing_over_time(accounted_at, total, started),
        "found": sum(1 for p in people if p.reason == roll_call.FOUND),
        "late_joins": sum(1 for p in people if p.reason == roll_call.OFFLINE_SCAN),
        "statuses": {s: sum(1 for p in people if p.status == s) for s in roll_call.STATUSES},
    }


async def report(db: Database, evacuation_id: int) -> dict[str, Any]:
    """Times to 50/90/100 %, missing over time, per point, and the event's drills compared."""
    async with db.reading() as session:
        evacuation = await evacuation_in(session, evacuation_id)
        people = list(
            await session.scalars(
                select(EvacuationPerson).where(EvacuationPerson.evacuation_id == evacuation.id)
            )
        )
        points = list(
            await session.scalars(
                select(MusterPoint).where(MusterPoint.event_id == evacuation.event_id)
            )
        )
        others = list(
            await session.scalars(
                select(Evacuation)
                .where(
                    Evacuation.event_id == evacuation.event_id,
                    Evacuation.kind == roll_call.DRILL,
                )
                .order_by(Evacuation.started_at)
            )
        )
        compared = []
        for other in others:
            other_people = (
                people
                if other.id == evacuation.id
                else list(
                    await session.scalars(
                        select(EvacuationPerson).where(EvacuationPerson.evacuation_id == other.id)
                    )
                )
            )
            summary_of = _report_of(other, other_people)
            compared.append(
                {
                    key: summary_of[key]
                    for key in ("id", "started_at", "ended_at", "total", "missing", "seconds_to")
                }
            )
    result = _report_of(evacuation, people)
    result["points"] = [
        {
            "id": p.id,
            "name": p.name,
            "accounted": sum(1 for x in people if x.point_id == p.id),
            "seconds_to_last": max(
                (
                    (x.accounted_at - evacuation.started_at).total_seconds()
                    for x in people
                    if x.point_id == p.id and x.accounted_at is not None
                ),
                default=None,
            ),
        }
        for p in points
    ]
    result["drills"] = compared
    return result


CSV_COLUMNS = ("name", "ticket_id", "staff_id", "zone", "reason", "status", "accounted_at", "point")


def roll_csv(people: list[dict[str, Any]], words: ExportWords | None = None) -> str:
    """The roll as CSV, in ``words``' language with them (``?lang=``)."""
    coded = {"reason": "roll_reason", "status": "roll_status"}
    return worded_table(words, CSV_COLUMNS, coded, ([p[c] for c in CSV_COLUMNS] for p in people))
