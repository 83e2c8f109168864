"""Benchmark: an evacuation roll-call of 20,000 people on PostgreSQL.

One ``muster`` app under uvicorn on loopback, a scratch database with
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
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import uvicorn
from starlette.datastructures import Secret
from websockets.asyncio.client import connect

from bench.common import free_port, percentile, scratch_database, sqlalchemy_url
from server.app import create_app
from server.auth import create_account
from server.migrate import upgrade
from server.settings import load_settings

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
            columns=[
                "event_id",
                "ticket_id",
                "gate_id",
                "direction",
                "nonce",
                "scanned_at",
                "received_at",
                "status",
                "from_zone_id",
                "to_zone_id",
                "offline",
                "response",
            ],
        )
        await conn.execute("ANALYZE tickets; ANALYZE scans")
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> None:
    async with scratch_database() as dsn:
        url = sqlalchemy_url(dsn)
        await upgrade(url)
        settings = replace(
            load_settings({}),
            database_url=Secret(url),
            escalation_check_interval=0,
            token_cache_seconds=60,
        )
        app = create_app(settings, migrate=False)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                ws_per_message_deflate=False,
                # a loop this loaded (server, 40 phones and the watcher in one
                # process) may not answer a protocol ping in time
                ws_ping_interval=None,
            )
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        try:
            await measure(args, app.state.muster, dsn, f"127.0.0.1:{port}")
        finally:
            server.should_exit = True
            await task


async def measure(args: argparse.Namespace, ctx: Any, dsn: str, host: str) -> None:
    _account, token = await create_account(ctx.db, "organiser", name="bench")
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.phones + 4)
    async with httpx.AsyncClient(
        base_url=f"http://{host}", headers=headers, timeout=120, limits=limits
    ) as http:
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
            for _ in range(args.rounds):
                t = time.perf_counter()
                answer = await http.get(f"{evac}/missing")
                missing_times.append(time.perf_counter() - t)
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
            f"people inside {args.people}, points {POINTS}, phones {args.phones} (PostgreSQL, shared machine)"
        )
        print(
            f"freeze the roll: {freeze * 1000:.0f} ms   bare windowed read of the same rows: {bare_freeze * 1000:.0f} ms"
        )
        print(
            f"missing list of {found['count']}: median {sorted(missing_times)[len(missing_times) // 2] * 1000:.0f} ms"
            f" (max {max(missing_times) * 1000:.0f})   bare select: {sorted(bare_missing)[len(bare_missing) // 2] * 1000:.0f} ms"
        )

        people = (await http.get(f"{evac}/people")).json()["people"]
        answered: list[float] = []
        seen: list[tuple[float, int]] = []
        first_seen = asyncio.Event()
        ws_url = f"ws://{host}/ws/events/{event['id']}"
        async with connect(ws_url, max_size=None, ping_interval=None) as ws:
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
                    if message.get("topic") == "evacuation":
                        first_seen.set()
                    if message.get("topic") == "evacuation" and message["data"].get("active"):
                        seen.append(
                            (time.perf_counter(), message["data"]["evacuation"]["accounted"])
                        )
                        if message["data"]["evacuation"]["accounted"] >= min(
                            args.accounts, args.people
                        ):
                            return

            watcher = asyncio.create_task(watch())
            await asyncio.wait_for(first_seen.wait(), 120)

            async def phone(index: int) -> None:
                mine = people[: args.accounts][index :: args.phones]
                for start in range(0, len(mine), args.batch):
                    batch = [
                        {
                            "nonce": uuid.uuid4().hex,
                            "person": p["id"],
                            "status": "safe",
                            "point": points[index % POINTS],
                        }
                        for p in mine[start : start + args.batch]
                    ]
                    if args.interval and start:
                        await asyncio.sleep(args.interval)
                    answer = await http.post(f"{evac}/accounts", json={"accounts": batch})
                    answer.raise_for_status()
                    done = time.perf_counter()
                    answered.extend([done] * len(batch))

            t = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(phone(i) for i in range(args.phones))), 600)
            took = time.perf_counter() - t
            await asyncio.wait_for(watcher, 60)
        answered.sort()
        latencies = []
        for k, at in enumerate(answered, start=1):
            visible = next(ts for ts, count in seen if count >= k)
            latencies.append(max(0.0, visible - at))
        print(
            f"accounting {len(answered)} people: {took:.1f} s, {len(answered) / took:.0f} accounts/s;"
            f" visible on the command centre p50 {percentile(latencies, 0.5) * 1000:.0f} ms,"
            f" p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
            f" ({len(seen)} updates; batches of {args.batch}, interval {args.interval} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--phones", type=int, default=40)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--accounts", type=int, default=4000, help="people accounted (of --people)")
    parser.add_argument("--rounds", type=int, default=5)
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
