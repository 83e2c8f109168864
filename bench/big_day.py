"""A whole big day simulated (issue 19): tickets issued, doors following an
arrival curve, thousands of screens watching the headcount, a Wi-Fi drop
for a quarter of the doors, on PostgreSQL with two ``muster serve``.

    .venv/bin/python -m bench.big_day       # 20,000 tickets, 200 doors, 1,000 screens: ~5 min here
    .venv/bin/python -m bench.big_day --tickets 100000 --screens 5000 --seconds 120   # issue 19's day

What runs: two ``muster serve`` processes on one scratch PostgreSQL
database (one ``MUSTER_SECRET_KEY``), the tickets issued over the API (signed
secrets), gates of ten lanes each plus a few one-lane probe gates, a door
token paired over HTTP per door. The doors (``bench.big_day_doors``) run in
two processes of their own, the screens (``bench.fanout_sockets``: cheap
websockets watching ``headcount``, a command-centre token) in one process per
server, so the bench's clients do not share an event loop with each other
or with the servers (they do share the 2 cores).

Phases:

1. capacity, the same-run baseline: every door back to back for
   ``--baseline-seconds`` against two bare one-INSERT asyncpg endpoints
   (``bench.checkin``'s), then against Muster (tickets kept apart for it),
   taking turns, no screens connected; the ratio of the two.
2. the day: the demo day's arrival curve (``server.demo_day``) for every
   ticket, doors-open to last entry squeezed into ``--seconds``; from
   ``--drop-at`` seconds a quarter of the doors (every fourth) send nothing
   for ``--drop`` seconds but keep scanning, deciding on the door, and sync
   their queue when the network is back.

Figures: scans a second (all, and the busiest second of online answers),
p99 per door (request to answer; the median door's and the worst), the
wait at the door (arrival to answer: the queue), the sync after the drop
(from the network's return to each door's last batch answered), headcount
lag (from a probe door's answer to the first headcount update on a screen
whose count for that door's one-lane gate includes it: exact, one door a
gate), CPU (% of one core) and memory of each server process and of the
database's backends for this database (PSS: shared buffers split among
the processes that touch them), and whether the headcount at the end
equals the scan log and the doors' answers (nothing lost or doubled).
Loopback only; every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.big_day_doors import DoorProcesses, DoorReport, DoorSetup, plan_arrivals, warm_up
from bench.checkin import issue, start_bare
from bench.checkin import stop as stop_process
from bench.common import (
    cpu_seconds,
    free_port,
    headcount_messages,
    percentile,
    scratch_database,
    sqlalchemy_url,
)
from bench.fanout import Server, rss_kb, start_muster
from bench.fanout import stop as stop_servers
from bench.fanout_sockets import Clients, raise_fd_limit
from bench.fanout_storm import pair_doors

PROCESSES = 2
DOOR_PROCESSES = 2
LANES_PER_GATE = 10
#: Scans a second above what the two processes serve here: tickets kept for the capacity run.
CAPACITY_CEILING = 4000


# --- the venue ----------------------------------------------------------------------


@dataclass
class Venue:
    event_id: int
    zone_id: int
    #: Per door: its gate and token.
    gates: list[int]
    tokens: list[str]
    probe_doors: list[int]
    dropped: set[int]
    secrets: list[str]
    public_keys: dict[int, bytes]
    command_token: str
    issue_seconds: float


def door_layout(doors: int) -> tuple[set[int], list[int]]:
    """(the doors in the drop: every fourth, the probe doors: up to four online ones)."""
    dropped = {n for n in range(doors) if n % 4 == 3}
    online = [n for n in range(doors) if n not in dropped]
    return dropped, online[: min(4, max(1, doors // 50))]


async def command_token(dsn: str, event_id: int) -> str:
    from server.auth import create_account
    from server.db import Database

    db = Database(sqlalchemy_url(dsn))
    try:
        _account, token = await create_account(db, "command", event_id=event_id, name="screens")
    finally:
        await db.dispose()
    return token


def make_venue(server: Server, dsn: str, doors: int, tickets: int) -> Venue:
    """The event, its hall, gates and paired doors, the tickets (over the API)."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=600) as api:
        now = datetime.now(UTC)
        event = api.post(
            "/api/v1/events",
            json={
                "name": "百万人博览会 big day",
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=10)).isoformat(),
                "timezone": "Asia/Shanghai",
            },
        ).json()
        eid = event["id"]
        zone = api.post(
            f"/api/v1/events/{eid}/zones", json={"name": "主会场 Hall", "capacity": 1_000_000}
        ).json()
        dropped, probes = door_layout(doors)

        def new_gate(name: str) -> int:
            answer = api.post(
                f"/api/v1/events/{eid}/gates", json={"name": name, "to_zone": zone["id"]}
            )
            answer.raise_for_status()
            return int(answer.json()["id"])

        gates: list[int] = [0] * doors
        tokens: list[str] = [""] * doors
        lanes = [n for n in range(doors) if n not in probes]
        groups = [(f"Probe {n}", [n]) for n in probes] + [
            (f"Gate {g // LANES_PER_GATE + 1}", lanes[g : g + LANES_PER_GATE])
            for g in range(0, len(lanes), LANES_PER_GATE)
        ]
        for name, members in groups:
            gate = new_gate(name)
            paired = pair_doors(server.url, server.token, eid, gate, len(members))
            for n, token in zip(members, paired, strict=True):
                gates[n], tokens[n] = gate, token
        started = time.perf_counter()
        secrets = issue(api, eid, tickets)
        issue_seconds = time.perf_counter() - started
        keys = api.get(f"/api/v1/events/{eid}/keys").json()["keys"]
    command = asyncio.run(command_token(dsn, eid))
    return Venue(
        eid,
        zone["id"],
        gates,
        tokens,
        probes,
        dropped,
        secrets,
        {k["kid"]: base64.b64decode(k["public_key"]) for k in keys},
        command,
        issue_seconds,
    )


# --- what the machine spends ----------------------------------------------------------


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def backends_of(database: str) -> list[int]:
    """The PostgreSQL backends serving ``database`` (their process titles name it)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes()
        except OSError:
            continue
        if text.startswith(b"postgres:") and f" {database} ".encode() in text:
            found.append(int(cmdline.parent.name))
    return found


@dataclass
class Usage:
    """CPU and memory sampled once a second: the servers and the database's backends."""

    servers: list[int]
    database: str
    started: float = 0.0
    server_cpu0: list[float] = field(default_factory=list)
    server_rss_peak: list[int] = field(default_factory=list)
    backend_cpu0: dict[int, float] = field(default_factory=dict)
    backend_cpu: dict[int, float] = field(default_factory=dict)
    backend_pss_peak: int = 0
    backends_peak: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        self.started = time.monotonic()
        self.server_cpu0 = [cpu_seconds(p) for p in self.servers]
        self.server_rss_peak = [rss_kb(p) for p in self.servers]
        for pid in backends_of(self.database):
            with contextlib.suppress(OSError, IndexError):
                self.backend_cpu0[pid] = self.backend_cpu[pid] = cpu_seconds(pid)
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        return thread

    def _sample(self) -> None:
        while not self.stopping.wait(1.0):
            self.server_rss_peak = [
                max(peak, rss_kb(p))
                for peak, p in zip(self.server_rss_peak, self.servers, strict=True)
            ]
            pids = backends_of(self.database)
            pss = 0
            for pid in pids:
                with contextlib.suppress(OSError, IndexError):
                    self.backend_cpu[pid] = cpu_seconds(pid)
                    self.backend_cpu0.setdefault(pid, 0.0)
                    pss += pss_kb(pid)
            self.backend_pss_peak = max(self.backend_pss_peak, pss)
            self.backends_peak = max(self.backends_peak, len(pids))

    def stop(self) -> dict[str, Any]:
        self.stopping.set()
        seconds = time.monotonic() - self.started
        return {
            "seconds": seconds,
            "server_cpu": [
                (cpu_seconds(p) - c0) / seconds * 100
                for p, c0 in zip(self.servers, self.server_cpu0, strict=True)
            ],
            "server_rss_mb": [kb / 1024 for kb in self.server_rss_peak],
            "database_cpu": sum(
                self.backend_cpu[p] - self.backend_cpu0[p] for p in self.backend_cpu
            )
            / seconds
            * 100,
            "database_pss_mb": self.backend_pss_peak / 1024,
            "backends": self.backends_peak,
        }


# --- the screens -------------------------------------------------------------------


async def watch_probe_gates(
    url: str, token: str, gates: list[int], seen: list[tuple[float, dict[int, int]]]
) -> None:
    """A screen that notes, for every headcount message, each probe gate's ``in``."""
    wanted = set(gates)
    async for message in headcount_messages(url, token):
        if "data" in message:
            counts = {g["id"]: g["in"] for g in message["data"]["gates"] if g["id"] in wanted}
            seen.append((time.time(), counts))


def headcount_lags(
    reports: list[DoorReport],
    venue: Venue,
    seen: list[tuple[float, dict[int, int]]],
) -> list[float]:
    """Per probe door's admission: seconds from its answer to the first
    headcount message on a probe screen whose count of that door's gate has it."""
    lags = []
    for door in venue.probe_doors:
        gate = venue.gates[door]
        updates = [(at, counts[gate]) for at, counts in sorted(seen) if gate in counts]
        # The first message is the snapshot at connection: the capacity run's scans.
        admitted = updates[0][1] if updates else 0
        i = 0
        for answered, _ms, _wait, ok in reports[door].answers:
            if not ok:
                continue
            admitted += 1
            while i < len(updates) and updates[i][1] < admitted:
                i += 1
            if i == len(updates):
                break
            lags.append(max(0.0, updates[i][0] - answered))
    return lags


# --- the end: nothing lost or doubled -------------------------------------------------


async def check_log(dsn: str, venue: Venue, server: Server) -> dict[str, Any]:
    """The scan log against the doors' answers and the headcount, once the
    log has stopped growing (requests a door gave up on may still commit)."""
    conn = await asyncpg.connect(dsn)
    try:
        counted, settled_at = -1, time.monotonic() + 60
        while time.monotonic() < settled_at:
            now = await conn.fetchval(
                "SELECT count(*) FROM scans WHERE event_id = $1", venue.event_id
            )
            if now == counted:
                break
            counted = now
            await asyncio.sleep(2.0)
        row = await conn.fetchrow(
            "SELECT count(*) AS scans, count(DISTINCT nonce) AS nonces,"
            " count(*) FILTER (WHERE status = 'ok' AND direction = 'in') AS admitted,"
            " count(DISTINCT ticket_id) FILTER (WHERE status = 'ok' AND direction = 'in')"
            " AS tickets, count(*) FILTER (WHERE offline) AS offline"
            " FROM scans WHERE event_id = $1 AND nonce LIKE 'day-%'",
            venue.event_id,
        )
        every = await conn.fetchval(
            "SELECT count(DISTINCT ticket_id) FROM scans WHERE event_id = $1 AND status = 'ok'"
            " AND direction = 'in'",
            venue.event_id,
        )
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        headcount = (
            await http.get(
                f"/api/v1/events/{venue.event_id}/headcount",
                headers={"Authorization": f"Bearer {venue.command_token}"},
            )
        ).json()
    return {**dict(row), "every_admitted_ticket": every, "headcount": headcount["checked_in"]}


# --- the run ------------------------------------------------------------------------


@dataclass
class Capacity:
    rate: float
    p99_ms: float
    failed: int


def capacity_tickets(seconds: float) -> int:
    """Tickets for one capacity run of ``seconds`` (and its warm-up)."""
    return int(CAPACITY_CEILING * (seconds + warm_up(seconds)))


def capacity(doors: DoorProcesses, path: str, seconds: float, secrets: list[str]) -> Capacity:
    count, latencies, failed, span = doors.saturate(path, seconds, secrets)
    return Capacity(count / max(span, 1e-9), percentile(latencies, 0.99), failed)


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


async def run(args: argparse.Namespace) -> int:
    raise_fd_limit()
    command = " ".join([".venv/bin/python -m bench.big_day", *sys.argv[1:]])
    print(f"# {command}")
    print(f"# {os.cpu_count()} CPUs, load {load()} (1/5/15 min) at the start", flush=True)
    async with scratch_database(args.pg) as dsn:
        database = dsn.rsplit("/", 1)[1]
        tmp = Path(tempfile.mkdtemp(prefix="muster-bigday-"))
        servers: list[Server] = []
        doors: DoorProcesses | None = None
        clients: Clients | None = None
        probes: list[asyncio.Task[None]] = []
        try:
            for i in range(PROCESSES):
                servers.append(start_muster(sqlalchemy_url(dsn), tmp / str(i)))
            spare = capacity_tickets(args.baseline_seconds) if args.baseline_seconds else 0
            venue = await asyncio.to_thread(
                make_venue, servers[0], dsn, args.doors, args.tickets + spare
            )
            day_secrets, spare_secrets = (
                venue.secrets[: args.tickets],
                venue.secrets[args.tickets :],
            )
            print(
                f"venue: {args.tickets + spare:,} tickets issued in {venue.issue_seconds:.1f} s"
                f" ({args.tickets:,} for the day, {spare:,} for the capacity run);"
                f" {len(set(venue.gates))} gates, {args.doors} doors paired;"
                f" load {load()}",
                flush=True,
            )
            ports = [int(s.url.rsplit(":", 1)[1]) for s in servers]
            setup = DoorSetup(
                ports, venue.event_id, venue.gates, venue.tokens, venue.zone_id, venue.public_keys
            )
            doors = DoorProcesses(setup, DOOR_PROCESSES)
            ratio = None
            if args.baseline_seconds:
                ratio = await asyncio.to_thread(baseline, args, dsn, doors, venue, spare_secrets)

            ws_urls = [
                s.url.replace("http://", "ws://") + f"/ws/events/{venue.event_id}" for s in servers
            ]
            rss_before = [rss_kb(s.process.pid) for s in servers]
            failed_sockets = 0
            if args.screens:
                clients = Clients(ws_urls, venue.command_token, args.screens, ("headcount",), 1)
                failed_sockets = await asyncio.to_thread(clients.wait_ready)
            seen: list[tuple[float, dict[int, int]]] = []
            probe_gates = [venue.gates[n] for n in venue.probe_doors]
            probes = [
                asyncio.create_task(
                    watch_probe_gates(
                        ws_urls[i % len(ws_urls)], venue.command_token, probe_gates, seen
                    )
                )
                for i in range(2 * len(ws_urls) if args.screens else 0)
            ]
            await asyncio.sleep(2)
            rss_sockets = [rss_kb(s.process.pid) for s in servers]
            print(
                f"screens: {args.screens:,} sockets + {len(probes)} probe screens connected"
                f" ({failed_sockets} failed), {sum(rss_sockets) - sum(rss_before):,} KB more in the"
                f" servers; load {load()}",
                flush=True,
            )
            plan = plan_arrivals(args.tickets, args.doors, args.seconds, args.seed)
            schedules = [[(at, day_secrets[t]) for at, t in door] for door in plan]
            usage = Usage([s.process.pid for s in servers], database)
            usage.start()
            if clients is not None:
                clients.go()
            start = time.time() + 1.0
            drop = (args.drop_at, args.drop_at + args.drop)
            reports = await asyncio.to_thread(
                doors.day, start, schedules, venue.dropped, drop, args.seconds + args.patience
            )
            ended = time.time()
            await asyncio.sleep(1.0)
            received, failed_late = 0, 0
            if clients is not None:
                received, _samples, failed_late, _closes = await asyncio.to_thread(clients.stop)
            spent = usage.stop()
            for task in probes:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.gather(*probes)
            log = await check_log(dsn, venue, servers[0])
            show_day(args, venue, reports, start, ended, drop, seen, spent, log, received, ratio)
            print(f"# failed sockets during the day: {failed_late}; load {load()} at the end")
        finally:
            for task in probes:
                task.cancel()
            if clients is not None:
                clients.join()
            if doors is not None:
                doors.close()
            stop_servers(servers)
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"# reproduce: {command}")
    return 0


def baseline(
    args: argparse.Namespace, dsn: str, doors: DoorProcesses, venue: Venue, spare: list[str]
) -> float:
    """The doors back to back: two bare one-INSERT endpoints, then Muster; the ratio."""
    import asyncio as _asyncio

    async def table() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "CREATE TABLE bench_scans (id bigserial PRIMARY KEY, nonce text UNIQUE NOT NULL,"
                " gate bigint, direction text, scanned_at timestamptz)"
            )
        finally:
            await conn.close()

    _asyncio.run(table())
    bare_ports = [free_port() for _ in range(PROCESSES)]
    bare = [start_bare(dsn, port) for port in bare_ports]
    try:
        bare_doors = DoorProcesses(
            DoorSetup(bare_ports, venue.event_id, venue.gates, venue.tokens, venue.zone_id, {}),
            DOOR_PROCESSES,
        )
        try:
            dummy = ["-"] * capacity_tickets(args.baseline_seconds)
            base = capacity(bare_doors, "/scan", args.baseline_seconds, dummy)
        finally:
            bare_doors.close()
    finally:
        for process in bare:
            stop_process(process)
    path = f"/api/v1/events/{venue.event_id}/scans"
    muster = capacity(doors, path, args.baseline_seconds, spare)
    ratio = muster.rate / base.rate
    print(
        f"capacity, {args.doors} doors back to back for {args.baseline_seconds:g} s, no screens:"
        f" bare one-INSERT ×{PROCESSES} {base.rate:,.0f} scans/s (p99 {base.p99_ms:.0f} ms,"
        f" {base.failed} not 200); muster ×{PROCESSES} {muster.rate:,.0f} scans/s"
        f" (p99 {muster.p99_ms:.0f} ms, {muster.failed} not 200); ratio {ratio:.2f}; load {load()}",
        flush=True,
    )
    return ratio


def show_day(
    args: argparse.Namespace,
    venue: Venue,
    reports: list[DoorReport],
    start: float,
    ended: float,
    drop: tuple[float, float],
    seen: list[tuple[float, dict[int, int]]],
    spent: dict[str, Any],
    log: dict[str, Any],
    received: int,
    ratio: float | None,
) -> None:
    answers = [a for r in reports for a in r.answers]
    online_ok = sum(1 for a in answers if a[3])
    offline = sum(r.offline for r in reports)
    seconds = ended - start
    by_second: dict[int, int] = {}
    for at, *_rest in answers:
        by_second[int(at - start)] = by_second.get(int(at - start), 0) + 1
    busiest = max(by_second.values(), default=0)
    retried: dict[int, int] = {}
    for r in reports:
        for status, n in r.retried.items():
            retried[status] = retried.get(status, 0) + n
    per_door = [percentile([a[1] for a in r.answers], 0.99) for r in reports if r.answers]
    waits = [a[2] for a in answers]
    print(
        f"day: {args.tickets:,} people over {args.doors} doors, doors-open to last entry in"
        f" {args.seconds:g} s (the day {8 * 3600 / args.seconds:.0f}× faster); done in"
        f" {seconds:.1f} s"
    )
    print(
        f"  scans/s     {(len(answers) + offline) / seconds:,.0f} over the day"
        f" ({len(answers):,} online, {offline:,} on the doors in the drop);"
        f" busiest second {busiest:,} online answers"
        + (f"; capacity ratio to bare {ratio:.2f}" if ratio is not None else "")
    )
    print(
        f"  per door    p99 of request to answer: median door {statistics.median(per_door):.0f} ms,"
        f" worst door {max(per_door):.0f} ms; all scans p50"
        f" {percentile([a[1] for a in answers], 0.5):.0f} / p99"
        f" {percentile([a[1] for a in answers], 0.99):.0f} ms;"
        f" retried (by status, 0: no answer) {retried or 'none'}"
    )
    print(
        f"  at the door arrival to answer (the queue): p50 {percentile(waits, 0.5) / 1000:.2f} s,"
        f" p99 {percentile(waits, 0.99) / 1000:.2f} s, worst {max(waits, default=0) / 1000:.1f} s"
    )
    step = max(1, int(seconds // 12))
    timeline = [
        sum(by_second.get(s, 0) for s in range(t, t + step)) // step
        for t in range(0, int(seconds) + 1, step)
    ]
    print(f"  timeline    online answers/s, every {step} s: {' '.join(map(str, timeline))}")
    synced = [r for r in reports if r.sync_started]
    back = start + drop[1]
    took = [r.sync_done - back for r in synced if r.sync_done]
    counts: dict[str, int] = {}
    for r in synced:
        for key, value in r.sync_counts.items():
            counts[key] = counts.get(key, 0) + value
    print(
        f"  drop        {len(venue.dropped)} doors off the network from {drop[0]:g} s for"
        f" {drop[1] - drop[0]:g} s: {offline:,} scans decided on the doors;"
        f" synced after the drop p50 {percentile(took, 0.5):.2f} s, all"
        f" {max(took, default=float('nan')):.2f} s ({len(took)} of {len(synced)} doors);"
        f" sync counts {counts}"
    )
    lags = headcount_lags(reports, venue, seen)
    print(
        f"  headcount   {args.screens:,} screens, {received:,} updates delivered"
        f" ({received / seconds:,.0f}/s); lag from a probe door's answer to the screen:"
        f" p50 {percentile(lags, 0.5) * 1000:.0f} ms, p99 {percentile(lags, 0.99) * 1000:.0f} ms"
        f" ({len(lags)} scans at {len(venue.probe_doors)} one-lane gates)"
    )
    cpus = ", ".join(f"{c:.0f}%" for c in spent["server_cpu"])
    rss = ", ".join(f"{m:.0f}" for m in spent["server_rss_mb"])
    print(
        f"  CPU/memory  servers {cpus} of a core, RSS peak {rss} MB; PostgreSQL backends of"
        f" this database {spent['database_cpu']:.0f}% of a core, PSS peak"
        f" {spent['database_pss_mb']:.0f} MB ({spent['backends']} backends); over"
        f" {spent['seconds']:.0f} s"
    )
    doors_ok = online_ok + counts.get("admitted", 0)
    # Given up at the deadline: a scan sent but never answered, a queue not
    # synced, may or may not be in the log; everything else must match exactly.
    unanswered = sum(r.unanswered for r in reports)
    unsynced = sum(r.offline for r in synced if not r.sync_done)
    unserved = sum(r.unserved for r in reports)
    told = len(answers) + offline - unsynced
    slack = unanswered + unsynced
    consistent = (
        log["headcount"] == log["every_admitted_ticket"]
        and log["admitted"] == log["tickets"]
        and doors_ok <= log["admitted"] <= doors_ok + slack
        and log["scans"] == log["nonces"]
        and told <= log["scans"] <= told + slack
    )
    if slack or unserved:
        print(
            f"  GAVE UP     {args.patience:g} s after the planned end: {unserved:,} people never"
            f" scanned, {unanswered} scans sent and never answered, {unsynced:,} offline scans"
            " not synced"
        )
    print(
        f"  end         headcount {log['headcount']:,} = admitted tickets in the log"
        f" {log['every_admitted_ticket']:,}; the day's log: {log['scans']:,} scans"
        f" ({log['offline']:,} offline), {log['admitted']:,} admissions of {log['tickets']:,}"
        f" tickets, the doors were told {doors_ok:,}: "
        + ("consistent, nothing lost or doubled" if consistent else "INCONSISTENT")
    )
    if not consistent:
        raise SystemExit(1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=20_000, help="issue 19's day: 100000")
    parser.add_argument("--doors", type=int, default=200)
    parser.add_argument(
        "--screens",
        type=int,
        default=1000,
        help="sockets watching the headcount (issue 19's day: 5000)",
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="doors-open to last entry, squeezed"
    )
    parser.add_argument(
        "--drop", type=float, default=60.0, help="seconds the quarter of doors is off"
    )
    parser.add_argument(
        "--drop-at", type=float, default=10.0, help="seconds into the day it starts"
    )
    parser.add_argument(
        "--baseline-seconds", type=float, default=4.0, help="the capacity run per server (0: none)"
    )
    parser.add_argument(
        "--patience",
        type=float,
        default=120.0,
        help="seconds after the planned end of the day the doors give up (a bound)",
    )
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument(
        "--pg",
        default=os.environ.get("MUSTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
