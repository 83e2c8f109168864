"""Fan-out of the live headcount: N sockets on one or two ``muster serve``
processes while the doors commit scans at 2,000 a second, against a bare
uvicorn broadcast server on the same sockets in the same run.

    .venv/bin/python -m bench.fanout                       # 1,000 and 5,000 sockets, 1 and 2 processes
    .venv/bin/python -m bench.fanout --sockets 1000 --processes 1 --seconds 5
    .venv/bin/python -m bench.fanout --sockets 10000 --processes 2 --seconds 8 --storm 30

``--storm N``: after the rush, every socket dropped at once and resumed on
the pages' own backoff within N seconds while the rush goes on and doors
scan (``bench.fanout_storm``): how many came back and when, replays and
snapshots, the doors' latency in the rush and in the storm; the bare server
goes through the same drop.

What it prints, per run: commit-to-socket latency of headcount updates
(p50/p99: from the commit of a batch of scans to the first update on a
socket that counts them), deliveries a second (messages received by all
sockets, over the time the doors scan), memory per idle socket (server RSS
growth / sockets).

How the load is made: the servers run on a fresh PostgreSQL database; the
scans are written straight to the database — the scan rows, the tickets'
state and the zone counters, as the admission engine leaves them — in 20
commits a second, each followed by the batched ``NOTIFY`` a server process
sends. So this measures the hub (readers, coalescing, fan-out), not the
admission engine, whose own rate is ``bench.checkin``'s figure.

The sockets: one client process per server process, each socket a bare
``asyncio.Protocol`` (uvloop) that does the websocket handshake and then
only splits frames; a few evenly spread "probe" sockets parse the JSON of
each update and stamp it. The clients share the 2 cores with the servers,
so they are kept as cheap as a client can be.

The baseline ("bare"): the same uvicorn, the same websocket implementation
and options, the same clients and sockets, and a plain ASGI app that sends
one pre-encoded message of the same size (the last headcount update Muster
sent) to every socket, ``await send(...)`` per socket, 5 rounds a second
(latency from the start of a round to the socket) and then as fast as it
can ("bare max": what the transport can deliver here at all). Loopback
only; every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench.common import TICKET_COLUMNS, free_port, percentile, scratch_database, sqlalchemy_url
from bench.fanout_sockets import Clients, bare_server_main, raise_fd_limit
from bench.fanout_storm import (
    Doors,
    door_figures,
    listen_overflows,
    pair_doors,
    show_storm,
    storm_figures,
)
from checkin.answers import TOPICS
from tests.servers import SERVING_LINE, read_token, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("MUSTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
COMMITS_PER_SECOND = 20
#: Rounds a second of the bare baseline: Muster's default coalesced rate
#: (or ``--updates-per-second``).
BARE_RATE = 5.0


def cpu_seconds(pids: list[int]) -> float:
    """CPU time the processes have used so far, user and system: what a phase
    cost the servers, whatever else the shared machine runs meanwhile."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


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


def start_server(command: list[str], env: dict[str, str], port: int) -> Server:
    """Start a server process, read the token it prints, wait until it answers."""
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60
    token = read_token(process, deadline, serving=(SERVING_LINE, "bare on "))
    url = f"http://127.0.0.1:{port}"
    if not wait_until_ready(url, process, deadline):
        process.kill()
        raise RuntimeError(f"{command} did not become ready")
    # The server logs little at "warning"; drain its pipe so it never blocks.
    import threading

    threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
    return Server(url, process, token)


#: The key-encryption key of the benchmark's servers (server/key_sealing.py).
BENCH_SECRET_KEY = "muster benchmark key-encryption key, not for production"


def start_muster(database_url: str, data_dir: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "MUSTER_DATABASE_URL": database_url,
        "MUSTER_DATA_DIR": str(data_dir),
        "MUSTER_PORT": str(port),
        "MUSTER_LOG_LEVEL": "warning",
        # Processes on one database share one key-encryption key (each data
        # folder would make its own, and the second process would not start).
        "MUSTER_SECRET_KEY": os.environ.get("MUSTER_SECRET_KEY", BENCH_SECRET_KEY),
    }
    return start_server([sys.executable, "-m", "server.cli", "serve"], env, port)


def start_bare(message: Path, rate: float, dsn: str = "") -> Server:
    """A bare broadcast server; with ``dsn``, also a bare scan endpoint on it."""
    port = free_port()
    command = [sys.executable, "-m", "bench.fanout", "--bare-server", str(port)]
    command += ["--bare-rate", str(rate), "--bare-message", str(message)]
    if dsn:
        command += ["--bare-dsn", dsn]
    return start_server(command, dict(os.environ), port)


def stop(servers: list[Server]) -> None:
    for server in servers:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()


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
            columns=TICKET_COLUMNS,
        )
        ids = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM tickets WHERE event_id = $1 ORDER BY id", eid)
        ]
    finally:
        await conn.close()
    db = Database(sqlalchemy_url(dsn))
    try:
        _account, token = await create_account(db, "command", event_id=eid, name="bench")
    finally:
        await db.dispose()
    return Venue(eid, zone["id"], gate["id"], ids, token)


async def drive_scans(
    dsn: str, venue: Venue, rate: int, seconds: float, admitted: int = 0
) -> list[tuple[float, int]]:
    """Commit ``rate`` admissions a second for ``seconds`` (after the first
    ``admitted`` tickets); [(commit time, checked in so far)]."""
    conn = await asyncpg.connect(dsn)
    per_commit = max(1, rate // COMMITS_PER_SECOND)
    commits: list[tuple[float, int]] = []
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
            # What a server process's hub sends after its admissions (batched).
            await conn.execute(
                "SELECT pg_notify('muster', $1)", f"bench|{venue.event_id}:{','.join(TOPICS)}"
            )
    finally:
        await conn.close()
    return commits


# --- one run ------------------------------------------------------------------------------


def latencies(
    commits: list[tuple[float, int]], samples: list[tuple[int, int, float, int, float]]
) -> list[float]:
    """For each probe socket and each committed batch: the time from the
    commit to the first headcount update on that socket that counts it."""
    by_probe: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for process, index, at, checked_in, _stamp in samples:
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


def profile(pids: list[int], seconds: float, into: Path | None, label: str) -> list[Any]:
    """py-spy record on each server for the loaded phase (``--profile DIR``)."""
    if into is None:
        return []
    into.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--format",
                "raw",
                "--rate",
                "200",
                "--nonblocking",
                "--output",
                str(into / f"{label}-{n}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n, pid in enumerate(pids)
    ]


def summary(
    kind: str,
    sockets: int,
    processes: int,
    lat: list[float],
    received: int,
    seconds: float,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "server": kind,
        "sockets": sockets,
        "processes": processes,
        "p50_ms": percentile(lat, 0.5) * 1000 if lat else float("nan"),
        "p99_ms": percentile(lat, 0.99) * 1000 if lat else float("nan"),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "deliveries_per_second": received / seconds,
        "seconds": seconds,
        **extra,
    }


@dataclass
class StormPlan:
    """``--storm``: after the rush, every socket dropped at once and resumed."""

    #: How long the sockets have to come back (and the rush goes on).
    limit: float = 20.0
    #: The close the pages see (1006: a network drop; 1012: a server restart).
    code: int = 1006
    doors: int = 32
    #: Seconds between one door's scans.
    interval: float = 0.1
    #: Incidents reported before the drop (the history to replay) and while down.
    incidents: int = 5


#: What the sockets watch: the headcount, and in a storm a stream topic too
#: (a state topic always resumes with a snapshot; a stream topic may replay).
RUSH_TOPICS = ("headcount",)
STORM_TOPICS = ("headcount", "incidents")


async def report_incidents(server: Server, venue: Venue, count: int) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for n in range(count):
            answer = await http.post(
                f"/api/v1/events/{venue.event_id}/incidents",
                json={
                    "category": "crowd",
                    "severity": "P3",
                    "title": f"queue at the door {n}",
                    "zone": venue.zone_id,
                    "nonce": uuid.uuid4().hex,
                },
                headers={"Authorization": f"Bearer {venue.command_token}"},
            )
            answer.raise_for_status()


def start_doors(servers: list[Server], plan: StormPlan, seconds: float) -> Doors:
    """A second event with its own gate and tickets, and its doors scanning
    (its own event, so the doors' admissions do not blur the headcount the
    sockets' latency is read from; the servers do the same work)."""
    from bench.checkin import setup_event

    scans = int(plan.doors / plan.interval * (seconds + plan.limit + 10))
    with httpx.Client(
        base_url=servers[0].url,
        headers={"Authorization": f"Bearer {servers[0].token}"},
        timeout=120,
    ) as api:
        event_id, gate, secrets = setup_event(api, scans)
    tokens = pair_doors(servers[0].url, servers[0].token, event_id, gate, plan.doors)
    ports = [int(s.url.rsplit(":", 1)[1]) for s in servers]
    return Doors(ports, f"/api/v1/events/{event_id}/scans", tokens, secrets, gate, plan.interval)


async def run_muster(
    sockets: int,
    processes: int,
    rate: int,
    seconds: float,
    profile_dir: Path | None = None,
    dump: Path | None = None,
    storm: StormPlan | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One Muster run; returns its figures and the last headcount (for the baseline)."""
    async with scratch_database(PG) as dsn:
        url = sqlalchemy_url(dsn)
        servers: list[Server] = []
        clients: Clients | None = None
        doors: Doors | None = None
        tmp = Path(tempfile.mkdtemp(prefix="muster-fanout-"))
        try:
            for i in range(processes):
                servers.append(start_muster(url, tmp / str(i)))
            after_rush = int(rate * (storm.limit if storm else 0))
            venue = await make_venue(servers[0], dsn, int(rate * seconds) + rate + after_rush)
            if storm:
                await report_incidents(servers[0], venue, storm.incidents)
            ws_urls = [
                s.url.replace("http://", "ws://") + f"/ws/events/{venue.event_id}" for s in servers
            ]
            before = [rss_kb(s.process.pid) for s in servers]
            topics = STORM_TOPICS if storm else RUSH_TOPICS
            per_url = max(1, sockets // (processes * 2500))
            clients = Clients(ws_urls, venue.command_token, sockets, topics, per_url)
            failures = clients.wait_ready()
            await asyncio.sleep(2)
            after = [rss_kb(s.process.pid) for s in servers]
            if storm:
                doors = await asyncio.to_thread(start_doors, servers, storm, seconds)
            clients.go()
            spies = profile(
                [s.process.pid for s in servers],
                seconds,
                profile_dir,
                f"muster-{sockets}-{processes}",
            )
            started, rush_from = time.monotonic(), time.time()
            cpu_from = cpu_seconds([s.process.pid for s in servers])
            commits = await drive_scans(dsn, venue, rate, seconds)
            driven = time.monotonic() - started
            await asyncio.sleep(1.0)  # let the last updates arrive
            rush_to = time.time()
            cpu_rush = cpu_seconds([s.process.pid for s in servers]) - cpu_from
            received, samples, failed, closes = clients.stop()
            if dump is not None:
                data = orjson.dumps({"commits": commits, "samples": samples})
                await asyncio.to_thread(dump.write_bytes, data)
            for spy in spies:
                spy.wait(30)
            async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as http:
                last = (
                    await http.get(
                        f"/api/v1/events/{venue.event_id}/headcount",
                        headers={"Authorization": f"Bearer {venue.command_token}"},
                    )
                ).json()
            figures = summary(
                "muster",
                sockets,
                processes,
                latencies(commits, samples),
                received,
                driven,  # what arrives in the second after is the updates of the last commits
                scans_per_second=commits[-1][1] / driven if commits else 0,
                kb_per_socket=(sum(after) - sum(before)) / sockets,
                failed_sockets=failures + failed,
                closes=closes,
                cpu_s=cpu_rush,
            )
            if storm and doors is not None:
                figures["storm"] = await run_storm(
                    servers, clients, doors, venue, dsn, rate, storm, (rush_from, rush_to),
                    commits[-1][1] if commits else 0, profile_dir, sockets,
                )  # fmt: skip
                doors = None
                figures["kb_per_socket_after_storm"] = (
                    sum(rss_kb(s.process.pid) for s in servers) - sum(before)
                ) / sockets
            return figures, last
        finally:
            if doors is not None:
                doors.stop()
            if clients is not None:
                clients.join()
            stop(servers)
            shutil.rmtree(tmp, ignore_errors=True)


async def run_storm(
    servers: list[Server],
    clients: Clients,
    doors: Doors,
    venue: Venue,
    dsn: str,
    rate: int,
    plan: StormPlan,
    rush: tuple[float, float],
    admitted: int,
    profile_dir: Path | None,
    sockets: int,
) -> dict[str, Any]:
    """Drop every socket while the rush goes on and the doors scan; the figures."""
    spies = profile(
        [s.process.pid for s in servers], min(plan.limit, 12), profile_dir, f"storm-{sockets}"
    )
    scans = asyncio.create_task(drive_scans(dsn, venue, rate, plan.limit, admitted))
    overflows = listen_overflows()
    cpu_from = cpu_seconds([s.process.pid for s in servers])
    stormed = asyncio.create_task(asyncio.to_thread(clients.storm, plan.code, plan.limit))
    await asyncio.sleep(0.1)  # the sockets are down: news they must be replayed
    await report_incidents(servers[0], venue, plan.incidents)
    accounts = await stormed
    overflows = listen_overflows() - overflows
    cpu = cpu_seconds([s.process.pid for s in servers]) - cpu_from
    scans.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await scans
    answers = await asyncio.to_thread(doors.stop)
    for spy in spies:
        spy.wait(30)
    figures = storm_figures(accounts, sockets, overflows)
    figures["cpu_s"] = cpu
    dropped = figures["dropped_at"]
    until = dropped + min(plan.limit, figures["all_s"])
    figures["doors_rush"] = door_figures(answers, *rush)
    figures["doors_storm"] = door_figures(answers, dropped, until)
    return figures


async def drive_rows(dsn: str, rate: int, seconds: float) -> None:
    """The rush's writes for a bare run: ``rate`` rows a second into ``bench_rush``
    in ``COMMITS_PER_SECOND`` commits, each with a NOTIFY (``drive_scans``
    writes three statements a commit: this is the lighter load)."""
    conn = await asyncpg.connect(dsn)
    per_commit = max(1, rate // COMMITS_PER_SECOND)
    started = time.monotonic()
    try:
        for n in range(int(seconds * COMMITS_PER_SECOND)):
            await asyncio.sleep(max(0.0, started + n / COMMITS_PER_SECOND - time.monotonic()))
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO bench_rush (nonce, at) VALUES ($1, now())",
                    [(uuid.uuid4().hex,) for _ in range(per_commit)],
                )
            await conn.execute("SELECT pg_notify('bench', 'rush')")
    finally:
        await conn.close()


async def run_bare(
    sockets: int,
    processes: int,
    rate: float,
    seconds: float,
    data: dict[str, Any],
    storm: StormPlan | None = None,
    scan_rate: int = 0,
) -> dict[str, Any]:
    """The baseline: ``processes`` bare broadcast servers, the same clients
    (and, with ``storm``, the same drop and reconnects: a snapshot for each
    topic of each hello, nothing read; and the same doors scanning through
    the rush and the storm, each scan one INSERT on the same processes'
    event loops, while ``scan_rate`` rows a second are written beside them)."""
    if storm is None:
        return await _run_bare(sockets, processes, rate, seconds, data, None, "", 0)
    async with scratch_database(PG) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "CREATE TABLE bench_scans (id bigserial PRIMARY KEY, nonce text UNIQUE NOT NULL,"
                " gate bigint, direction text, scanned_at timestamptz);"
                " CREATE TABLE bench_rush (id bigserial PRIMARY KEY, nonce text, at timestamptz)"
            )
        finally:
            await conn.close()
        return await _run_bare(sockets, processes, rate, seconds, data, storm, dsn, scan_rate)


async def _run_bare(
    sockets: int,
    processes: int,
    rate: float,
    seconds: float,
    data: dict[str, Any],
    storm: StormPlan | None,
    dsn: str,
    scan_rate: int,
) -> dict[str, Any]:
    message = Path(f"/tmp/muster_bench_bare_{uuid.uuid4().hex[:8]}.json")
    await asyncio.to_thread(message.write_bytes, orjson.dumps(data))
    servers: list[Server] = []
    clients: Clients | None = None
    doors: Doors | None = None
    rows: asyncio.Task[None] | None = None
    try:
        servers = [start_bare(message, rate, dsn) for _ in range(processes)]
        ws_urls = [s.url.replace("http://", "ws://") + "/ws" for s in servers]
        before = [rss_kb(s.process.pid) for s in servers]
        per_url = max(1, sockets // (processes * 2500))
        topics = STORM_TOPICS if storm else RUSH_TOPICS
        clients = Clients(ws_urls, "bare", sockets, topics, per_url)
        failures = clients.wait_ready()
        await asyncio.sleep(2)
        after = [rss_kb(s.process.pid) for s in servers]
        async with httpx.AsyncClient() as http:
            for server in servers:
                await http.get(f"{server.url}/go")
        pids = [s.process.pid for s in servers]
        if storm is not None:
            ports = [int(s.url.rsplit(":", 1)[1]) for s in servers]
            secrets = [f"BARE{n}" for n in range(int(storm.doors / storm.interval * 90))]
            tokens = ["bare"] * storm.doors
            doors = await asyncio.to_thread(
                Doors, ports, "/scan", tokens, secrets, 1, storm.interval
            )
            rows = asyncio.create_task(drive_rows(dsn, scan_rate, seconds + storm.limit + 5))
        clients.go()
        started, cpu_from = time.monotonic(), cpu_seconds(pids)
        rush_from = time.time()
        await asyncio.sleep(seconds)
        rush_to = time.time()
        received, samples, failed, closes = clients.stop()
        counted_for = time.monotonic() - started
        cpu = cpu_seconds(pids) - cpu_from
        lat = [at - stamp for _p, _i, at, _n, stamp in samples]
        extra = {}
        if storm is not None and doors is not None:
            overflows, cpu_from = listen_overflows(), cpu_seconds(pids)
            accounts = await asyncio.to_thread(clients.storm, storm.code, storm.limit)
            figures = storm_figures(accounts, sockets, listen_overflows() - overflows)
            figures["cpu_s"] = cpu_seconds(pids) - cpu_from
            answers = await asyncio.to_thread(doors.stop)
            doors = None
            dropped = figures["dropped_at"]
            figures["doors_rush"] = door_figures(answers, rush_from, rush_to)
            figures["doors_storm"] = door_figures(
                answers, dropped, dropped + min(storm.limit, figures["all_s"])
            )
            extra["storm"] = figures
        return summary(
            "bare max" if not rate else "bare",
            sockets,
            processes,
            lat if rate else [],
            received,
            counted_for,
            scans_per_second=0,
            kb_per_socket=(sum(after) - sum(before)) / sockets,
            failed_sockets=failures + failed,
            closes=closes,
            cpu_s=cpu,
            **extra,
        )
    finally:
        if rows is not None:
            rows.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rows
        if doors is not None:
            await asyncio.to_thread(doors.stop)
        if clients is not None:
            clients.join()
        stop(servers)
        await asyncio.to_thread(message.unlink, missing_ok=True)


def show(r: dict[str, Any]) -> None:
    scans = f"{r['scans_per_second']:7.0f}" if r["scans_per_second"] else "      -"
    closes = ",".join(sorted({str(c) for c in r["closes"]})) or "-"
    print(
        f"{r['server']:9} {r['sockets']:7} {r['processes']:9} {scans} "
        f"{r['p50_ms']:7.0f} {r['p99_ms']:7.0f} {r['deliveries_per_second']:13.0f} "
        f"{r['kb_per_socket']:10.1f} {r['failed_sockets']:7} {closes}",
        flush=True,
    )
    if "cpu_s" not in r:
        return  # bench.fanout_sqlite's runs do not count it
    delivered = r["deliveries_per_second"] * r.get("seconds", 0)
    per = f" ({r['cpu_s'] / delivered * 1e6:.0f} µs a delivery)" if delivered else ""
    print(f"{r['server']:9} server CPU while counted: {r['cpu_s']:.1f} s{per}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", default="1000,5000", help="comma-separated socket counts")
    parser.add_argument("--processes", default="1,2", help="comma-separated server process counts")
    parser.add_argument("--rate", type=int, default=2000, help="scans committed a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the doors scan")
    parser.add_argument(
        "--updates-per-second",
        type=float,
        default=None,
        help="MUSTER_STATE_UPDATES_PER_SECOND for the servers (and the bare rounds a second)",
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare baseline")
    parser.add_argument(
        "--storm",
        type=float,
        default=0.0,
        help="after the rush, drop every socket and give them this many seconds to resume",
    )
    parser.add_argument(
        "--storm-code",
        type=int,
        default=1006,
        help="the close the pages see (1006 a network drop, 1012 a server restart)",
    )
    parser.add_argument("--doors", type=int, default=32, help="doors scanning through the storm")
    parser.add_argument(
        "--door-interval", type=float, default=0.1, help="seconds between one door's scans"
    )
    parser.add_argument("--profile", type=Path, default=None, help="py-spy raw profiles here")
    parser.add_argument(
        "--samples", type=Path, default=None, help="write commits and probe samples here"
    )
    parser.add_argument("--bare-server", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--bare-rate", type=float, default=BARE_RATE, help=argparse.SUPPRESS)
    parser.add_argument("--bare-message", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bare-dsn", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        raise_fd_limit()
        bare_server_main(args.bare_server, args.bare_rate, args.bare_message, args.bare_dsn)
        return
    raise_fd_limit()
    if args.samples:
        args.samples.mkdir(parents=True, exist_ok=True)
    rounds = BARE_RATE
    if args.updates_per_second:
        os.environ["MUSTER_STATE_UPDATES_PER_SECOND"] = str(args.updates_per_second)
        rounds = args.updates_per_second
    plan = None
    if args.storm:
        plan = StormPlan(args.storm, args.storm_code, args.doors, args.door_interval)
    command = " ".join([".venv/bin/python -m bench.fanout", *sys.argv[1:]])
    print(f"# {command}")
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print(
        "server    sockets processes scans/s  p50_ms  p99_ms  deliveries/s  KB/socket"
        "  failed closes"
    )
    for sockets in (int(s) for s in args.sockets.split(",")):
        for processes in (int(p) for p in args.processes.split(",")):
            figures, last = asyncio.run(
                run_muster(
                    sockets,
                    processes,
                    args.rate,
                    args.seconds,
                    args.profile,
                    args.samples and args.samples / f"samples-{sockets}-{processes}.json",
                    plan,
                )
            )
            show(figures)
            if plan is not None:
                storm = figures["storm"]
                show_storm(storm, storm["doors_rush"], storm["doors_storm"], plan.code)
                print(
                    f"muster    {figures['kb_per_socket_after_storm']:.1f} KB a socket"
                    " after the storm",
                    flush=True,
                )
            if args.no_bare:
                continue
            for bare_rate in (rounds, 0.0):
                bare = asyncio.run(
                    run_bare(
                        sockets,
                        processes,
                        bare_rate,
                        args.seconds,
                        last,
                        plan if bare_rate else None,
                        args.rate,
                    )
                )
                show(bare)
                if "storm" in bare:
                    storm = bare["storm"]
                    show_storm(
                        storm,
                        storm["doors_rush"],
                        storm["doors_storm"],
                        plan.code if plan else 0,
                        "bare",
                    )
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    print(f"# reproduce: {command}")


if __name__ == "__main__":
    main()
