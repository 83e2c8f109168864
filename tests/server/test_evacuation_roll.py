"""The roll frozen in the database (one INSERT … SELECT) equals the pure rule's roll.

``server.features.roll_call.freeze_roll`` is the reference: on random scan logs (refused
and annulled scans, exits, zone moves, scans after the start, ties on the scan
time, proofs that arrived after the start) the rows the start writes must be
exactly the entries the rule makes from each ticket's last accepted scan at or
before the start, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.context import Muster
from server.features import roll_call
from server.features.roll_call import LastScan
from server.models import EvacuationPerson, Scan
from tests.conftest import Api
from tests.server.test_evacuations import make_venue, start

TICKETS = 60
SCANS = 240


def last_scans(log: list[dict[str, Any]], started_at: datetime) -> list[LastScan]:
    """Each ticket's last accepted scan at or before the start, read from the list."""
    last: dict[int, dict[str, Any]] = {}
    for row in log:  # in id order: a later id wins a tie on the time
        if row["status"] != "ok" or row["annulled_at"] is not None:
            continue
        if row["scanned_at"] > started_at:
            continue
        held = last.get(row["ticket_id"])
        if held is None or row["scanned_at"] >= held["scanned_at"]:
            last[row["ticket_id"]] = row
    return [
        LastScan(r["ticket_id"], r["to_zone_id"], r["gate_id"], r["scanned_at"], r["received_at"])
        for r in last.values()
    ]


async def write_log(ctx: Muster, event_id: int, rows: list[dict[str, Any]]) -> None:
    async with ctx.db.writing() as session:
        for row in rows:
            session.add(Scan(event_id=event_id, nonce=uuid.uuid4().hex, **row))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_frozen_roll_equals_the_rule(
    ctx: Muster, organiser: Api, event: Any, seed: int
) -> None:
    rng = random.Random(seed)
    e = event["id"]
    venue = await make_venue(organiser, e)
    issued = await organiser.post(
        f"/api/v1/events/{e}/tickets",
        {"tickets": [{"holder_name": f"嘉宾 {i}"} for i in range(TICKETS)]},
        expect=201,
    )
    tickets = [t["id"] for t in issued["tickets"]]
    now = datetime.now(UTC)
    before = [now - timedelta(minutes=m) for m in (50, 40, 30, 30, 20, 10, 1)]  # a tie
    after = [now + timedelta(hours=1)]  # scanned after the start: never counts
    received_late = now + timedelta(hours=2)  # a proof synced after the start
    zones = [venue["a"], venue["b"], None]
    gates = [venue["gate_a"], venue["gate_b"]]
    log = []
    for _ in range(SCANS):
        scanned_at = rng.choice(before + after if rng.random() < 0.15 else before)
        log.append(
            {
                "ticket_id": rng.choice(tickets),
                "gate_id": rng.choice(gates),
                "direction": "in",
                "scanned_at": scanned_at,
                "received_at": received_late if rng.random() < 0.2 else scanned_at,
                "status": "ok" if rng.random() < 0.85 else "refused",
                "to_zone_id": rng.choice(zones),
                "annulled_at": now - timedelta(minutes=5) if rng.random() < 0.05 else None,
                "offline": False,
                "response": {},
            }
        )
    await write_log(ctx, e, log)
    cleared = rng.choice([None, [venue["a"]], [venue["b"]], [venue["a"], venue["b"]]])
    started = await start(organiser, e, **({} if cleared is None else {"zones": cleared}))

    async with ctx.db.reading() as session:
        rows = (
            await session.execute(
                select(
                    EvacuationPerson.ticket_id,
                    EvacuationPerson.zone_id,
                    EvacuationPerson.last_gate_id,
                    EvacuationPerson.last_seen_at,
                    EvacuationPerson.reason,
                    EvacuationPerson.status,
                    EvacuationPerson.name,
                ).where(EvacuationPerson.evacuation_id == started["id"])
            )
        ).all()
        started_at = (
            await session.scalar(
                select(EvacuationPerson.added_at).where(
                    EvacuationPerson.evacuation_id == started["id"]
                )
            )
            if rows
            else now
        )
    assert started_at is not None
    expected = roll_call.freeze_roll(
        last_scans(log, started_at), None if cleared is None else frozenset(cleared), started_at
    )
    assert expected, "a log with nobody inside proves little"
    assert sorted((r[0], r[1], r[2], r[3], r[4]) for r in rows) == sorted(
        (x.ticket_id, x.zone_id, x.gate_id, x.seen_at, x.reason) for x in expected
    )
    assert {r[5] for r in rows} == {roll_call.MISSING}
    names = {t["id"]: t["holder_name"] for t in issued["tickets"]}
    assert all(r[6] == names[r[0]] for r in rows)
