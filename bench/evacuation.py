"""Benchmark: an evacuation roll-call of 20,000 people on PostgreSQL.

One ``muster serve`` process on loopback, a scratch database with
``--people`` tickets admitted into four zones (tickets and their scans
written with COPY: the setup is not what is measured), 40 assembly points.

- **freeze**: ``POST /events/{e}/evacuations`` — the roll frozen from the
  scan log (each ticket's last scan before the start, one windowed read) and
  written; same run, the **bare** figure: the same windowed read as one plain
  asyncpg query, no rows written.
- **accounting**: ``--phones`` (40) phones over real HTTP, each accounting
  its share of ``--accounts`` people (4,000) in batches of ``--batch`` as an assembly point
  does, all at once (flat out, or ``--interval`` seconds between a phone's
  sends: ``--batch 1 --interval 1`` is a badge a second at every point);
  a command-centre websocket watches the ``evacuation``
  topic. Visible latency of the k-th answered account = the first update
  whose ``accounted`` reaches k, minus the time its answer arrived (each
  person is accounted once, so the count is exact).
- **missing**: ``GET /evacuations/{id}/missing`` for the whole roll (before
  accounting, so 20,000 names, with contact data); bare: a plain asyncpg
  select of the same rows.

    .venv/bin/python -m bench.evacuation [--people 20000] [--phones 40] [--batch 25] [--accounts 4000]
        [--interval 0]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson
from websockets.asyncio.client import connect

from bench.checkin import start_muster, stop
from bench.common import (
    SCAN_COLUMNS,
    cpu_seconds,
    free_port,
    percentile,
    scratch_database,
    sqlalchemy_url,
)

ZONES = 4
POINTS = 40
LAST_SCANS = """
SELECT ticket_id, to_zone_id, gate_id, scanned_at, received_at FROM (
  SELECT ticket_id, to_zone_id, gate_id, scanned_at, received_at,
         row_number() OVER (PARTITION BY ticket_id ORDER BY scanned_at DESC, id DESC) AS rank
  FROM scans WHERE event_id = $1 AND status = 'ok' AND annulled_at IS NULL
   AND ticket_id IS NOT NULL AND scanned_at <= $2) s
WHERE rank = 1
"""


async def fill(dsn: str, event_id: int, gates: list[tuple[int, int]], people: int) -> None:
    """Tickets admitted through the gates, written straight into the tables."""
    conn = await asyncpg.connect(dsn)
    try:
        type_id = await conn.fetchval(
            "SELECT id FROM ticket_types WHERE event_id = $1 AND is_default", event_id
        )
        base = await conn.fetchval("SELECT coalesce(max(id), 0) FROM tickets") + 1
        now = datetime.now(UTC)
        at = now - timedelta(minutes=30)
        tickets, scans = [], []
        for i in range(people):
            gate_id, zone_id = gates[i % len(gates)]
            ticket_id = base + i
            tickets.append(
                (
                    ticket_id,
                    event_id,
                    type_id,
                    f"嘉宾 {i:05d}",
                    f"g{i}@example.com",
                    "",
                    f"C{i:07d}",
                    f"BENCH{uuid.uuid4().hex.upper()}",
                    1,
                    "valid",
                    zone_id,
                    at,
                    now,
                )
            )
            scans.append(
                (
                    event_id,
                    ticket_id,
                    gate_id,
                    "in",
                    uuid.uuid4().hex,
                    at + timedelta(milliseconds=i),
                    at + timedelta(milliseconds=i),
                    "ok",
                    None,
                    zone_id,
                    False,
                    orjson.dumps({}).decode(),
                )
            )
        await conn.copy_records_to_table(
            "tickets",
            records=tickets,
            columns=[
                "id",
                "event_id",
                "type_id",
                "holder_name",
                "holder_email",
                "language",
                "code",
                "secret",
                "generation",
                "status",
                "zone_id",
                "checked_in_at",
                "created_at",
            ],
        )
        await conn.copy_records_to_table(
            "scans",
            records=scans,
            columns=SCAN_COLUMNS,
        )
        await conn.execute("ANALYZE tickets; ANALYZE scans")
    finally:
        await conn.close()


def drive_phones(
    base_url: str,
    token: str,
    evac: str,
    shares: list[list[int]],
    points: list[int],
    batch: int,
    interval: float,
) -> tuple[list[float], float]:
    """The phones of one process (``--phone-processes``): each accounts its share.

    Run in a process of its own, so the figure measures the server and not
    the bench's clients sharing its event loop. The times are
    ``time.monotonic()``, one clock for every process of the machine.
    """

    async def phones() -> tuple[list[float], float]:
        answered: list[float] = []
        limits = httpx.Limits(max_connections=len(shares) + 2)
        async with httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
            limits=limits,
        ) as http:

            async def phone(mine: list[int], point: int) -> None:
                for start in range(0, len(mine), batch):
                    accounts = [
                        {
                            "nonce": uuid.uuid4().hex,
                            "person": person,
                            "status": "safe",
                            "point": point,
                        }
                        for person in mine[start : start + batch]
                    ]
                    if interval and start:
                        await asyncio.sleep(interval)
                    answer = await http.post(f"{evac}/accounts", json={"accounts": accounts})
                    answer.raise_for_status()
                    answered.extend([time.monotonic()] * len(accounts))

            t = time.monotonic()
            await asyncio.gather(
                *(phone(mine, point) for mine, point in zip(shares, points, strict=True))
            )
            return answered, time.monotonic() - t

    return asyncio.run(phones())


async def run(args: argparse.Namespace) -> None:
    async with scratch_database() as dsn:
        port = free_port()
        settings = {"MUSTER_ESCALATION_CHECK_INTERVAL": "0", "MUSTER_TOKEN_CACHE_SECONDS": "60"}
        with tempfile.TemporaryDirectory() as tmp:
            server, token = await asyncio.to_thread(
                start_muster, sqlalchemy_url(dsn), port, Path(tmp), settings
            )
            try:
                if not token:
                    raise RuntimeError("muster serve printed no organiser token on a new database")
                await measure(args, server.pid, token, dsn, f"127.0.0.1:{port}")
            finally:
                stop(server)


async def measure(args: argparse.Namespace, pid: int, token: str, dsn: str, host: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://{host}", headers=headers, timeout=120) as http:
        now = datetime.now(UTC)
        event = (
            await http.post(
                "/api/v1/events",
                json={
                    "name": "bench",
                    "starts_at": (now - timedelta(hours=1)).isoformat(),
                    "ends_at": (now + timedelta(hours=8)).isoformat(),
                },
            )
        ).json()
        base = f"/api/v1/events/{event['id']}"
        gates, points = [], []
        for z in range(ZONES):
            zone = (await http.post(f"{base}/zones", json={"name": f"Hall {z}"})).json()
            gate = (
                await http.post(f"{base}/gates", json={"name": f"Door {z}", "to_zone": zone["id"]})
            ).json()
            gates.append((gate["id"], zone["id"]))
        for p in range(POINTS):
            zone_id = gates[p % ZONES][1]
            point = (
                await http.post(f"{base}/muster-points", json={"name": f"P{p}", "zones": [zone_id]})
            ).json()
            points.append(point["id"])
        await fill(dsn, event["id"], gates, args.people)

        conn = await asyncpg.connect(dsn)
        try:
            t = time.perf_counter()
            bare_rows = await conn.fetch(LAST_SCANS, event["id"], datetime.now(UTC))
            bare_freeze = time.perf_counter() - t
            t = time.perf_counter()
            started = (await http.post(f"{base}/evacuations", json={"kind": "drill"})).json()
            freeze = time.perf_counter() - t
            evac = f"/api/v1/evacuations/{started['id']}"
            missing_times, bare_missing = [], []
            missing_cpu = 0.0  # the server's CPU seconds while it answered
            for _ in range(args.rounds):
                cpu, t = cpu_seconds(pid), time.perf_counter()
                answer = await http.get(f"{evac}/missing")
                missing_times.append(time.perf_counter() - t)
                missing_cpu += cpu_seconds(pid) - cpu
                found = answer.json()  # parsed outside the timing: the client's cost
                t = time.perf_counter()
                await conn.fetch(
                    "SELECT p.id, p.ticket_id, p.staff_id, p.name, p.zone_id, p.last_gate_id,"
                    " p.last_seen_at, p.reason, t.holder_email FROM evacuation_people p"
                    " LEFT JOIN tickets t ON t.id = p.ticket_id"
                    " WHERE p.evacuation_id = $1 AND p.status = 'missing' ORDER BY p.name",
                    started["id"],
                )
                bare_missing.append(time.perf_counter() - t)
        finally:
            await conn.close()
        assert found["count"] == args.people == len(bare_rows), (found["count"], len(bare_rows))
        print(
            f"people inside {args.people}, points {POINTS}, phones {args.phones} in"
            f" {args.phone_processes} process(es) (PostgreSQL, muster serve in its own process)"
        )
        print(
            f"freeze the roll: {freeze * 1000:.0f} ms   bare windowed read of the same rows: {bare_freeze * 1000:.0f} ms"
        )
        median_missing = sorted(missing_times)[len(missing_times) // 2]
        median_bare = sorted(bare_missing)[len(bare_missing) // 2]
        print(
            f"missing list of {found['count']}: median {median_missing * 1000:.0f} ms"
            f" (max {max(missing_times) * 1000:.0f})   bare select: {median_bare * 1000:.0f} ms"
            f"   ratio {median_missing / median_bare:.1f};"
            f" server CPU {missing_cpu / args.rounds * 1000:.0f} ms an answer"
        )

        people = [p["id"] for p in (await http.get(f"{evac}/people")).json()["people"]]
        wanted = min(args.accounts, args.people)
        seen: list[tuple[float, int]] = []
        first_seen = asyncio.Event()
        ws_url = f"ws://{host}/ws/events/{event['id']}"
        async with connect(ws_url, max_size=None) as ws:
            await ws.send(
                orjson.dumps({"type": "hello", "token": token, "topics": ["evacuation"]}).decode()
            )

            async def watch() -> None:
                async for raw in ws:
                    message = orjson.loads(raw)
                    if message.get("type") == "ping":
                        await ws.send(
                            orjson.dumps({"type": "pong", "t": message.get("t")}).decode()
                        )
                    if message.get("topic") != "evacuation":
                        continue
                    first_seen.set()
                    if message["data"].get("active"):
                        accounted = message["data"]["evacuation"]["accounted"]
                        seen.append((time.monotonic(), accounted))
                        if accounted >= wanted:
                            return

            watcher = asyncio.create_task(watch())
            await asyncio.wait_for(first_seen.wait(), 120)
            shares = [people[:wanted][i :: args.phones] for i in range(args.phones)]
            phone_points = [points[i % POINTS] for i in range(args.phones)]
            n = args.phone_processes
            loop = asyncio.get_running_loop()
            cpu = cpu_seconds(pid)
            with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
                runs = await asyncio.wait_for(
                    asyncio.gather(
                        *(
                            loop.run_in_executor(
                                pool,
                                drive_phones,
                                f"http://{host}",
                                token,
                                evac,
                                shares[i::n],
                                phone_points[i::n],
                                args.batch,
                                args.interval,
                            )
                            for i in range(n)
                        )
                    ),
                    600,
                )
            server_cpu = cpu_seconds(pid) - cpu
            await asyncio.wait_for(watcher, 60)
        answered = sorted(at for times, _took in runs for at in times)
        took = max(took for _times, took in runs)
        latencies = []
        for k, at in enumerate(answered, start=1):
            visible = next(ts for ts, count in seen if count >= k)
            latencies.append(max(0.0, visible - at))
        print(
            f"accounting {len(answered)} people: {took:.1f} s, {len(answered) / took:.0f} accounts/s,"
            f" server CPU {server_cpu / len(answered) * 1000:.2f} ms an account;"
            f" visible on the command centre p50 {percentile(latencies, 0.5) * 1000:.0f} ms,"
            f" p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
            f" ({len(seen)} updates; batches of {args.batch}, interval {args.interval} s)"
        )
        print(f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--phones", type=int, default=40)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--accounts", type=int, default=4000, help="people accounted (of --people)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--phone-processes", type=int, default=1, help="processes the phones are spread over"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds each phone waits between its sends (0: flat out)",
    )
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
