"""Fan-out of the live headcount: N sockets on one or two ``muster serve``
processes while the doors commit scans at 2,000 a second.

    .venv/bin/python -m bench.fanout                       # 1,000 and 5,000 sockets, 1 and 2 processes
    .venv/bin/python -m bench.fanout --sockets 1000 --processes 1 --seconds 5

What it prints, per run: commit-to-socket latency of headcount updates
(p50/p99: from the commit of a batch of scans to the first update on a
socket that counts them), deliveries a second (messages received by all
sockets), memory per idle socket (server RSS growth / sockets).

How the load is made: the servers run on a fresh PostgreSQL database; the
sockets live in two client processes (a few "probe" sockets per process
parse every message and time it, the others just receive); scans are
written straight to the database — the scan rows, the tickets' state and
the zone counters, as the admission engine leaves them — in 20 commits a
second, each followed by the batched ``NOTIFY`` a server process sends. So
this measures the hub (readers, coalescing, fan-out), not the admission
engine, whose own rate is ``bench.checkin``'s figure. Loopback only;
every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("MUSTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CLIENT_PROCESSES = 2
PROBES_PER_PROCESS = 20
COMMITS_PER_SECOND = 20


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- the servers -------------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    token: str


def start_server(database_url: str, data_dir: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "MUSTER_DATABASE_URL": database_url,
        "MUSTER_DATA_DIR": str(data_dir),
        "MUSTER_PORT": str(port),
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
    token, deadline = "", time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = re.match(r"\s+(mst_\S+)", line)
        if found:
            token = found.group(1)
        if line.startswith("Muster on "):
            break
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("muster serve did not become ready")
    # The server logs little at "warning"; drain its pipe so it never blocks.
    import threading

    threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
    return Server(url, process, token)


# --- the venue and the doors ----------------------------------------------------------


@dataclass
class Venue:
    event_id: int
    zone_id: int
    gate_id: int
    tickets: list[int]
    command_token: str


async def make_venue(server: Server, dsn: str, tickets: int) -> Venue:
    from server.auth import create_account
    from server.db import Database

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {server.token}"}
        now = datetime.now(UTC)
        event = (
            await http.post(
                "/api/v1/events",
                json={
                    "name": "fan-out bench",
                    "starts_at": now.replace(hour=0).isoformat(),
                    "ends_at": now.replace(hour=23).isoformat(),
                },
                headers=headers,
            )
        ).json()
        eid = event["id"]
        zone = (
            await http.post(f"/api/v1/events/{eid}/zones", json={"name": "Hall"}, headers=headers)
        ).json()
        gate = (
            await http.post(
                f"/api/v1/events/{eid}/gates",
                json={"name": "Door", "from_zone": None, "to_zone": zone["id"]},
                headers=headers,
            )
        ).json()
    conn = await asyncpg.connect(dsn)
    try:
        type_id = await conn.fetchval(
            "SELECT id FROM ticket_types WHERE event_id = $1 AND is_default", eid
        )
        rows = [
            (eid, type_id, f"guest {i}", "", f"C{i}", f"BENCH-{eid}-{i}", 1, "valid", now)
            for i in range(tickets)
        ]
        await conn.copy_records_to_table(
            "tickets",
            records=rows,
            columns=[
                "event_id",
                "type_id",
                "holder_name",
                "holder_email",
                "code",
                "secret",
                "generation",
                "status",
                "created_at",
            ],
        )
        ids = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM tickets WHERE event_id = $1 ORDER BY id", eid)
        ]
    finally:
        await conn.close()
    db = Database(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        _account, token = await create_account(db, "command", event_id=eid, name="bench")
    finally:
        await db.dispose()
    return Venue(eid, zone["id"], gate["id"], ids, token)


async def drive_scans(dsn: str, venue: Venue, rate: int, seconds: float) -> list[tuple[float, int]]:
    """Commit ``rate`` admissions a second for ``seconds``; [(commit time, checked in so far)]."""
    conn = await asyncpg.connect(dsn)
    per_commit = max(1, rate // COMMITS_PER_SECOND)
    commits: list[tuple[float, int]] = []
    admitted = 0
    started = time.monotonic()
    try:
        for n in range(int(seconds * COMMITS_PER_SECOND)):
            due = started + n / COMMITS_PER_SECOND
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            batch = venue.tickets[admitted : admitted + per_commit]
            if not batch:
                break
            now = datetime.now(UTC)
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO scans (event_id, ticket_id, gate_id, direction, nonce, scanned_at,"
                    " received_at, status, to_zone_id, offline, response)"
                    " VALUES ($1, $2, $3, 'in', $4, $5, $5, 'ok', $6, false, '{}')",
                    [
                        (venue.event_id, t, venue.gate_id, uuid.uuid4().hex, now, venue.zone_id)
                        for t in batch
                    ],
                )
                await conn.execute(
                    "UPDATE tickets SET zone_id = $1, checked_in_at = $2 WHERE id = ANY($3::bigint[])",
                    venue.zone_id,
                    now,
                    batch,
                )
                await conn.execute(
                    "UPDATE zone_shards SET inside = inside + $1 WHERE zone_id = $2 AND shard = 0",
                    len(batch),
                    venue.zone_id,
                )
            admitted += len(batch)
            commits.append((time.time(), admitted))
            # What a server process's hub sends after its commits (batched).
            await conn.execute(
                "SELECT pg_notify('muster', $1)", f"bench|{venue.event_id}:headcount,gates"
            )
    finally:
        await conn.close()
    return commits


# --- the sockets (in client processes) --------------------------------------------------


def client_main(pipe: Pipe, urls: list[str], token: str, sockets: int, probes: int) -> None:
    raise_fd_limit()
    asyncio.run(_clients(pipe, urls, token, sockets, probes))


async def _clients(pipe: Pipe, urls: list[str], token: str, sockets: int, probes: int) -> None:
    from websockets.asyncio.client import connect

    hello = orjson.dumps({"type": "hello", "token": token, "topics": ["headcount"]}).decode()
    received = 0
    counting = False
    samples: list[tuple[int, float, int]] = []
    failures = 0

    async def hold(index: int, ready: asyncio.Event) -> None:
        nonlocal received, failures
        probe = index < probes
        try:
            async with connect(
                urls[index % len(urls)], compression=None, open_timeout=60, ping_interval=None
            ) as ws:
                await ws.send(hello)
                await ws.recv()  # welcome
                await ws.recv()  # snapshot
                ready.set()
                while True:
                    raw = await ws.recv(decode=False)
                    if raw.startswith(b'{"type":"ping"'):
                        await ws.send('{"type":"pong"}')
                        continue
                    if counting:
                        received += 1
                        if probe:
                            message = orjson.loads(raw)
                            samples.append((index, time.time(), message["data"]["checked_in"]))
        except Exception:
            failures += 1
            ready.set()

    tasks = []
    for start in range(0, sockets, 250):  # connect in bounded waves
        events = [asyncio.Event() for _ in range(start, min(sockets, start + 250))]
        tasks += [asyncio.create_task(hold(start + i, e)) for i, e in enumerate(events)]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 120)
    pipe.send(("ready", failures))
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, pipe.recv) == "go"
    counting = True
    assert await loop.run_in_executor(None, pipe.recv) == "stop"
    counting = False
    pipe.send(("done", received, samples, failures))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --- one run ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latencies(
    commits: list[tuple[float, int]], samples: list[tuple[int, int, float, int]]
) -> list[float]:
    """For each probe socket and each committed batch: the time from the
    commit to the first headcount update on that socket that counts it."""
    by_probe: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for process, index, at, checked_in in samples:
        by_probe.setdefault((process, index), []).append((at, checked_in))
    found = []
    for updates in by_probe.values():
        i = 0
        for committed_at, total in commits:
            while i < len(updates) and updates[i][1] < total:
                i += 1
            if i == len(updates):
                break
            found.append(updates[i][0] - committed_at)
    return found


async def run(sockets: int, processes: int, rate: int, seconds: float) -> dict[str, Any]:
    name = f"muster_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = PG.rsplit("/", 1)[0] + f"/{name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    servers: list[Server] = []
    clients: list[tuple[Any, Pipe]] = []
    tmp = Path(f"/tmp/{name}")
    try:
        for i in range(processes):
            servers.append(start_server(url, tmp / str(i)))
        venue = await make_venue(servers[0], dsn, int(rate * seconds) + rate)
        ws_urls = [
            s.url.replace("http://", "ws://") + f"/ws/events/{venue.event_id}" for s in servers
        ]
        before = [rss_kb(s.process.pid) for s in servers]
        context = mp.get_context("spawn")
        share = sockets // CLIENT_PROCESSES
        for i in range(CLIENT_PROCESSES):
            mine, theirs = context.Pipe()
            count = share if i else sockets - share * (CLIENT_PROCESSES - 1)
            proc = context.Process(
                target=client_main,
                args=(theirs, ws_urls, venue.command_token, count, PROBES_PER_PROCESS),
            )
            proc.start()
            clients.append((proc, mine))
        failures = 0
        for _proc, pipe in clients:
            if not pipe.poll(300):
                raise RuntimeError("clients did not connect in time")
            _tag, failed = pipe.recv()
            failures += failed
        await asyncio.sleep(2)
        after = [rss_kb(s.process.pid) for s in servers]
        for _proc, pipe in clients:
            pipe.send("go")
        started = time.monotonic()
        commits = await drive_scans(dsn, venue, rate, seconds)
        driven = time.monotonic() - started
        await asyncio.sleep(1.0)  # let the last updates arrive
        counted_for = time.monotonic() - started
        received, samples = 0, []
        for number, (_proc, pipe) in enumerate(clients):
            pipe.send("stop")
            if not pipe.poll(60):
                raise RuntimeError("clients did not report")
            _tag, got, probe_samples, failed = pipe.recv()
            received += got
            samples += [(number, *sample) for sample in probe_samples]
            failures += failed
        lat = latencies(commits, samples)
        return {
            "sockets": sockets,
            "processes": processes,
            "scans_per_second": commits[-1][1] / driven if commits else 0,
            "p50_ms": percentile(lat, 0.5) * 1000 if lat else float("nan"),
            "p99_ms": percentile(lat, 0.99) * 1000 if lat else float("nan"),
            "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
            "deliveries_per_second": received / counted_for,
            "kb_per_socket": (sum(after) - sum(before)) / sockets,
            "failed_sockets": failures,
        }
    finally:
        for proc, _pipe in clients:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        for server in servers:
            server.process.terminate()
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                server.process.kill()
        admin = await asyncpg.connect(PG)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", default="1000,5000", help="comma-separated socket counts")
    parser.add_argument("--processes", default="1,2", help="comma-separated server process counts")
    parser.add_argument("--rate", type=int, default=2000, help="scans committed a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the doors scan")
    args = parser.parse_args()
    raise_fd_limit()
    command = " ".join([".venv/bin/python -m bench.fanout", *sys.argv[1:]])
    print(f"# {command}")
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print("sockets processes scans/s  p50_ms  p99_ms  deliveries/s  KB/socket  failed")
    for sockets in (int(s) for s in args.sockets.split(",")):
        for processes in (int(p) for p in args.processes.split(",")):
            r = asyncio.run(run(sockets, processes, args.rate, args.seconds))
            print(
                f"{r['sockets']:7} {r['processes']:9} {r['scans_per_second']:7.0f} "
                f"{r['p50_ms']:7.0f} {r['p99_ms']:7.0f} {r['deliveries_per_second']:13.0f} "
                f"{r['kb_per_socket']:10.1f} {r['failed_sockets']:7}",
                flush=True,
            )
    print(f"# reproduce: {command}")


if __name__ == "__main__":
    main()
