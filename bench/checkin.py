"""Benchmark: door scans against Muster on PostgreSQL, next to a bare endpoint.

Goals (issue 3): at 64 concurrent doors, Muster's scan endpoint serves at
least 0.8 × the scans/s of a bare one-statement asyncpg endpoint, with p99 ≤
50 ms; an offline queue of 10,000 scans syncs in ≤ 2 s.

Both servers are real uvicorn processes on loopback, one at a time, against
one scratch PostgreSQL database created and dropped here:

- Muster: ``muster serve`` (the full path: token check, body validation,
  ticket row lock, shard counter, scan log insert, answer);
- bare: a Starlette app that parses the same JSON body and does one
  ``INSERT … RETURNING`` through an asyncpg pool of the same size.

The doors are keep-alive HTTP/1.1 connections driven from this process
(a minimal client, so that the load generator costs as little CPU as
possible); each scan admits a ticket not scanned before. The sync is two
batches of 5,000 (the most one request takes), timed end to end.

    .venv/bin/python -m bench.checkin [--doors 64] [--seconds 10] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
SYNC_BATCH = 5000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        state["pool"] = await asyncpg.create_pool(dsn, min_size=20, max_size=20)
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


def run_bare_server(dsn: str, port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(dsn), host="127.0.0.1", port=port, log_level="warning", access_log=False)


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


def start_muster(sa_url: str, port: int, tmp: Path) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "MUSTER_DATABASE_URL": sa_url,
        "MUSTER_PORT": str(port),
        "MUSTER_DATA_DIR": str(tmp),
        "MUSTER_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    token = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = re.match(r"\s+(mst_\S+)", line)
        if found:
            token = found.group(1)
        if line.startswith("Muster on "):
            break
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


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


def report(name: str, count: int, latencies: list[float], seconds: float, refused: int) -> float:
    rate = count / seconds
    print(
        f"  {name:<8} {rate:8.0f} scans/s   p50 {statistics.median(latencies):6.1f} ms"
        f"   p99 {percentile(latencies, 0.99):6.1f} ms   ({count} answers, {refused} not ok)"
    )
    return rate


async def main_async(args: argparse.Namespace) -> None:
    name = f"muster_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.pg)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.pg.rsplit("/", 1)[0] + f"/{name}"
    sa_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    processes: list[subprocess.Popen[str]] = []
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / name
    tmp.mkdir(parents=True, exist_ok=True)
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
        budget = args.tickets
        event_id, gate, secrets = setup_event(api, budget + args.sync)
        online, queued = secrets[:budget], secrets[budget:]
        stop(muster)
        processes.remove(muster)

        print(
            f"check-in benchmark: {args.doors} doors, {args.seconds:.0f} s each, PostgreSQL, one uvicorn process each"
        )
        bare_port = free_port()
        bare = start_bare(dsn, bare_port)
        processes.append(bare)
        count, lat, refused = await drive(
            bare_port, "/scan", token, scan_bodies(online, gate), args.doors, args.seconds
        )
        bare_rate = report("bare", count, lat, args.seconds, refused)
        stop(bare)
        processes.remove(bare)

        muster, _none = start_muster(sa_url, port, tmp)
        processes.append(muster)
        count, lat, refused = await drive(
            port,
            f"/api/v1/events/{event_id}/scans",
            token,
            scan_bodies(online, gate),
            args.doors,
            args.seconds,
        )
        muster_rate = report("muster", count, lat, args.seconds, refused)
        print(f"  ratio    {muster_rate / bare_rate:8.2f}   (goal ≥ 0.8; p99 goal ≤ 50 ms)")
        elapsed, counts = time_sync(api, event_id, gate, queued)
        print(
            f"  sync     {len(queued)} queued scans in {elapsed:.2f} s"
            f" ({len(queued) / elapsed:.0f} scans/s; goal ≤ 2 s)   counts {counts}"
        )
        api.close()  # noqa: ASYNC212 - nothing else runs on the loop meanwhile
    finally:
        for process in processes:
            stop(process)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(
        "reproduce: .venv/bin/python -m bench.checkin"
        f" --doors {args.doors} --seconds {args.seconds:g} --tickets {args.tickets} --sync {args.sync}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doors", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--tickets",
        type=int,
        default=40_000,
        help="tickets for the online run (upper bound of scans)",
    )
    parser.add_argument("--sync", type=int, default=10_000, help="queued scans in the offline sync")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--bare-server", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server is not None:
        run_bare_server(args.pg, args.bare_server)
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
