"""The scan log's sums a hub keeps (``server.features.scan_tally``): the
screens' headcount and gates figures are the log's own, counted in the
database, whatever the doors do and however a count meets a rush; on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from server.features import scan_tally
from server.features.gates import gates_snapshot
from server.features.headcount import headcount_snapshot
from server.features.scan_tally import GateTally, ScanTally, count_scans
from server.models import Scan, utcnow
from tests.conftest import Api
from tests.realtime.conftest import Client, Open, Served, Venue, make_venue

#: What the gates topic shows of a gate that the scan log decides.
GATE_FIGURES = ("id", "in", "out", "refused", "last_scan_at", "scans_per_minute")


def _counted(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "at"}


def _gate_figures(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: g[k] for k in GATE_FIGURES} for g in data["gates"]]


async def _screens_agree(served: Served, venue: Venue, screen: Client) -> None:
    """The screen's next headcount and gates pictures equal the ones counted
    in the database now (waiting for the update that brings them)."""
    db = served.ctx.db
    headcount = _counted(await headcount_snapshot(db, venue.event_id))
    gates = _gate_figures(await gates_snapshot(db, venue.event_id))
    await screen.since(
        0, lambda m: m.get("topic") == "headcount" and _counted(m["data"]) == headcount
    )
    await screen.since(0, lambda m: m.get("topic") == "gates" and _gate_figures(m["data"]) == gates)


def _scan_body(ticket: dict[str, Any], gate_id: int, direction: str, at: datetime) -> Any:
    return {
        "secret": ticket["secret"],
        "gate": gate_id,
        "direction": direction,
        "nonce": uuid.uuid4().hex,
        "scanned_at": at.isoformat(),
    }


async def test_a_screens_figures_are_the_scan_logs_own(served: Served, open_socket: Open) -> None:
    """Ins at two gates, an out, a refusal, an offline scan made minutes ago
    and an annulment: after each, the kept sums show what the database counts."""
    venue = await make_venue(served, tickets=4)
    eid = venue.event_id
    second = await venue.organiser.post(
        f"/api/v1/events/{eid}/gates",
        {"name": "South door", "from_zone": None, "to_zone": venue.zone_id},
        expect=201,
    )
    north = served.api(await served.token("door", eid, venue.gate_id))
    south = served.api(await served.token("door", eid, second["id"]))
    screen = await open_socket(eid, await served.token("command", eid), ["headcount", "gates"])
    await _screens_agree(served, venue, screen)
    now = datetime.now(UTC)
    scans = f"/api/v1/events/{eid}/scans"
    first = _scan_body(venue.tickets[0], venue.gate_id, "in", now)
    await north.post(scans, first, expect=200)
    await south.post(scans, _scan_body(venue.tickets[1], second["id"], "in", now), expect=200)
    await _screens_agree(served, venue, screen)
    await north.post(scans, _scan_body(venue.tickets[1], venue.gate_id, "out", now), expect=200)
    refused = await south.post(scans, _scan_body(venue.tickets[0], second["id"], "in", now))
    assert refused["reason"] == "already_inside"
    await _screens_agree(served, venue, screen)
    earlier = _scan_body(venue.tickets[2], second["id"], "in", now - timedelta(minutes=12))
    synced = await south.post(f"{scans}/sync", {"scans": [earlier]})
    assert synced["results"][0]["status"] == "ok"
    await _screens_agree(served, venue, screen)
    headcount = await headcount_snapshot(served.ctx.db, eid)
    assert sum(headcount["arrivals_per_minute"]["counts"]) == 3
    assert [g["in"] for g in headcount["gates"]] == [1, 2]
    await north.post(f"{scans}/{first['nonce']}/annul", {}, expect=200)
    await _screens_agree(served, venue, screen)
    after = await headcount_snapshot(served.ctx.db, eid)
    assert [g["in"] for g in after["gates"]] == [0, 2]


async def _rush(venue: Venue, doors: list[Api], tickets: list[Any], done: list[int]) -> None:
    """Every ticket in from its door, then out again; ``done[0]`` counts the scans."""
    path = f"/api/v1/events/{venue.event_id}/scans"

    async def door_scans(n: int, door: Api) -> None:
        for ticket in tickets[n :: len(doors)]:
            for direction in ("in", "out"):
                body = _scan_body(ticket, venue.gate_id, direction, datetime.now(UTC))
                assert (await door.post(path, body, expect=200))["status"] == "ok"
                done[0] += 1

    await asyncio.gather(*(door_scans(n, door) for n, door in enumerate(doors)))


@pytest.mark.parametrize("again", ["forgotten", "stale"])
async def test_a_count_begun_in_a_rush_misses_and_doubles_nothing(
    served: Served, again: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts of the log begun again and again while 16 doors scan, the last
    one in the middle of the rush, after an annulment (``forgotten``) or as
    the kept sums age (``stale``: the old ones serve meanwhile): each is taken
    up to the reader's position and finished with the rows that came
    meanwhile, so the sums kept after it end equal to the log's (counted with
    no position bound, or without the rows held, they are off: checked)."""
    venue = await make_venue(served, tickets=160)
    eid = venue.event_id
    tallies = served.hub.tallies
    assert tallies is not None
    doors = [served.api(await served.token("door", eid, venue.gate_id)) for _ in range(16)]
    await tallies.of(served.ctx.db, eid)
    counts, done = 0, [0]
    rush = asyncio.create_task(_rush(venue, doors, venue.tickets, done))
    if again == "stale":
        monkeypatch.setattr(scan_tally, "RECOUNT_SECONDS", 0.0)
    while done[0] < 160 and not rush.done():
        if again == "forgotten":
            tallies.forget(eid)
        await tallies.of(served.ctx.db, eid)
        counts += 1
    monkeypatch.setattr(scan_tally, "RECOUNT_SECONDS", 300.0)
    await rush
    assert counts >= 3
    async with served.ctx.db.reading() as session:
        log = await count_scans(session, served.ctx.db.engine.dialect.name, eid, utcnow())
        last = await session.scalar(select(func.max(Scan.id)).where(Scan.event_id == eid))
    for _ in range(200):  # the reader hands over the last rows
        if tallies.position >= last:
            break
        await asyncio.sleep(0.05)
    kept = await tallies.of(served.ctx.db, eid)
    assert kept.gate(venue.gate_id) == log.gate(venue.gate_id)
    assert kept.gate(venue.gate_id).n_in == 160 == kept.gate(venue.gate_id).n_out
    now = utcnow()
    assert kept.arrivals_json(now) == log.arrivals_json(now)
    assert kept.rates(now) == log.rates(now)


def test_a_tally_adds_rows_as_the_database_counts_them() -> None:
    """An out, a refusal without a gate, a move between zones, a scan a
    phone made an hour and more ago: where each one counts."""
    at = datetime(2026, 12, 4, 10, 30, 15, tzinfo=UTC)
    tally = ScanTally()

    def row(**columns: Any) -> dict[str, Any]:
        base = {"id": 1, "event_id": 1, "status": "ok", "direction": "in", "gate_id": 7}
        return (
            base
            | {"device_id": 3, "from_zone_id": None, "scanned_at": at, "received_at": at}
            | columns
        )

    tally.add(row())
    tally.add(row(direction="out"))
    tally.add(row(status="error", gate_id=None))
    tally.add(row(from_zone_id=5, gate_id=8))
    tally.add(row(scanned_at=at - timedelta(minutes=61)))
    assert tally.gate(7) == GateTally(2, 1, 0, at)
    assert tally.gate(8) == GateTally(1, 0, 0, at)
    assert tally.gate(9) == GateTally()
    arrivals = tally.arrivals_json(at)
    assert arrivals["counts"][-1] == 1 and sum(arrivals["counts"]) == 1
    assert arrivals["start"] == "2026-12-04T09:31:00+00:00"
    per_gate, per_device = tally.rates(at)
    assert per_gate == {7: [3, 0], None: [1, 1], 8: [1, 0]} and per_device == {3: 5}
    assert tally.rates(at + timedelta(seconds=61)) == ({}, {})


def test_a_phone_clock_a_day_ahead_does_not_wipe_the_hours_arrivals() -> None:
    """The arrivals window is the server's hour: a scan a phone says it made
    tomorrow counts when its minute comes, and the hour's others stay."""
    at = datetime(2026, 12, 4, 10, 30, 15, tzinfo=UTC)
    tally = ScanTally()
    base = {"id": 1, "event_id": 1, "status": "ok", "direction": "in", "gate_id": 7}
    row = base | {"device_id": 3, "from_zone_id": None, "scanned_at": at, "received_at": at}
    tally.add(row)
    tally.add(row | {"scanned_at": at + timedelta(days=1)})
    assert sum(tally.arrivals_json(at)["counts"]) == 1
    assert tally.arrivals_json(at + timedelta(days=1))["counts"][-1] == 1
