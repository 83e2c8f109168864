"""Benchmark: PostgreSQL restarted in the middle of a door rush (issue 12).

Real ``muster serve`` processes on a throwaway PostgreSQL cluster
(``tests/pgcluster.py``: its own folder and loopback port, never the
machine's cluster on 5432), doors from ``tests/faults.py`` (each scans a
ticket nobody scanned before, one request at a time, and retries the same
nonce 50 ms after a 5xx or a network error, as a phone's outbox would) and a
command-centre socket watching the headcount. After ``--before`` seconds
PostgreSQL is stopped (``pg_ctl -m fast``, as an operator's restart does;
``--mode immediate`` as a crash),
``--outage`` seconds later started again, and the rush goes on for
``--after`` seconds.

It prints how long PostgreSQL was away, how the doors saw it (answers by
status code before, during and after), how long after PostgreSQL took
connections again the first scan was admitted and the screen got a fresh
headcount, what the servers logged, and whether the scan log holds exactly
the scans the doors were told about.

    .venv/bin/python -m bench.outage [--doors 16] [--outage 5] [--processes 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench.common import headcount_messages, percentile
from tests.faults import Rush, check_nothing_lost_or_doubled, headcount_inside, make_venue, scan_log
from tests.pgcluster import throwaway_cluster
from tests.servers import LiveServer, start_server


def shown(counts: Counter[int | str]) -> str:
    return ", ".join(f"{status}: {n}" for status, n in sorted(counts.items(), key=str)) or "none"


async def watch_headcount(server: LiveServer, token: str, event_id: int, seen: list[float]) -> None:
    """Note the moment of every headcount message the screen gets."""
    async for _message in headcount_messages(server.ws_url(event_id), token):
        seen.append(time.monotonic())


async def run(args: argparse.Namespace) -> int:
    with throwaway_cluster() as pg, tempfile.TemporaryDirectory() as tmp:
        url = pg.create_database("muster")
        env = {"MUSTER_DATABASE_URL": url}
        servers = [start_server(Path(tmp) / f"p{i}", env) for i in range(args.processes)]
        try:
            first = servers[0]
            venue = await make_venue(first.base_url, first.token, url, args.tickets)
            printed = [len(s.output) for s in servers]
            updates: list[float] = []
            screen = asyncio.create_task(
                watch_headcount(first, venue.command_token, venue.event_id, updates)
            )
            rush = Rush([s.base_url for s in servers], venue, args.doors)
            marks: dict[str, float] = {}

            def outage() -> None:
                time.sleep(args.before)
                marks["stop"] = time.monotonic()
                pg.stop(args.mode)
                marks["stopped"] = time.monotonic()
                time.sleep(args.outage)
                marks["start"] = time.monotonic()
                pg.start()
                marks["up"] = time.monotonic()

            fault = threading.Thread(target=outage)
            fault.start()
            await rush.run(args.before + args.outage + args.after)
            fault.join()
            screen.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await screen

            stop, up = marks["stop"], marks["up"]
            failed = [a.at for a in rush.attempts if a.status != 200]
            admitted_after = [a.at for a in rush.attempts if a.status == 200 and a.at >= up]
            updates_after = [t for t in updates if t >= up]
            log = await scan_log(url, venue.event_id)
            try:
                admitted = check_nothing_lost_or_doubled(rush, log)
                inside = await headcount_inside(first.base_url, venue.command_token, venue.event_id)
                consistent = "yes" if inside == len(admitted) else f"no (headcount {inside})"
            except AssertionError as exc:
                admitted, consistent = set(), f"no: {exc}"
            lines = [
                line.rstrip()
                for s, n in zip(servers, printed, strict=True)
                for line in s.output[n:]
            ]
        finally:
            for server in servers:
                server.stop()

    print(
        f"command: .venv/bin/python -m bench.outage --doors {args.doors} --outage {args.outage:g}"
        f" --processes {args.processes} --tickets {args.tickets} --mode {args.mode}"
    )
    print(
        f"PostgreSQL away: {up - stop:.2f} s (stop took {marks['stopped'] - stop:.2f} s,"
        f" start {up - marks['start']:.2f} s), {args.doors} doors, {args.processes} process(es)"
    )
    if failed:
        print(f"doors saw failures from {min(failed) - stop:+.2f} s to {max(failed) - stop:+.2f} s")
    print(f"answers before the stop: {shown(rush.statuses(0, stop))}")
    print(f"answers while away:      {shown(rush.statuses(stop, up))}")
    print(f"answers after:           {shown(rush.statuses(up))}")
    refused = [a.took * 1000 for a in rush.attempts if a.status == 503]
    if refused:
        print(
            f"a 503 took {percentile(refused, 0.5):.0f} ms (p50), {percentile(refused, 0.99):.0f} ms"
            " (p99) from request to answer"
        )
    if admitted_after:
        print(
            f"first admitted scan {admitted_after[0] - up:.3f} s after PostgreSQL took connections"
        )
    if updates_after:
        print(f"first headcount on the screen {updates_after[0] - up:.3f} s after")
    print(
        f"admitted {len(admitted)}; scan log matches every answer and the headcount: {consistent}"
    )
    print(f"log lines printed during the run: {len(lines)}")
    for line in lines[:10]:
        print(f"  {line}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--doors", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--tickets", type=int, default=6000)
    parser.add_argument("--before", type=float, default=2.0, help="seconds of rush before the stop")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--after", type=float, default=4.0, help="seconds of rush after the start")
    parser.add_argument(
        "--mode",
        choices=["fast", "immediate"],
        default="fast",
        help="pg_ctl stop mode: fast (an operator's restart) or immediate (as a crash)",
    )
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
