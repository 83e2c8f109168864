"""A door phone joining a big event: the admitted set it is sent, how soon it
is current, and what the server holds per socket while phones join at once.

One ``muster serve`` on a scratch PostgreSQL database; an event of
``--issued`` tickets of which ``--admitted`` (a random part, so the ids have
holes) are in one of three halls or left after entering. Then:

- **one phone**: a door socket says hello for ``admissions``; timed from the
  connect to the snapshot decoded (``checkin.admitted.decode_admitted``; with
  Chromium at hand, also ``pwa/app/admitted.js`` in the browser, as the
  phone decodes it). Its size is the frame's bytes. Baseline, same rows,
  same run: the shape sent before (a JSON object per ticket, what
  ``checkin.topics.admissions_snapshot`` answered), and a bare asyncpg
  read of those rows (the least a snapshot costs).
- **a reconnect storm**: ``--storm`` door sockets join at once (a Wi-Fi drop
  ending), on this event and on a small one (``--small`` admitted): the
  server's RSS growth per socket, with every socket holding its snapshot,
  and when the last one had it. Per-socket memory must not follow the
  event's size.

``.venv/bin/python -m bench.admissions`` (defaults: 110,000 issued, 100,000
admitted, storm of 300).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.common import bundle_parts, percentile, scratch_database, sqlalchemy_url
from bench.fanout import PG, Server, make_venue, rss_kb, start_muster, stop
from checkin.admitted import decode_admitted

GOAL_BYTES = 64 * 1024
GOAL_SECONDS = 1.0
#: Past ``realtime.priming.SHARED_SNAPSHOT_SECONDS``: the next phone reads afresh.
SHARED_SECONDS = 2.5


async def admit(dsn: str, event_id: int, tickets: list[int], count: int, zones: list[int]) -> None:
    """Put ``count`` random tickets where a day leaves them: most in the first
    hall, some in the others, some outside after leaving."""
    rng = random.Random(19)
    chosen = rng.sample(tickets, count)
    weights = [0.7, 0.15, 0.1]
    groups: dict[int | None, list[int]] = {z: [] for z in zones}
    groups[None] = []
    for t in chosen:
        roll = rng.random()
        place: int | None = None
        for zone_id, weight in zip(zones, weights, strict=False):
            if roll < weight:
                place = zone_id
                break
            roll -= weight
        groups[place].append(t)
    conn = await asyncpg.connect(dsn)
    try:
        for zone, ids in groups.items():
            await conn.execute(
                "UPDATE tickets SET zone_id = $1, checked_in_at = now() WHERE id = ANY($2::bigint[])",
                zone,
                ids,
            )
    finally:
        await conn.close()


async def add_zones(server: Server, event_id: int, count: int) -> list[int]:
    import httpx

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {server.token}"}
        zones = []
        for n in range(count):
            answer = await http.post(
                f"/api/v1/events/{event_id}/zones", json={"name": f"Hall {n + 2}"}, headers=headers
            )
            zones.append(answer.json()["id"])
        return zones


async def door_token(dsn: str, event_id: int, gate_id: int) -> str:
    from server.auth import create_account
    from server.db import Database

    db = Database(sqlalchemy_url(dsn))
    try:
        _account, token = await create_account(db, "door", event_id=event_id, gate_id=gate_id)
        return token
    finally:
        await db.dispose()


async def join(server: Server, event_id: int, token: str) -> tuple[float, bytes, ClientConnection]:
    """Connect and say hello; (seconds to the admissions snapshot, its frame, the socket)."""
    url = server.url.replace("http://", "ws://") + f"/ws/events/{event_id}"
    started = time.perf_counter()
    ws = await connect(url, max_size=None, compression=None, ping_interval=None)
    await ws.send(
        orjson.dumps({"type": "hello", "token": token, "topics": ["admissions"]}).decode()
    )
    while True:
        frame = await ws.recv()
        raw = frame.encode() if isinstance(frame, str) else frame
        if b'"topic":"admissions"' in raw[:200]:
            return time.perf_counter() - started, raw, ws


async def one_phone(server: Server, event_id: int, token: str) -> dict[str, Any]:
    seconds, raw, ws = await join(server, event_id, token)
    started = time.perf_counter()
    message = orjson.loads(raw)
    tickets = decode_admitted(message["data"])
    decoded = time.perf_counter() - started
    await ws.close()
    return {
        "bytes": len(raw),
        "received_s": seconds,
        "decode_s": decoded,
        "count": len(tickets),
        "data": message["data"],
        "tickets": tickets,
    }


def old_shape_bytes(tickets: list[Any], message: dict[str, Any]) -> int:
    """The snapshot frame as it was sent before: a JSON object per ticket."""
    data = {
        "tickets": [
            {"ticket": t.ticket, "generation": t.generation, "zone": t.zone}
            for t in tickets
            if t.checked_in
        ]
    }
    head = {k: message.get(k) for k in ("type", "topic", "epoch", "offset", "reason")}
    return len(orjson.dumps({**head, "data": data}))


async def bare_read(dsn: str, event_id: int) -> float:
    """A bare read of the admitted rows (median of 3)."""
    conn = await asyncpg.connect(dsn)
    times = []
    try:
        for _ in range(3):
            started = time.perf_counter()
            await conn.fetch(
                "SELECT id, zone_id, checked_in_at, generation FROM tickets"
                " WHERE event_id = $1 AND (zone_id IS NOT NULL OR checked_in_at IS NOT NULL)",
                event_id,
            )
            times.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return sorted(times)[1]


CHROMIUM = os.environ.get("MUSTER_CHROMIUM", "/usr/bin/chromium")


async def chromium_decode(server: Server, data: dict[str, Any], chromium: bool) -> float | None:
    """Milliseconds for pwa/app/admitted.js to decode ``data`` in Chromium (median of 5)."""
    if not chromium:
        return None
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page()
        await page.goto(f"{server.url}/shared/base.css")
        found = await page.evaluate(
            """async (data) => {
              const { AdmittedSet } = await import("/app/admitted.js");
              const times = [];
              for (let i = 0; i < 5; i++) {
                const started = performance.now();
                const set = new AdmittedSet(data);
                set.get(set.ids[set.count >> 1]);
                times.push(performance.now() - started);
              }
              return times.sort((a, b) => a - b)[2];
            }""",
            data,
        )
        await browser.close()
        return float(found)


async def full_bundle(server: Server, event_id: int, token: str) -> None:
    """The full offline bundle's size, part by part (``--bundle``)."""
    import httpx

    async with httpx.AsyncClient(base_url=server.url, timeout=600) as http:
        started = time.perf_counter()
        answer = await http.get(
            f"/api/v1/events/{event_id}/offline-bundle",
            headers={"Authorization": f"Bearer {token}"},
        )
        seconds = time.perf_counter() - started
    print(
        f"  full offline bundle {len(answer.content) / 1024:.0f} KB in {seconds * 1000:.0f} ms"
        f" ({bundle_parts(answer.json())})"
    )


async def storm(server: Server, event_id: int, token: str, sockets: int) -> dict[str, Any]:
    """``sockets`` phones join at once, twice (a Wi-Fi drop, then another);
    the second round's RSS growth per socket while they all hold their socket.

    Each round starts with one phone that makes the snapshot read (its rows
    are a few MB for a moment, which the allocator keeps), and RSS is taken
    after it: the growth is what the sockets add, not what a read costs.
    """
    pid = server.process.pid
    for _round in range(2):
        await asyncio.sleep(SHARED_SECONDS)  # the round reads afresh
        _t, _raw, primer = await join(server, event_id, token)
        before = rss_kb(pid)
        started = time.perf_counter()
        joined = await asyncio.gather(*(join(server, event_id, token) for _ in range(sockets)))
        last = time.perf_counter() - started
        await asyncio.sleep(0.5)
        after = rss_kb(pid)
        times = [j[0] for j in joined]
        for _t, _raw, ws in [*joined, (0.0, b"", primer)]:
            await ws.close()
    return {
        "sockets": sockets,
        "kb_per_socket": (after - before) / sockets,
        "p50_s": percentile(times, 0.5),
        "p99_s": percentile(times, 0.99),
        "all_s": last,
        "bytes": len(joined[0][1]),
    }


async def run(args: argparse.Namespace) -> None:
    async with scratch_database(PG) as dsn:
        with tempfile.TemporaryDirectory() as data_dir:
            server = start_muster(sqlalchemy_url(dsn), Path(data_dir))
            try:
                await bench(server, dsn, args)
            finally:
                stop([server])


async def bench(server: Server, dsn: str, args: argparse.Namespace) -> None:
    big = await make_venue(server, dsn, args.issued)
    zones = [big.zone_id, *await add_zones(server, big.event_id, 2)]
    await admit(dsn, big.event_id, big.tickets, args.admitted, zones)
    small = await make_venue(server, dsn, args.small)
    await admit(dsn, small.event_id, small.tickets, args.small, [small.zone_id])
    big_token = await door_token(dsn, big.event_id, big.gate_id)
    small_token = await door_token(dsn, small.event_id, small.gate_id)

    await one_phone(server, big.event_id, big_token)  # warm: the history loads once
    await asyncio.sleep(SHARED_SECONDS)
    phone = await one_phone(server, big.event_id, big_token)
    old = old_shape_bytes(phone["tickets"], {"type": "snapshot", "topic": "admissions"})
    bare = await bare_read(dsn, big.event_id)
    in_chromium = await chromium_decode(server, phone["data"], args.chromium)
    print(f"one phone joining, {phone['count']:,} admitted of {args.issued:,} issued:")
    print(
        f"  admissions snapshot {phone['bytes'] / 1024:.1f} KB; the old shape (a JSON object"
        f" per ticket) {old / 1024:.0f} KB for the same rows: {old / phone['bytes']:.0f}x less"
        f" (goal <= {GOAL_BYTES // 1024} KB)"
    )
    # Current: received and decoded as the phone decodes it (Chromium), else in Python.
    decode_ms = phone["decode_s"] * 1000 if in_chromium is None else in_chromium
    where = "Python" if in_chromium is None else "Chromium, pwa/app/admitted.js"
    print(
        f"  connect to snapshot received {phone['received_s'] * 1000:.0f} ms, decoded ({where})"
        f" {decode_ms:.1f} ms (Python: {phone['decode_s'] * 1000:.0f} ms); current in"
        f" {phone['received_s'] * 1000 + decode_ms:.0f} ms (goal <= {GOAL_SECONDS * 1000:.0f} ms)"
    )
    print(f"  bare asyncpg read of the same rows {bare * 1000:.0f} ms")
    if args.bundle:
        await full_bundle(server, big.event_id, big_token)
    print(f"reconnect storm, {args.storm} door sockets at once (second round):")
    for label, venue, token in (
        (f"{phone['count']:,} admitted", big, big_token),
        (f"{args.small:,} admitted", small, small_token),
    ):
        found = await storm(server, venue.event_id, token, args.storm)
        print(
            f"  {label:>16}: snapshot {found['bytes'] / 1024:.1f} KB; joined p50"
            f" {found['p50_s'] * 1000:.0f} ms, p99 {found['p99_s'] * 1000:.0f} ms, all in"
            f" {found['all_s'] * 1000:.0f} ms; server RSS +{found['kb_per_socket']:.1f} KB a socket"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issued", type=int, default=110_000)
    parser.add_argument("--admitted", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000, help="admitted at the small event")
    parser.add_argument("--storm", type=int, default=300, help="sockets joining at once")
    parser.add_argument(
        "--bundle", action="store_true", help="also the full offline bundle's size, part by part"
    )
    args = parser.parse_args()
    args.chromium = Path(CHROMIUM).exists()
    print(f"# .venv/bin/python -m bench.admissions {' '.join(sys.argv[1:])}".rstrip())
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
