"""Benchmark: the embedded SQLite default (the small event on one laptop).

Goal (issue 19): at 16 concurrent doors, ``muster serve`` on its default
embedded SQLite serves at least 0.8 × the scans/s of a bare one-INSERT
aiosqlite endpoint, with no 5xx ("database is locked" would be one).

Both servers are real uvicorn processes on loopback, taking turns in the
same run, in the same configuration (one worker, uvloop, httptools, access
log off), each on its own SQLite file in a scratch folder:

- Muster: ``muster serve`` with no ``MUSTER_DATABASE_URL`` (its default,
  ``muster.db`` in the data folder: WAL, ``synchronous=NORMAL``); the doors
  scan with door tokens paired over HTTP (one per door), valid tickets not
  scanned before, in a shuffled order, a fresh nonce each;
- bare: a Starlette app on one aiosqlite connection (the same pragmas) that
  parses the same JSON body and does one ``INSERT … RETURNING`` and a
  commit per request, under one lock (SQLite has one writer).

The doors are keep-alive HTTP/1.1 connections from one asyncio client in
this process (each round after a 1 s warm-up that is not measured). Then,
on Muster: issuing 10,000 tickets (one request) and syncing 5,000 queued
offline scans (one request, as a phone sends them), each beside the same
rows written by a bare aiosqlite ``executemany`` in one transaction.
Memory is each server's resident set (VmRSS) after its rounds. With
``--bundle``: the full offline bundle a door phone fetches (its bytes on the
wire, the time to the last byte, and its parts), after the rounds.

The tickets table holds ``--issue`` tickets, or more when the rounds need
more (``RATE_CEILING`` a round-second, plus ``--sync``); the run prints how
many. ``--rounds 1 --issue 20000`` keeps it at 20,000.

    .venv/bin/python -m bench.sqlite [--doors 16,64] [--rounds 3] [--seconds 5] [--bundle]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.checkin import (
    Door,
    _drain,
    issue,
    scan_bodies,
    setup_event,
    start_muster,
    stop,
    time_sync,
    wait_ready,
)
from bench.common import bundle_parts, cpu_seconds, free_port, percentile
from bench.fanout import rss_kb

ROOT = Path(__file__).resolve().parent.parent
#: More scans a second than one process serves on SQLite here: tickets per round-second.
RATE_CEILING = 2500

BARE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_scans (id INTEGER PRIMARY KEY, nonce TEXT UNIQUE NOT NULL,"
    " gate INTEGER, direction TEXT, scanned_at TEXT)"
)
BARE_INSERT = "INSERT INTO bench_scans (nonce, gate, direction, scanned_at) VALUES (?, ?, ?, ?)"


async def _open_bare(path: Path) -> Any:
    import aiosqlite

    db = await aiosqlite.connect(path)
    # Muster's pragmas (server/db.py _sqlite_on_connect).
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA busy_timeout=30000")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute(BARE_TABLE)
    await db.commit()
    return db


def bare_app(path: Path) -> Any:
    """One statement per request: parse the JSON body, INSERT it, commit, answer JSON."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    state: dict[str, Any] = {}
    lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        state["db"] = await _open_bare(path)
        yield
        await state["db"].close()

    async def scan(request: Request) -> Response:
        body = orjson.loads(await request.body())
        db = state["db"]
        async with lock:
            cursor = await db.execute(
                BARE_INSERT + " RETURNING id",
                (body["nonce"], body["gate"], body["direction"], datetime.now(UTC).isoformat()),
            )
            row = await cursor.fetchone()
            await cursor.close()
            await db.commit()
        return Response(
            orjson.dumps({"status": "ok", "reason": None, "id": row[0]}),
            media_type="application/json",
        )

    return Starlette(routes=[Route("/scan", scan, methods=["POST"])], lifespan=lifespan)


def run_bare_server(path: Path, port: int) -> None:
    import uvicorn

    uvicorn.run(
        bare_app(path),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


def start_bare(path: Path, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.sqlite", "--bare-server", str(port), "--bare-db", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    threading.Thread(target=_drain, args=(process,), daemon=True).start()
    wait_ready(f"http://127.0.0.1:{port}/", process, time.monotonic() + 30)
    return process


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# --- the doors ------------------------------------------------------------------------


@dataclass
class Run:
    answers: int
    seconds: float
    latencies: list[float]
    refused: int
    errors_5xx: int
    other_failed: int
    used: int
    cpu: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.answers / self.seconds

    def q(self, p: float) -> float:
        return percentile(self.latencies, p)


async def drive(
    port: int,
    path: str,
    tokens: list[str],
    secrets: list[str],
    gate: int,
    doors: int,
    seconds: float,
) -> Run:
    """Scan from ``doors`` connections for ``seconds`` after a 1 s warm-up."""
    bodies = scan_bodies(secrets, gate)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    refused = used = 0
    warmup_until = time.monotonic() + 1.0
    stop_at = warmup_until + seconds

    async def door_loop(n: int) -> None:
        nonlocal refused, used
        door = Door(port, path, tokens[n % len(tokens)])
        try:
            while (started := time.monotonic()) < stop_at:
                body = next(bodies, None)
                if body is None:
                    return
                used += 1
                status, answer = await door.post(body)
                if started >= warmup_until:
                    latencies.append((time.monotonic() - started) * 1000)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 200 and orjson.loads(answer).get("status") != "ok":
                        refused += 1
        finally:
            door.close()

    await asyncio.gather(*(door_loop(n) for n in range(doors)))
    errors = sum(v for k, v in statuses.items() if k >= 500)
    other = sum(v for k, v in statuses.items() if k != 200 and k < 500)
    return Run(len(latencies), seconds, latencies, refused, errors, other, used, statuses=statuses)


async def measure(
    server: subprocess.Popen[str], port: int, path: str, tokens: list[str],
    secrets: list[str], gate: int, doors: int, seconds: float,
) -> Run:  # fmt: skip
    before = cpu_seconds(server.pid)
    run = await drive(port, path, tokens, secrets, gate, doors, seconds)
    run.cpu = cpu_seconds(server.pid) - before
    return run


def report(name: str, run: Run) -> None:
    n = max(run.answers, 1)
    print(
        f"    {name:<7} {run.rate:7.0f} scans/s   p50 {run.q(0.5):6.1f}  p95 {run.q(0.95):6.1f}"
        f"  p99 {run.q(0.99):6.1f} ms   5xx {run.errors_5xx}, other non-200 {run.other_failed},"
        f" refused {run.refused}; server CPU {run.cpu / n * 1e6:.0f} µs a scan"
    )


# --- the bare writes for issuance and sync ---------------------------------------------


async def bare_bulk(path: Path, rows: int) -> float:
    """Seconds to write ``rows`` scan-like rows in one transaction (executemany)."""
    db = await _open_bare(path)
    try:
        now = datetime.now(UTC).isoformat()
        values = [(uuid.uuid4().hex, 1, "in", now) for _ in range(rows)]
        started = time.perf_counter()
        await db.executemany(BARE_INSERT, values)
        await db.commit()
        return time.perf_counter() - started
    finally:
        await db.close()


def pair_doors(api: httpx.Client, event_id: int, gate: int, count: int) -> list[str]:
    """Door tokens as the phones get them: a pairing code each, traded for a token."""
    tokens = []
    for n in range(count):
        code = api.post(
            f"/api/v1/events/{event_id}/pairing-codes",
            json={"role": "door", "gate": gate, "device_name": f"door {n}"},
        )
        code.raise_for_status()
        paired = httpx.post(
            f"{api.base_url}/api/v1/devices/pair", json={"code": code.json()["code"]}, timeout=30
        )
        paired.raise_for_status()
        tokens.append(paired.json()["token"])
    return tokens


def time_bundle(api: httpx.Client, event_id: int, door_token: str) -> None:
    """The full offline bundle as a door phone fetches it: size, time, parts."""
    started = time.perf_counter()
    answer = httpx.get(
        f"{api.base_url}/api/v1/events/{event_id}/offline-bundle",
        headers={"Authorization": f"Bearer {door_token}"},
        timeout=300,
    )
    seconds = time.perf_counter() - started
    answer.raise_for_status()
    bundle = answer.json()
    parts = bundle_parts(bundle)
    print(
        f"  bundle   full offline bundle {len(answer.content) / 1024:.0f} KB in"
        f" {seconds * 1000:.0f} ms for a door phone ({parts}; {len(bundle.get('display', []))}"
        f" sealed names; gzip would make it {len(gzip.compress(answer.content, 6)) / 1024:.0f} KB;"
        f" load {load_average()})"
    )


# --- the run --------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> None:
    door_counts = [int(d) for d in args.doors.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="muster-bench-sqlite-"))
    processes: list[subprocess.Popen[str]] = []
    print(f"SQLite benchmark (load average {load_average()} at start, {os.cpu_count()} cores)")
    try:
        port = free_port()
        muster, token = start_muster(None, port, tmp / "muster")
        processes.append(muster)
        if not token:
            raise RuntimeError("muster serve printed no organiser token on a new database")
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=300,
        )
        event_id, gate, _none = setup_event(api, 0)
        # Issuing: one request of 10,000 tickets (signing each), beside a bare bulk insert.
        started = time.perf_counter()
        secrets = issue(api, event_id, args.issue)
        issued_in = time.perf_counter() - started
        bare_issue = await bare_bulk(tmp / "bulk.db", args.issue)
        print(
            f"  issue    {args.issue} tickets in {issued_in:.2f} s ({args.issue / issued_in:.0f}"
            f" tickets/s); bare executemany of as many rows {bare_issue:.3f} s"
        )
        budget = int(len(door_counts) * args.rounds * (args.seconds + 1) * RATE_CEILING)
        more = budget + args.sync - len(secrets)
        if more > 0:
            secrets += issue(api, event_id, more)
        random.Random(3).shuffle(secrets)
        print(f"  tickets  {len(secrets)} in the event's table")
        online, queued = secrets[: len(secrets) - args.sync], secrets[len(secrets) - args.sync :]
        tokens = pair_doors(api, event_id, gate, max(door_counts))
        bare_port = free_port()
        bare = start_bare(tmp / "bare.db", bare_port)
        processes.append(bare)
        path = f"/api/v1/events/{event_id}/scans"
        used = 0
        print(
            "  doors: one asyncio client in the bench process, keep-alive HTTP/1.1, door tokens;"
            f" the servers take turns, {args.rounds} rounds of {args.seconds:g} s after 1 s warm-up"
        )
        summary = []
        for doors in door_counts:
            bare_runs: list[Run] = []
            muster_runs: list[Run] = []
            for number in range(1, args.rounds + 1):
                bare_run = await measure(
                    bare, bare_port, "/scan", tokens, online, gate, doors, args.seconds
                )
                muster_run = await measure(
                    muster, port, path, tokens, online[used:], gate, doors, args.seconds
                )
                used += muster_run.used
                if used >= len(online):
                    print("  (the online tickets ran out: lower --seconds or raise RATE_CEILING)")
                bare_runs.append(bare_run)
                muster_runs.append(muster_run)
                print(f"  {doors} doors, round {number} (load {load_average()})")
                report("bare", bare_run)
                report("muster", muster_run)
            ratio = statistics.median(
                m.rate / b.rate for b, m in zip(bare_runs, muster_runs, strict=True)
            )
            lines = []
            for name, runs in (("bare", bare_runs), ("muster", muster_runs)):
                lines.append(
                    f"    {name:<7} {statistics.median(r.rate for r in runs):7.0f} scans/s"
                    f"   p50 {statistics.median(r.q(0.5) for r in runs):6.1f}"
                    f"  p95 {statistics.median(r.q(0.95) for r in runs):6.1f}"
                    f"  p99 {statistics.median(r.q(0.99) for r in runs):6.1f} ms"
                    f"   5xx {sum(r.errors_5xx for r in runs)}"
                )
            summary.append((doors, ratio, lines))
        print(
            f"  memory   muster RSS {rss_kb(muster.pid) / 1024:.0f} MB,"
            f" bare {rss_kb(bare.pid) / 1024:.0f} MB"
            " after the rounds"
        )
        if args.bundle:
            time_bundle(api, event_id, tokens[0])
        elapsed, counts = time_sync(api, event_id, gate, queued)
        bare_sync = await bare_bulk(tmp / "bulk.db", len(queued))
        print(
            f"  sync     {len(queued)} queued offline scans in {elapsed:.2f} s"
            f" ({len(queued) / elapsed:.0f} scans/s) {counts}; bare executemany {bare_sync:.3f} s"
        )
        print(
            f"  median of {args.rounds} rounds per door count (load {load_average()} at the end):"
        )
        for doors, ratio, lines in summary:
            print(f"  {doors} doors: ratio {ratio:.2f} (goal ≥ 0.8 at 16)")
            for line in lines:
                print(line)
        api.close()  # noqa: ASYNC212 - nothing else runs on the loop meanwhile
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        "reproduce: .venv/bin/python -m bench.sqlite"
        f" --doors {args.doors} --rounds {args.rounds} --seconds {args.seconds:g}"
        f" --sync {args.sync} --issue {args.issue}" + (" --bundle" if args.bundle else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doors", default="16,64", help="door counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="per round and server")
    parser.add_argument("--rounds", type=int, default=3, help="turns each server takes")
    parser.add_argument("--sync", type=int, default=5000, help="queued scans in the offline sync")
    parser.add_argument("--issue", type=int, default=10_000, help="tickets issued in one request")
    parser.add_argument(
        "--bundle", action="store_true", help="also the full offline bundle a door phone fetches"
    )
    parser.add_argument("--bare-server", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bare-db", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server is not None:
        run_bare_server(Path(args.bare_db), args.bare_server)
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
