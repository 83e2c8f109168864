"""Benchmark: door scans against Muster on PostgreSQL, next to a bare endpoint.

Goals (issue 3): at 64 concurrent doors, Muster's scan endpoint serves at
least 0.8 × the scans/s of a bare one-statement asyncpg endpoint, with p99 ≤
50 ms; an offline queue of 10,000 scans syncs in ≤ 2 s.

Both servers are real uvicorn processes on loopback, one at a time, in the
same configuration (one worker, uvloop, httptools, access log off, an
asyncpg pool of 20 without the per-release reset query), against one
scratch PostgreSQL database created and dropped here:

- Muster: ``muster serve`` (the full path: token check, body validation,
  the ticket read, the guarded move + shard counter + scan-log statement,
  the answer, metrics, the realtime hub reading the log);
- bare: a Starlette app that parses the same JSON body and does one
  ``INSERT … RETURNING`` through the pool.

The doors are 64 keep-alive HTTP/1.1 connections from ``wrk`` (C, one
thread: on a 2-core machine a Python load generator takes CPU the server
needs) with a Lua script that posts a ticket not scanned before and a fresh
nonce per request (tickets in a shuffled order, as people arrive);
``--client python`` uses a minimal asyncio client
instead. Each run has a 1 s warm-up that is not measured. Refused scans
are counted from Muster's scan log. The sync is two batches of 5,000 (the
most one request takes), timed end to end.

    .venv/bin/python -m bench.checkin [--doors 64] [--seconds 10] [--client wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench.common import (
    cpu_seconds,
    free_port,
    percentile,
    postgres_cpu_seconds,
    scratch_database,
    sqlalchemy_url,
)
from tests.servers import read_token

ROOT = Path(__file__).resolve().parent.parent
SYNC_BATCH = 5000
#: More scans a second than one Muster process serves here: tickets per round-second.
RATE_CEILING = 7000


# --- the bare endpoint ----------------------------------------------------------------


def bare_app(dsn: str) -> Any:
    """One statement per request: parse the JSON body, INSERT it, answer JSON."""
    import contextlib

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        # The same pool as Muster's hot path (server/db.py): no reset query per release.
        state["pool"] = await asyncpg.create_pool(dsn, min_size=20, max_size=20, reset=_no_reset)
        yield
        await state["pool"].close()

    async def scan(request: Request) -> Response:
        body = orjson.loads(await request.body())
        scan_id = await state["pool"].fetchval(
            "INSERT INTO bench_scans (nonce, gate, direction, scanned_at) VALUES ($1, $2, $3, now()) RETURNING id",
            body["nonce"],
            body["gate"],
            body["direction"],
        )
        return Response(
            orjson.dumps({"status": "ok", "reason": None, "id": scan_id}),
            media_type="application/json",
        )

    return Starlette(routes=[Route("/scan", scan, methods=["POST"])], lifespan=lifespan)


async def _no_reset(_conn: asyncpg.Connection) -> None:
    pass


def run_bare_server(dsn: str, port: int) -> None:
    import uvicorn

    # What `muster serve` runs with at MUSTER_LOG_LEVEL=warning (server/cli.py).
    uvicorn.run(
        bare_app(dsn),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


# --- processes ---------------------------------------------------------------------------


def _drain(process: subprocess.Popen[str]) -> None:
    for _line in process.stdout or []:
        pass


def wait_ready(url: str, process: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_muster(
    sa_url: str | None, port: int, tmp: Path, settings: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """``muster serve`` on ``sa_url`` (None: its default, SQLite in ``tmp``) and its token;
    ``settings``: more ``MUSTER_*`` variables for it."""
    env = {
        **os.environ,
        **(settings or {}),
        "MUSTER_PORT": str(port),
        "MUSTER_DATA_DIR": str(tmp),
        "MUSTER_LOG_LEVEL": "warning",  # as the bare server
    }
    env.pop("MUSTER_DATABASE_URL", None)
    if sa_url is not None:
        env["MUSTER_DATABASE_URL"] = sa_url
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    token = read_token(process, deadline)
    threading.Thread(target=_drain, args=(process,), daemon=True).start()
    wait_ready(f"http://127.0.0.1:{port}/healthz", process, deadline)
    return process, token


def start_bare(dsn: str, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.checkin", "--bare-server", str(port), "--pg", dsn],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    threading.Thread(target=_drain, args=(process,), daemon=True).start()
    wait_ready(f"http://127.0.0.1:{port}/", process, time.monotonic() + 30)
    return process


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# --- the doors ------------------------------------------------------------------------


class Door:
    """One keep-alive HTTP/1.1 connection that POSTs JSON."""

    def __init__(self, port: int, path: str, token: str) -> None:
        self.port = port
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\n"
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def drive(
    port: int, path: str, token: str, bodies: Iterator[bytes], doors: int, seconds: float
) -> tuple[int, list[float], int]:
    """Scan from ``doors`` connections for ``seconds``: (answers, latencies in ms, refusals)."""
    latencies: list[float] = []
    refused = 0
    warmup_until = time.monotonic() + min(1.0, seconds / 5)
    stop_at = warmup_until + seconds

    async def door_loop() -> None:
        nonlocal refused
        door = Door(port, path, token)
        try:
            while (started := time.monotonic()) < stop_at:
                body = next(bodies, None)
                if body is None:
                    return
                status, answer = await door.post(body)
                if started >= warmup_until:
                    latencies.append((time.monotonic() - started) * 1000)
                    if status != 200 or orjson.loads(answer).get("status") != "ok":
                        refused += 1
        finally:
            door.close()

    await asyncio.gather(*(door_loop() for _ in range(doors)))
    return len(latencies), latencies, refused


WRK_SCRIPT = r"""
-- One scan per request: the next ticket not scanned yet, a nonce never used.
local secrets, gate, run, at = {}, nil, nil, nil
local i = 0
function init(args)
  for line in io.lines(args[1]) do secrets[#secrets + 1] = line end
  gate, run, at = args[2], args[3], args[4]
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[5]
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  i = i + 1
  local secret = secrets[((i - 1) % #secrets) + 1]
  return wrk.format(nil, nil, nil, '{"secret":"' .. secret .. '","gate":' .. gate
    .. ',"direction":"in","nonce":"' .. run .. "-" .. i .. '","scanned_at":"' .. at .. '"}')
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Run:
    answers: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int
    used_secrets: int
    #: CPU seconds over the measured run: the server process, all of PostgreSQL.
    server_cpu: float = 0.0
    database_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.answers / self.seconds

    def cpu_note(self) -> str:
        """CPU per answer (µs): steadier than scans/s on a shared machine."""
        n = max(self.answers, 1)
        return (
            f"CPU per scan: server {self.server_cpu / n * 1e6:.0f} µs,"
            f" PostgreSQL {self.database_cpu / n * 1e6:.0f} µs"
        )


def run_wrk(
    url: str, token: str, secrets: list[str], gate: int, doors: int, seconds: float, tmp: Path
) -> Run:
    """One wrk run (one thread, ``doors`` connections) over ``secrets`` in order."""
    script = tmp / "scan.lua"
    script.write_text(WRK_SCRIPT)
    listing = tmp / f"secrets-{uuid.uuid4().hex[:6]}.txt"
    listing.write_text("\n".join(secrets) + "\n")
    at = datetime.now(UTC).isoformat()
    command = [
        "wrk", "-t1", f"-c{doors}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(script), url, "--", str(listing), str(gate), uuid.uuid4().hex[:12], at, token,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    found = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", output)
    if found is None:
        raise RuntimeError(f"wrk printed no result: {output}")
    n, duration_us, p50, p99, bad_status, socket_errors = (int(g) for g in found.groups())
    return Run(n, duration_us / 1e6, p50 / 1000, p99 / 1000, bad_status + socket_errors, n)


async def run_python(
    port: int, path: str, token: str, secrets: list[str], gate: int, doors: int, seconds: float
) -> Run:
    bodies = scan_bodies(secrets, gate)
    count, latencies, failed = await drive(port, path, token, bodies, doors, seconds)
    return Run(
        count,
        seconds,
        statistics.median(latencies),
        percentile(latencies, 0.99),
        failed,
        len(secrets) - sum(1 for _ in bodies),
    )


def scan_bodies(secrets: list[str], gate: int) -> Iterator[bytes]:
    for secret in secrets:
        yield orjson.dumps(
            {
                "secret": secret,
                "gate": gate,
                "direction": "in",
                "nonce": uuid.uuid4().hex,
                "scanned_at": datetime.now(UTC).isoformat(),
            }
        )


# --- the run --------------------------------------------------------------------------


def setup_event(api: httpx.Client, tickets: int) -> tuple[int, int, list[str]]:
    now = datetime.now(UTC)
    event = api.post(
        "/api/v1/events",
        json={
            "name": "新品发布会 bench",
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=8)).isoformat(),
            "timezone": "Asia/Shanghai",
        },
    ).json()
    zone = api.post(
        f"/api/v1/events/{event['id']}/zones", json={"name": "Hall", "capacity": 1_000_000}
    ).json()
    gate = api.post(
        f"/api/v1/events/{event['id']}/gates", json={"name": "North", "to_zone": zone["id"]}
    ).json()
    return event["id"], gate["id"], issue(api, event["id"], tickets)


def issue(api: httpx.Client, event_id: int, count: int) -> list[str]:
    secrets: list[str] = []
    while len(secrets) < count:
        n = min(10_000, count - len(secrets))
        answer = api.post(
            f"/api/v1/events/{event_id}/tickets",
            json={"tickets": [{"holder_name": f"嘉宾 {len(secrets) + i}"} for i in range(n)]},
        )
        answer.raise_for_status()
        secrets.extend(t["secret"] for t in answer.json()["tickets"])
    return secrets


def time_sync(
    api: httpx.Client, event_id: int, gate: int, secrets: list[str]
) -> tuple[float, dict[str, int]]:
    at = datetime.now(UTC) - timedelta(minutes=30)
    items = [
        {
            "secret": s,
            "gate": gate,
            "direction": "in",
            "nonce": uuid.uuid4().hex,
            "scanned_at": (at + timedelta(milliseconds=i * 50)).isoformat(),
        }
        for i, s in enumerate(secrets)
    ]
    bodies = [
        orjson.dumps({"scans": items[i : i + SYNC_BATCH]}) for i in range(0, len(items), SYNC_BATCH)
    ]
    totals = {"ok": 0, "error": 0, "conflict": 0, "repeated": 0}
    started = time.perf_counter()
    for body in bodies:
        answer = api.post(
            f"/api/v1/events/{event_id}/scans/sync",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        answer.raise_for_status()
        for key, value in answer.json()["counts"].items():
            totals[key] += value
    return time.perf_counter() - started, totals


def report(name: str, run: Run, note: str) -> None:
    print(
        f"  {name:<8} {run.rate:8.0f} scans/s   p50 {run.p50_ms:6.1f} ms"
        f"   p99 {run.p99_ms:6.1f} ms   ({run.answers} answers in {run.seconds:.1f} s; {note})"
    )


async def measure(
    args: argparse.Namespace,
    server: subprocess.Popen[str],
    port: int,
    path: str,
    token: str,
    secrets: list[str],
    gate: int,
) -> Run:
    """A 1 s warm-up, then the measured run, on tickets not scanned before.

    The CPU figures cover the measured run (with the python client, whose
    warm-up is part of its run, the warm-up too).
    """
    skipped = 0
    if args.client == "wrk":
        url = f"http://127.0.0.1:{port}{path}"
        tmp = Path(os.environ.get("TMPDIR", "/tmp"))
        warm = await asyncio.to_thread(run_wrk, url, token, secrets, gate, args.doors, 1.0, tmp)
        # Requests in flight when the warm-up stopped were sent but not counted.
        skipped = warm.used_secrets + args.doors
    server_before, database_before = cpu_seconds(server.pid), postgres_cpu_seconds()
    if args.client == "wrk":
        run = await asyncio.to_thread(
            run_wrk, url, token, secrets[skipped:], gate, args.doors, args.seconds, tmp
        )
        run.used_secrets += skipped + args.doors
    else:
        run = await run_python(port, path, token, secrets, gate, args.doors, args.seconds)
    run.server_cpu = cpu_seconds(server.pid) - server_before
    run.database_cpu = postgres_cpu_seconds() - database_before
    return run


async def scan_outcomes(dsn: str, event_id: int) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT coalesce(reason, status) AS what, count(*) FROM scans"
            " WHERE event_id = $1 AND NOT offline GROUP BY 1",
            event_id,
        )
    finally:
        await conn.close()
    return {row["what"]: int(row["count"]) for row in rows}


async def main_async(args: argparse.Namespace) -> None:
    async with scratch_database(args.pg) as dsn:
        sa_url = sqlalchemy_url(dsn)
        processes: list[subprocess.Popen[str]] = []
        tmp = Path(tempfile.mkdtemp(prefix="muster-bench-"))
        try:
            conn = await asyncpg.connect(dsn)
            await conn.execute(
                "CREATE TABLE bench_scans (id bigserial PRIMARY KEY, nonce text UNIQUE NOT NULL,"
                " gate bigint, direction text, scanned_at timestamptz)"
            )
            await conn.close()
            port = free_port()
            muster, token = start_muster(sa_url, port, tmp)
            processes.append(muster)
            if not token:
                raise RuntimeError("muster serve printed no organiser token on a new database")
            api = httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            )
            # Every measured scan needs a ticket not scanned before; a round
            # uses its warm-up second too.
            budget = args.tickets or int(args.rounds * (args.seconds + 1) * RATE_CEILING)
            event_id, gate, secrets = setup_event(api, budget + args.sync)
            # People do not arrive in the order their tickets were issued
            # (the same fixed order for both servers and every run).
            random.Random(3).shuffle(secrets)
            online, queued = secrets[:budget], secrets[budget:]
            stop(muster)
            processes.remove(muster)

            client = "wrk (1 thread)" if args.client == "wrk" else "python asyncio"
            print(
                f"check-in benchmark: {args.doors} doors ({client}), PostgreSQL; each server one"
                " uvicorn process (uvloop, httptools, access log off); the two take turns,"
                f" {args.rounds} rounds of {args.seconds:g} s each after a 1 s warm-up"
            )
            bare_port = free_port()
            bare = start_bare(dsn, bare_port)
            processes.append(bare)
            muster, _none = start_muster(sa_url, port, tmp)
            processes.append(muster)
            path = f"/api/v1/events/{event_id}/scans"
            bare_runs: list[Run] = []
            muster_runs: list[Run] = []
            used = 0
            for number in range(1, args.rounds + 1):
                # Taking turns, both meet the same state of a shared machine.
                bare_run = await measure(args, bare, bare_port, "/scan", token, online, gate)
                if len(online) - used < RATE_CEILING:
                    raise RuntimeError(f"too few tickets left for round {number}: raise --tickets")
                muster_run = await measure(args, muster, port, path, token, online[used:], gate)
                used += muster_run.used_secrets
                bare_runs.append(bare_run)
                muster_runs.append(muster_run)
                print(f"  round {number}")
                report("bare", bare_run, f"{bare_run.failed} failed; {bare_run.cpu_note()}")
                report("muster", muster_run, f"{muster_run.failed} failed; {muster_run.cpu_note()}")
            if used > len(online):
                print(f"  (the online tickets ran out: raise --tickets above {used})")
            outcomes = await scan_outcomes(dsn, event_id)
            bare_rate = statistics.median(r.rate for r in bare_runs)
            muster_rate = statistics.median(r.rate for r in muster_runs)
            ratios = [m.rate / b.rate for b, m in zip(bare_runs, muster_runs, strict=True)]
            print(f"  median of {args.rounds} rounds (scan log {outcomes}):")
            for name, runs, rate in (
                ("bare", bare_runs, bare_rate),
                ("muster", muster_runs, muster_rate),
            ):
                print(
                    f"  {name:<8} {rate:8.0f} scans/s   p50"
                    f" {statistics.median(r.p50_ms for r in runs):6.1f} ms   p99"
                    f" {statistics.median(r.p99_ms for r in runs):6.1f} ms"
                    f" (worst round {max(r.p99_ms for r in runs):.1f} ms)"
                )
            print(
                f"  ratio    {muster_rate / bare_rate:8.2f}   (rounds {min(ratios):.2f}–"
                f"{max(ratios):.2f}; goal ≥ 0.8; p99 goal ≤ 50 ms)"
            )
            elapsed, counts = time_sync(api, event_id, gate, queued)
            print(
                f"  sync     {len(queued)} queued scans in {elapsed:.2f} s"
                f" ({len(queued) / elapsed:.0f} scans/s; goal ≤ 2 s)   counts {counts}"
            )
            api.close()  # noqa: ASYNC212 - nothing else runs on the loop meanwhile
        finally:
            for process in processes:
                stop(process)
            shutil.rmtree(tmp, ignore_errors=True)
    print(
        "reproduce: .venv/bin/python -m bench.checkin"
        f" --doors {args.doors} --rounds {args.rounds} --seconds {args.seconds:g}"
        + (f" --tickets {args.tickets}" if args.tickets else "")
        + f" --sync {args.sync} --client {args.client}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doors", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0, help="per round and server")
    parser.add_argument("--rounds", type=int, default=3, help="turns each server takes")
    parser.add_argument(
        "--tickets",
        type=int,
        default=0,
        help="tickets for the online runs (default: enough for the rounds at 7,000 scans/s)",
    )
    parser.add_argument("--sync", type=int, default=10_000, help="queued scans in the offline sync")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="the load generator (wrk when installed: apt-get install wrk)",
    )
    parser.add_argument("--bare-server", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server is not None:
        run_bare_server(args.pg, args.bare_server)
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
