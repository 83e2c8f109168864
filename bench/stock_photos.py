"""Benchmark: stock movements under concurrent phones; photo re-encoding.

Stock: ``--phones`` concurrent clients post movements through the real HTTP
endpoint (in process, httpx's ASGI transport) into a scratch database
(PostgreSQL, created and dropped here, and SQLite), for ``--seconds``
each, in two shapes: every phone on ONE item (the worst case: they queue on
its row lock) and each phone on its own item (the baseline: no contention).
Afterwards the ledger is checked against the quantities on hand.

Photos: re-encoding a 12-megapixel phone JPEG and a 12-megapixel PNG to the
stored JPEG (``MUSTER_PHOTO_MAX_SIDE`` 1600), median of a few runs.

    .venv/bin/python -m bench.stock_photos [--phones 16] [--seconds 3] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import func, select
from starlette.datastructures import Secret

from bench.common import organiser_with_event, scratch_database, sqlalchemy_url
from server.features.photos import reencode_photo
from server.migrate import upgrade
from server.models import StockItem, StockMovement
from server.settings import load_settings


async def run_phones(
    http: httpx.AsyncClient, path: str, items: list[int], seconds: float
) -> tuple[int, list[float]]:
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def phone(item_id: int) -> None:
        while time.perf_counter() < deadline:
            body = {"kind": "issue", "item": item_id, "quantity": 1, "nonce": uuid.uuid4().hex}
            started = time.perf_counter()
            response = await http.post(path, json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 201, response.text

    await asyncio.wait_for(asyncio.gather(*(phone(i) for i in items)), timeout=seconds + 30)
    return len(latencies), latencies


async def bench_stock(url: str, phones: int, seconds: float) -> list[str]:
    settings = replace(
        load_settings({}),
        database_url=Secret(url),
        escalation_check_interval=0,
        token_cache_seconds=60,
    )
    await upgrade(url)
    lines = []
    async with organiser_with_event(settings, request_timeout=30) as (http, event, ctx):
        items_path = f"/api/v1/events/{event['id']}/stock/items"
        path = f"/api/v1/events/{event['id']}/stock/movements"
        made = []
        for n in range(phones + 1):
            answer = await http.post(
                items_path,
                json={"name": f"item {n}", "quantity": 10_000_000, "low_threshold": 10},
            )
            made.append(answer.json()["id"])
        for shape, items in (("one item", [made[0]] * phones), ("own items", made[1:])):
            started = time.perf_counter()
            count, latencies = await run_phones(http, path, items, seconds)
            elapsed = time.perf_counter() - started
            q = statistics.quantiles(latencies, n=100)
            lines.append(
                f"  {shape:9}: {count / elapsed:7.0f} movements/s, "
                f"p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms ({count} movements)"
            )
        async with ctx.db.reading() as session:
            on_hand = await session.scalar(select(func.sum(StockItem.quantity)))
            ledger = await session.scalar(select(func.sum(StockMovement.delta)))
        assert on_hand == ledger, (on_hand, ledger)
        lines.append(f"  ledger check: quantities on hand == sum of the ledger ({ledger})")
    return lines


def photo_bytes(fmt: str) -> bytes:
    # Noise compresses like a real photo (a flat image would flatter the codec).
    image = Image.effect_noise((4000, 3000), 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, format=fmt, quality=90) if fmt == "JPEG" else image.save(out, format=fmt)
    return out.getvalue()


def bench_photos(runs: int = 5) -> list[str]:
    lines = []
    for fmt in ("JPEG", "PNG"):
        raw = photo_bytes(fmt)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            stored = reencode_photo(raw, max_bytes=len(raw), max_pixels=40_000_000, max_side=1600)
            times.append((time.perf_counter() - started) * 1000)
        lines.append(
            f"  12 MP {fmt:4} ({len(raw) / 1e6:.1f} MB) -> {stored.width}x{stored.height} JPEG "
            f"{len(stored.data) / 1e3:.0f} kB: median {statistics.median(times):.0f} ms"
        )
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(
        f"$ {sys.executable} -m bench.stock_photos --phones {args.phones} --seconds {args.seconds}"
    )
    print(f"stock movements, {args.phones} concurrent phones, {args.seconds:g} s per shape")
    async with scratch_database(args.pg) as dsn:
        print("PostgreSQL:")
        print("\n".join(await bench_stock(sqlalchemy_url(dsn), args.phones, args.seconds)))
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite:")
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        print("\n".join(await bench_stock(url, args.phones, args.seconds)))
    print("photo re-encode (in one thread):")
    print("\n".join(bench_photos()))


if __name__ == "__main__":
    asyncio.run(main())
