"""Benchmark: issue 100,000 tickets on PostgreSQL; render one QR PNG.

Goals (issue 2): 100,000 tickets in ≤ 10 s; one QR PNG in ≤ 5 ms.

The import goes through the real HTTP endpoint (a CSV upload, in process
through httpx's ASGI transport) into a scratch PostgreSQL database that is
created and dropped here. Baseline in the same run: the same 100,000 rows
written by asyncpg's COPY, no signing (the floor for the database part).

    .venv/bin/python -m bench.issue [--tickets 100000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace

import asyncpg
from starlette.datastructures import Secret

from bench.common import organiser_with_event, scratch_database, sqlalchemy_url
from checkin.qr import render_png, render_svg
from checkin.secrets import Signer, TicketClaims, generate_key
from server.migrate import upgrade
from server.settings import load_settings


def time_qr(samples: int = 500) -> tuple[float, float, float]:
    key = generate_key(1)
    signer = Signer(1, key.private)
    secrets = [signer.sign(TicketClaims(1, i, 1, 1, None, None, 1)) for i in range(samples)]
    png_ms, svg_ms = [], []
    for secret in secrets:
        started = time.perf_counter()
        render_png(secret)
        png_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        render_svg(secret)
        svg_ms.append((time.perf_counter() - started) * 1000)
    sign_started = time.perf_counter()
    for i in range(samples):
        signer.sign(TicketClaims(1, i, 1, 1, None, None, 1))
    sign_us = (time.perf_counter() - sign_started) / samples * 1e6
    return statistics.median(png_ms), statistics.median(svg_ms), sign_us


async def time_import(pg: str, count: int) -> tuple[float, float]:
    async with scratch_database(pg) as url:
        sa_url = sqlalchemy_url(url)
        await upgrade(sa_url)
        settings = replace(load_settings({}), database_url=Secret(sa_url))
        csv_body = "holder_name,holder_email\n" + "".join(
            f"嘉宾 {i},guest{i}@example.com\n" for i in range(count)
        )
        async with organiser_with_event(settings) as (http, event, _ctx):
            started = time.perf_counter()
            response = await http.post(
                f"/api/v1/events/{event['id']}/tickets",
                content=csv_body.encode(),
                headers={"Content-Type": "text/csv"},
            )
            muster_s = time.perf_counter() - started
            assert response.status_code == 201, response.text[:500]
            assert response.json()["count"] == count
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "CREATE TABLE copy_baseline (id bigint, holder_name text, holder_email text, secret text)"
            )
            rows = [(i, f"嘉宾 {i}", f"guest{i}@example.com", "X" * 141) for i in range(count)]
            started = time.perf_counter()
            await conn.copy_records_to_table("copy_baseline", records=rows)
            copy_s = time.perf_counter() - started
        finally:
            await conn.close()
        return muster_s, copy_s


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    png_ms, svg_ms, sign_us = time_qr()
    muster_s, copy_s = asyncio.run(time_import(args.pg, args.tickets))
    print(f"command: .venv/bin/python -m bench.issue --tickets {args.tickets}")
    print(
        f"issue {args.tickets} tickets (CSV upload, PostgreSQL): {muster_s:.2f} s "
        f"({args.tickets / muster_s:,.0f} tickets/s; goal ≤ 10 s)"
    )
    print(
        f"baseline: asyncpg COPY of the same rows, unsigned: {copy_s:.2f} s (ratio {copy_s / muster_s:.2f})"
    )
    print(f"Ed25519 sign: {sign_us:.0f} µs per ticket")
    print(f"QR PNG render: {png_ms:.2f} ms median (goal ≤ 5 ms); SVG: {svg_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
