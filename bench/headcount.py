"""What one headcount update costs at a big event: the scan log counted in the
database at every update (the API's way, and the realtime hub's before
``server.features.scan_tally``) against the sums a hub keeps.

An event of ``--tickets`` tickets on PostgreSQL, all of them admitted
through ``--gates`` gates over the last ``--minutes`` minutes (rows written
with COPY, as the doors would have left them), then ``--rounds`` of each
way, taking turns: the ``headcount`` and the ``gates`` topic's snapshot
(``headcount_snapshot`` and ``gates_snapshot``), with and without the
hub's ``ScanTallies``. Printed: milliseconds a snapshot (p50/p99, wall
time) and PostgreSQL's CPU a snapshot (its processes' time over the round),
beside a baseline of the same run, one raw asyncpg statement (the zones'
shard sums, the least a headcount reads); and what keeping the sums costs
the hub for each new scan (``ScanTallies.saw`` over the log's rows as its
scans reader reads them), and the first count of a kept tally.

Bounded: a fixed number of rounds on a scratch database, dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import (
    DEFAULT_PG,
    SCAN_COLUMNS,
    TICKET_COLUMNS,
    organiser_with_event,
    percentile,
    postgres_cpu_seconds,
    scratch_database,
    sqlalchemy_url,
)


async def make_event(
    http: Any, event: dict[str, Any], dsn: str, tickets: int, gates: int, minutes: float
) -> int:
    """Fill ``event`` (its zone's id): every ticket went in through one of
    ``gates`` gates in the last ``minutes``."""
    eid = event["id"]
    zone = (await http.post(f"/api/v1/events/{eid}/zones", json={"name": "Hall"})).json()
    gate_ids = []
    for n in range(gates):
        body = {"name": f"Door {n}", "from_zone": None, "to_zone": zone["id"]}
        gate_ids.append((await http.post(f"/api/v1/events/{eid}/gates", json=body)).json()["id"])
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        type_id = await conn.fetchval(
            "SELECT id FROM ticket_types WHERE event_id = $1 AND is_default", eid
        )
        await conn.copy_records_to_table(
            "tickets",
            records=[
                (eid, type_id, f"guest {i}", "", f"C{i}", f"H-{eid}-{i}", 1, "valid", now)
                for i in range(tickets)
            ],
            columns=TICKET_COLUMNS,
        )
        ids = [r[0] for r in await conn.fetch("SELECT id FROM tickets WHERE event_id = $1", eid)]
        spacing = minutes * 60 / max(1, len(ids))
        scans = []
        for i, ticket in enumerate(ids):
            at = now - timedelta(seconds=(len(ids) - i) * spacing)
            gate = gate_ids[i % len(gate_ids)]
            scans.append(
                (
                    eid,
                    ticket,
                    gate,
                    "in",
                    uuid.uuid4().hex,
                    at,
                    at,
                    "ok",
                    None,
                    zone["id"],
                    False,
                    "{}",
                )
            )
        await conn.copy_records_to_table(
            "scans",
            records=scans,
            columns=SCAN_COLUMNS,
        )
        await conn.execute(
            "UPDATE tickets SET checked_in_at = now(), zone_id = $1 WHERE event_id = $2",
            zone["id"],
            eid,
        )
        await conn.execute(
            "UPDATE zone_shards SET inside = $1 WHERE zone_id = $2 AND shard = 0",
            len(ids),
            zone["id"],
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return int(zone["id"])


async def timed(call: Callable[[], Awaitable[Any]], rounds: int) -> tuple[list[float], float]:
    """Wall seconds of each call, and PostgreSQL's CPU seconds a call."""
    took = []
    cpu = postgres_cpu_seconds()
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        took.append(time.perf_counter() - started)
    return took, (postgres_cpu_seconds() - cpu) / rounds


def line(name: str, took: list[float], cpu: float, baseline: float | None) -> str:
    p50 = statistics.median(took) * 1000
    ratio = f"{p50 / baseline:8.1f}x" if baseline else "         "
    return f"{name:34} {p50:8.2f} {percentile(took, 0.99) * 1000:8.2f} {cpu * 1000:9.2f} {ratio}"


async def run(args: argparse.Namespace) -> None:
    from realtime.tables import Scans
    from server.app import create_app
    from server.features.gates import gates_snapshot
    from server.features.headcount import headcount_snapshot
    from server.features.scan_tally import ScanTallies
    from server.settings import load_settings

    async with scratch_database(args.pg) as dsn, contextlib.AsyncExitStack() as stack:
        os.environ["MUSTER_DATABASE_URL"] = sqlalchemy_url(dsn)
        os.environ.setdefault("MUSTER_DATA_DIR", str(Path("/tmp") / f"muster-bench-{os.getpid()}"))
        settings = load_settings()
        app = create_app(settings, migrate=True)
        async with app.router.lifespan_context(app):
            pass  # the schema
        started = time.perf_counter()
        http, event, ctx = await stack.enter_async_context(organiser_with_event(settings))
        eid = event["id"]
        zone_id = await make_event(http, event, dsn, args.tickets, args.gates, args.minutes)
        print(
            f"# event: {args.tickets} tickets, {args.tickets} scans, {args.gates} gates"
            f" in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        db = ctx.db
        raw = await asyncpg.connect(dsn)
        stack.push_async_callback(raw.close)
        # The log's rows as the hub's scans reader reads them (all of them).
        rows = [item.row for item in await Scans().fetch_pg(raw, 0, args.tickets + 1)]
        tallies = ScanTallies()
        tallies.start(rows[-1]["id"])
        first = time.perf_counter()
        await tallies.of(db, eid)
        first_count = time.perf_counter() - first

        async def bare() -> None:
            await raw.fetchval("SELECT sum(inside) FROM zone_shards WHERE zone_id = $1", zone_id)

        ways: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("bare: one asyncpg statement", bare),
            ("headcount, counted each time", lambda: headcount_snapshot(db, eid)),
            ("headcount, kept sums", lambda: headcount_snapshot(db, eid, tallies)),
            ("gates, counted each time", lambda: gates_snapshot(db, eid)),
            ("gates, kept sums", lambda: gates_snapshot(db, eid, tallies)),
        ]
        for _name, call in ways:  # warm: plans, caches
            await call()
        results: dict[str, tuple[list[float], float]] = {n: ([], 0.0) for n, _ in ways}
        for _ in range(args.turns):
            for name, call in ways:
                took, cpu = await timed(call, args.rounds)
                before = results[name]
                results[name] = (before[0] + took, before[1] + cpu / args.turns)
        print(f"{'snapshot':34} {'p50_ms':>8} {'p99_ms':>8} {'pg_cpu_ms':>9} {'vs bare':>9}")
        base = statistics.median(results[ways[0][0]][0]) * 1000
        for name, _ in ways:
            took, cpu = results[name]
            print(line(name, took, cpu, None if name.startswith("bare") else base), flush=True)
        counted = statistics.median(results["headcount, counted each time"][0])
        kept = statistics.median(results["headcount, kept sums"][0])
        print(f"# headcount: kept sums {counted / kept:.1f}x faster than counting the log")
        feed = ScanTallies()
        feed.start(0)
        await feed.of(db, eid)  # counted up to 0: every row is then added
        started = time.perf_counter()
        feed.saw(rows, rows[-1]["id"])
        per_row = (time.perf_counter() - started) / len(rows)
        print(
            f"# keeping the sums: {per_row * 1e6:.2f} µs of the hub a scan"
            f" ({len(rows)} rows); the first count of a kept tally {first_count * 1000:.0f} ms"
        )
        same = await headcount_snapshot(db, eid, feed)
        exact = await headcount_snapshot(db, eid)
        assert {k: v for k, v in same.items() if k != "at"} == {
            k: v for k, v in exact.items() if k != "at"
        }, "the kept sums differ from the log's"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets, all admitted")
    parser.add_argument("--gates", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=50.0, help="the scans spread over")
    parser.add_argument("--rounds", type=int, default=20, help="snapshots a way per turn")
    parser.add_argument("--turns", type=int, default=3, help="times the ways take turns")
    parser.add_argument("--pg", default=DEFAULT_PG, help="admin DSN (a scratch database is made)")
    args = parser.parse_args()
    command = " ".join([".venv/bin/python -m bench.headcount", *sys.argv[1:]])
    print(f"# {command}")
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    asyncio.run(run(args))
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    print(f"# reproduce: {command}")


if __name__ == "__main__":
    main()
