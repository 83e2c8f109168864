"""The reconnect storm of ``bench.fanout --storm``: the doors that keep
scanning through it, and the figures of the storm.

The doors are real: door tokens paired over HTTP, signed tickets issued
through the API, each door a keep-alive HTTP/1.1 connection (``bench.checkin``'s
``Door``) posting one scan every ``interval`` seconds to the server
processes in turn, in a process of their own (so the sockets' clients do
not delay them). Every answer is kept with its wall-clock start, so the door
line's latency can be cut into the rush before the storm and the storm itself.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import httpx

from bench.common import percentile

#: A door that waits this long for an answer counts it as failed (status 0).
DOOR_TIMEOUT = 10.0


def doors_main(
    pipe: Pipe, ports: list[int], path: str, tokens: list[str], secrets: list[str], gate: int,
    interval: float,
) -> None:  # fmt: skip
    import uvloop

    uvloop.run(_doors(pipe, ports, path, tokens, secrets, gate, interval))


async def _doors(
    pipe: Pipe, ports: list[int], path: str, tokens: list[str], secrets: list[str], gate: int,
    interval: float,
) -> None:  # fmt: skip
    from bench.checkin import Door, scan_bodies

    loop = asyncio.get_running_loop()
    bodies = scan_bodies(secrets, gate)
    answers: list[tuple[float, float, int]] = []  # (started, ms, status)
    stopping = asyncio.Event()

    async def door_loop(n: int) -> None:
        door = Door(ports[n % len(ports)], path, tokens[n])
        due = time.monotonic() + interval * n / len(tokens)  # doors spread over the interval
        try:
            while not stopping.is_set():
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                due += interval
                body = next(bodies, None)
                if body is None:
                    return
                started, clock = time.time(), time.monotonic()
                try:
                    status, _answer = await asyncio.wait_for(door.post(body), DOOR_TIMEOUT)
                except (OSError, TimeoutError, ValueError, IndexError):
                    status = 0
                    door.close()
                    door = Door(ports[n % len(ports)], path, tokens[n])
                answers.append((started, (time.monotonic() - clock) * 1000, status))
        finally:
            door.close()

    tasks = [asyncio.create_task(door_loop(n)) for n in range(len(tokens))]
    pipe.send("scanning")
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    stopping.set()
    await asyncio.wait(tasks, timeout=DOOR_TIMEOUT + 2)
    pipe.send(answers)


class Doors:
    """The door process: started, then stopped with its answers."""

    def __init__(
        self, ports: list[int], path: str, tokens: list[str], secrets: list[str], gate: int,
        interval: float,
    ) -> None:  # fmt: skip
        context = mp.get_context("spawn")
        self.pipe, theirs = context.Pipe()
        self.process = context.Process(
            target=doors_main, args=(theirs, ports, path, tokens, secrets, gate, interval)
        )
        self.process.start()
        if not self.pipe.poll(60):
            raise RuntimeError("the doors did not start")
        self.pipe.recv()

    def stop(self) -> list[tuple[float, float, int]]:
        self.pipe.send("stop")
        if not self.pipe.poll(DOOR_TIMEOUT + 30):
            raise RuntimeError("the doors did not report")
        answers: list[tuple[float, float, int]] = self.pipe.recv()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
        return answers


def pair_doors(
    base_url: str, organiser_token: str, event_id: int, gate: int, count: int
) -> list[str]:
    """Door tokens as the phones get them: a pairing code each, traded for a token."""
    headers = {"Authorization": f"Bearer {organiser_token}"}
    tokens = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for n in range(count):
            code = http.post(
                f"/api/v1/events/{event_id}/pairing-codes",
                json={"role": "door", "gate": gate, "device_name": f"door {n}"},
                headers=headers,
            )
            code.raise_for_status()
            paired = http.post("/api/v1/devices/pair", json={"code": code.json()["code"]})
            paired.raise_for_status()
            tokens.append(paired.json()["token"])
    return tokens


def door_figures(
    answers: list[tuple[float, float, int]], start: float, end: float
) -> dict[str, Any]:
    """The door line between two wall-clock times: scans, p50/p99 in ms, failures."""
    window = [(ms, status) for at, ms, status in answers if start <= at < end]
    ms = [m for m, _status in window]
    return {
        "scans": len(window),
        "per_second": len(window) / max(end - start, 1e-9),
        "p50_ms": percentile(ms, 0.5) if ms else float("nan"),
        "p99_ms": percentile(ms, 0.99) if ms else float("nan"),
        "max_ms": max(ms) if ms else float("nan"),
        "not_200": sum(1 for _m, status in window if status != 200),
    }


def listen_overflows() -> int:
    """Connections the kernel dropped because a listen queue was full, so far
    (``TcpExt ListenOverflows``: every listening socket of the machine; each
    one costs its client TCP's retries, after 1, 3, 7… s)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:"):
            return int(dict(zip(head.split(), values.split(), strict=True))["ListenOverflows"])
    return 0


def storm_figures(
    accounts: list[dict[str, Any]], sockets: int, overflows: int = 0
) -> dict[str, Any]:
    """The client processes' accounts of one storm, added up."""
    resumed = sorted(after for account in accounts for after in account["resumed"])
    attempts = [n for account in accounts for n in account["attempts"]]
    replays: dict[str, int] = {}
    snapshots: dict[str, int] = {}
    for account in accounts:
        for topic, n in account["replays"].items():
            replays[topic] = replays.get(topic, 0) + n
        for topic, n in account["snapshots"].items():
            snapshots[topic] = snapshots.get(topic, 0) + n
    return {
        "sockets": sockets,
        "dropped_at": min(account["dropped_at"] for account in accounts),
        "resumed": len(resumed),
        "not_resumed": sum(account["not_resumed"] for account in accounts),
        "p50_s": percentile(resumed, 0.5) if resumed else float("nan"),
        "p99_s": percentile(resumed, 0.99) if resumed else float("nan"),
        "all_s": resumed[-1] if len(resumed) == sockets else float("inf"),
        "attempts_max": max(attempts, default=0),
        "attempts_mean": sum(attempts) / max(1, len(attempts)),
        "failed_attempts": sum(account["failed_attempts"] for account in accounts),
        "replays": replays,
        "snapshots": snapshots,
        "replayed": sum(account["replayed"] for account in accounts),
        "closes": sorted({c for account in accounts for c in account["closes"]}),
        "overflows": overflows,
        "stuck": {
            why: sum(account["stuck"].get(why, 0) for account in accounts)
            for why in {why for account in accounts for why in account["stuck"]}
        },
    }


def show_storm(
    storm: dict[str, Any],
    rush: dict[str, Any] | None,
    during: dict[str, Any] | None,
    code: int,
    server: str = "muster",
) -> None:
    def by_topic(counts: dict[str, int]) -> str:
        return ", ".join(f"{topic} {n}" for topic, n in sorted(counts.items())) or "none"

    print(
        f"{server:9} storm: {storm['sockets']} sockets dropped at once (as close {code}), reconnecting"
        f" on live.js's backoff: {storm['resumed']} resumed, {storm['not_resumed']} not;"
        f" drop to current p50 {storm['p50_s']:.2f} s, p99 {storm['p99_s']:.2f} s,"
        f" all {storm['all_s']:.2f} s; attempts mean {storm['attempts_mean']:.2f},"
        f" max {storm['attempts_max']}; failed attempts {storm['failed_attempts']};"
        f" closes {','.join(map(str, storm['closes'])) or '-'}; timed out: {storm['stuck'] or '-'};"
        f" listen-queue overflows {storm['overflows']}",
        flush=True,
    )
    print(
        f"{server:9} storm: replays: {by_topic(storm['replays'])} ({storm['replayed']} messages"
        f" replayed); snapshots: {by_topic(storm['snapshots'])}; server CPU"
        f" {storm.get('cpu_s', 0):.1f} s ({storm.get('cpu_s', 0) * 1000 / max(1, storm['resumed']):.2f}"
        " ms a resumed socket)",
        flush=True,
    )
    for name, doors in (("rush", rush), ("storm", during)):
        if doors is None:
            continue
        label = "doors" if server == "muster" else f"{server} doors"
        print(
            f"{label:9} {name:6} {doors['scans']:6} scans ({doors['per_second']:.0f}/s)"
            f" p50 {doors['p50_ms']:.1f} p99 {doors['p99_ms']:.1f} max {doors['max_ms']:.0f} ms;"
            f" not 200: {doors['not_200']}",
            flush=True,
        )
