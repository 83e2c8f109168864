"""Fan-out of the live headcount on the embedded SQLite default: N screens
on the one ``muster serve`` process (no ``MUSTER_DATABASE_URL``, as a laptop
runs it) while real doors scan, against a bare uvicorn broadcast to the same
sockets in the same run (issue 19: how many screens one laptop serves).

    .venv/bin/python -m bench.fanout_sqlite                        # 500, 1,000, 2,000 screens
    .venv/bin/python -m bench.fanout_sqlite --sockets 1000 --doors 16 --door-interval 0

It differs from ``bench.fanout`` (PostgreSQL) only where SQLite must: one
process holds the database, so nothing can write scans beside it (its bus is
in memory) and the rush is real doors — door tokens paired over HTTP,
signed tickets, ``--doors`` keep-alive connections in a process of their own
(``bench.fanout_storm.Doors``), each scanning every ``--door-interval``
seconds (0: as fast as the server answers). The scans are of the event the
screens watch, so the admission engine, the writer thread and the fan-out
share the one event loop, as they do on the day.

What it prints: answer-to-screen latency of headcount updates (p50/p99: from
a door's ``200`` for the i-th admission to the first update on a probe
socket that counts i or more), deliveries a second, memory per idle socket
(server RSS growth over the sockets, before the doors start), and the doors'
own p50/p99. The sockets and the bare broadcast are ``bench.fanout``'s
(``bench.fanout_sockets``): the bare server sends one pre-encoded message
of the same size 5 times a second with ``await send`` per socket (latency
from the start of a round), and then back to back. A third baseline, "bare
doors", is that broadcast and ``bench.sqlite``'s bare one-INSERT aiosqlite
scan endpoint in one uvicorn process, the same doors scanning it: the same
work on the one event loop, less Muster. Loopback only; every phase is
bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.checkin import setup_event
from bench.checkin import start_muster as start_muster_process
from bench.checkin import stop as stop_process
from bench.common import free_port
from bench.fanout import (
    BARE_RATE,
    RUSH_TOPICS,
    Server,
    latencies,
    rss_kb,
    run_bare,
    show,
    start_server,
    stop,
    summary,
)
from bench.fanout_sockets import BareBroadcast, Clients, raise_fd_limit
from bench.fanout_storm import Doors, door_figures, pair_doors

#: More scans a second than one process serves on SQLite here (bench.sqlite):
#: tickets issued per second of doors scanning flat out.
RATE_CEILING = 2500
#: The goal this bench answers to (issue 19's fan-out goal, on one laptop).
GOAL_P99_MS = 250.0


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def tickets_needed(doors: int, interval: float, seconds: float) -> int:
    per_second = RATE_CEILING if interval <= 0 else doors / interval
    return int(per_second * (seconds + 10))


def answered_admissions(answers: list[tuple[float, float, int]]) -> list[tuple[float, int]]:
    """[(time the i-th admission was answered, i)], the shape
    ``bench.fanout.latencies`` reads as commits: once a door has its ``200``,
    the server has committed at least that many admissions."""
    done = sorted(started + ms / 1000 for started, ms, status in answers if status == 200)
    return [(at, n) for n, at in enumerate(done, start=1)]


def command_token(api: httpx.Client, event_id: int) -> str:
    """A command-centre screen's token, paired as a big screen gets it."""
    code = api.post(
        f"/api/v1/events/{event_id}/pairing-codes",
        json={"role": "command", "device_name": "screen"},
    )
    code.raise_for_status()
    paired = httpx.post(
        f"{api.base_url}/api/v1/devices/pair", json={"code": code.json()["code"]}, timeout=30
    )
    paired.raise_for_status()
    return str(paired.json()["token"])


async def run_muster(
    sockets: int, doors: int, interval: float, seconds: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One run on a fresh SQLite data folder; its figures and the last headcount."""
    tmp = Path(tempfile.mkdtemp(prefix="muster-fanout-sqlite-"))
    port = free_port()
    process, organiser = start_muster_process(None, port, tmp)
    server = Server(f"http://127.0.0.1:{port}", process, organiser)
    clients: Clients | None = None
    door_process: Doors | None = None
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {organiser}"}, timeout=300
        ) as api:
            wanted = tickets_needed(doors, interval, seconds)
            event_id, gate, secrets = await asyncio.to_thread(setup_event, api, wanted)
            screen = await asyncio.to_thread(command_token, api, event_id)
        tokens = await asyncio.to_thread(pair_doors, server.url, organiser, event_id, gate, doors)
        before = rss_kb(process.pid)
        ws_url = server.url.replace("http://", "ws://") + f"/ws/events/{event_id}"
        clients = Clients([ws_url], screen, sockets, RUSH_TOPICS, max(1, sockets // 2500))
        failures = clients.wait_ready()
        await asyncio.sleep(2)
        after = rss_kb(process.pid)
        clients.go()
        path = f"/api/v1/events/{event_id}/scans"
        door_process = await asyncio.to_thread(Doors, [port], path, tokens, secrets, gate, interval)
        rush_from = time.time()
        await asyncio.sleep(seconds)
        answers = await asyncio.to_thread(door_process.stop)
        door_process = None
        rush_to = time.time()
        await asyncio.sleep(1.0)  # let the last updates arrive
        received, samples, failed, closes = clients.stop()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            last = (
                await http.get(
                    f"/api/v1/events/{event_id}/headcount",
                    headers={"Authorization": f"Bearer {screen}"},
                )
            ).json()
        admissions = answered_admissions(answers)
        figures = summary(
            "muster",
            sockets,
            1,
            latencies(admissions, samples),
            received,
            rush_to - rush_from,  # what arrives in the second after is the last scans' updates
            scans_per_second=len(admissions) / (rush_to - rush_from),
            kb_per_socket=(after - before) / sockets,
            failed_sockets=failures + failed,
            closes=closes,
            doors=door_figures(answers, rush_from, rush_to),
            checked_in=last["checked_in"],
            admitted=len(admissions),
            rss_mb=rss_kb(process.pid) / 1024,
        )
        return figures, last
    finally:
        if door_process is not None:
            door_process.stop()
        if clients is not None:
            clients.join()
        stop_process(process)
        shutil.rmtree(tmp, ignore_errors=True)


# --- the baseline with doors: a bare broadcast and a bare scan endpoint in one process ----


def bare_doors_app(message: Path, db: Path) -> Any:
    """``bench.sqlite``'s bare scan app (``POST /scan``: one INSERT and a commit)
    with ``bench.fanout_sockets.BareBroadcast`` on ``/ws``, one event loop."""
    import orjson
    from starlette.applications import Starlette
    from starlette.routing import Route, WebSocketRoute

    from bench.sqlite import bare_app

    scans = bare_app(db)
    broadcast = BareBroadcast(orjson.loads(message.read_bytes()), BARE_RATE)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        async with scans.router.lifespan_context(scans):
            task = asyncio.create_task(broadcast.broadcast())
            yield
            task.cancel()

    routes = [
        *scans.routes,
        WebSocketRoute("/ws", broadcast),
        Route("/go", broadcast),
        Route("/readyz", broadcast),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def bare_doors_main(port: int, message: Path, db: Path) -> None:
    import uvicorn

    from server.cli import LISTEN_BACKLOG

    app = bare_doors_app(message, db)
    print(f"bare on {port}", flush=True)
    # The options of ``muster serve`` (server/cli.py) and of bench.sqlite's bare server.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        ws_per_message_deflate=False,
        backlog=LISTEN_BACKLOG,
    )


async def run_bare_doors(
    sockets: int, doors: int, interval: float, seconds: float, data: dict[str, Any]
) -> dict[str, Any]:
    """The same sockets and doors on the bare broadcast with a bare scan endpoint."""
    import orjson

    tmp = Path(tempfile.mkdtemp(prefix="muster-fanout-sqlite-bare-"))
    message = tmp / "message.json"
    await asyncio.to_thread(message.write_bytes, orjson.dumps(data))
    port = free_port()
    command = [sys.executable, "-m", "bench.fanout_sqlite", "--bare-server", str(port)]
    command += ["--bare-message", str(message), "--bare-db", str(tmp / "bare.db")]
    server = start_server(command, dict(os.environ), port)
    clients: Clients | None = None
    door_process: Doors | None = None
    try:
        ws_url = server.url.replace("http://", "ws://") + "/ws"
        before = rss_kb(server.process.pid)
        clients = Clients([ws_url], "bare", sockets, RUSH_TOPICS, max(1, sockets // 2500))
        failures = clients.wait_ready()
        await asyncio.sleep(2)
        after = rss_kb(server.process.pid)
        async with httpx.AsyncClient() as http:
            await http.get(f"{server.url}/go")
        clients.go()
        went = time.monotonic()  # the broadcast runs from /go, doors or not
        secrets = [f"BARE{n}" for n in range(tickets_needed(doors, interval, seconds))]
        tokens = ["bare"] * doors
        door_process = await asyncio.to_thread(Doors, [port], "/scan", tokens, secrets, 1, interval)
        rush_from = time.time()
        await asyncio.sleep(seconds)
        answers = await asyncio.to_thread(door_process.stop)
        door_process = None
        rush_to = time.time()
        received, samples, failed, closes = clients.stop()
        figures = summary(
            "bare doors",
            sockets,
            1,
            [at - stamp for _p, _i, at, _n, stamp in samples],
            received,
            time.monotonic() - went,
            scans_per_second=sum(1 for *_x, status in answers if status == 200)
            / (rush_to - rush_from),
            kb_per_socket=(after - before) / sockets,
            failed_sockets=failures + failed,
            closes=closes,
            doors=door_figures(answers, rush_from, rush_to),
            rss_mb=rss_kb(server.process.pid) / 1024,
        )
        return figures
    finally:
        if door_process is not None:
            door_process.stop()
        if clients is not None:
            clients.join()
        stop([server])
        shutil.rmtree(tmp, ignore_errors=True)


def show_doors(r: dict[str, Any]) -> None:
    doors = r["doors"]
    print(
        f"doors     {doors['scans']:6} answers ({doors['per_second']:.0f}/s) p50 {doors['p50_ms']:.1f}"
        f" p99 {doors['p99_ms']:.1f} max {doors['max_ms']:.0f} ms; not 200: {doors['not_200']};"
        + (
            f" headcount checked_in {r['checked_in']} of {r['admitted']} answered 200;"
            if "checked_in" in r
            else ""
        )
        + f" server RSS {r['rss_mb']:.0f} MB (load {load()})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", default="500,1000,2000", help="comma-separated screen counts")
    parser.add_argument("--doors", type=int, default=16, help="doors scanning during the rush")
    parser.add_argument(
        "--door-interval",
        type=float,
        default=0.05,
        help="seconds between one door's scans (0: as fast as the server answers)",
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="how long the doors scan")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare baselines")
    parser.add_argument(
        "--no-bare-doors", action="store_true", help="skip the bare broadcast with doors"
    )
    parser.add_argument("--bare-server", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--bare-message", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bare-db", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_fd_limit()
    if args.bare_server:
        bare_doors_main(args.bare_server, args.bare_message, args.bare_db)
        return
    command = " ".join([".venv/bin/python -m bench.fanout_sqlite", *sys.argv[1:]])
    print(f"# {command}")
    print(f"# {os.cpu_count()} CPUs, load average {load()} at start; SQLite, one process")
    print(
        "server    sockets processes scans/s  p50_ms  p99_ms  deliveries/s  KB/socket"
        "  failed closes"
    )
    for sockets in (int(s) for s in args.sockets.split(",")):
        figures, last = asyncio.run(
            run_muster(sockets, args.doors, args.door_interval, args.seconds)
        )
        show(figures)
        show_doors(figures)
        met = "met" if figures["p99_ms"] <= GOAL_P99_MS else "not met"
        print(f"# {sockets} screens: headcount p99 ≤ {GOAL_P99_MS:.0f} ms {met}", flush=True)
        if args.no_bare:
            continue
        for bare_rate in (BARE_RATE, 0.0):
            show(asyncio.run(run_bare(sockets, 1, bare_rate, args.seconds, last)))
        if not args.no_bare_doors:
            bare = asyncio.run(
                run_bare_doors(sockets, args.doors, args.door_interval, args.seconds, last)
            )
            show(bare)
            show_doors(bare)
        print(f"# load average {load()}", flush=True)
    print(f"# load average {load()} at the end")
    print(f"# reproduce: {command}")


if __name__ == "__main__":
    main()
