"""The doors of ``bench.big_day``: the arrival plan, the phone's offline
decision, and the door processes that follow the plan.

The plan is pure: ``server.demo_day``'s arrival curve (the queue at
opening, the morning wave, the afternoon session, the trickle) drawn for
every ticket from a seed, the day from doors-open to last entry squeezed
into the bench's seconds, each person at a door picked at random.

A door is one keep-alive HTTP/1.1 connection (``bench.checkin.Door``) to
one of the server processes (door ``n`` to process ``n % processes``, as a
load balancer spreads the phones). It scans its people in arrival order,
one request at a time, as soon as the person is there and the previous
answer came (so at the opening rush a queue forms at each door, as it does
at a venue), and retries the same nonce after a network error or a 5xx, as
the phone's outbox does. A door in the Wi-Fi drop sends nothing for its
length but keeps scanning: each scan is decided on the door (the ticket's
signature checked with the event's public keys, then ``checkin.rules.decide``
against what this door admitted: the phone's rule, ``pwa/shared/rules.js``)
and queued with its nonce and scan time; when the network is back the queue
goes to ``POST …/scans/sync`` in batches of at most 5,000 beside the
door's new online scans.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection as Pipe
from typing import Any

import orjson

from checkin.rules import GateMove, TicketState, decide
from checkin.secrets import KeyRing, SecretError
from server.demo_day import DOORS_OPEN, LAST_ENTRY, arrival_times

#: A door that waits this long for an answer retries the nonce.
DOOR_TIMEOUT = 10.0
#: The most scans one sync request takes (docs/api.md).
SYNC_BATCH = 5000
#: Seconds of the capacity run not measured.
WARM_UP = 3.0


def warm_up(seconds: float) -> float:
    """The warm-up of a capacity run of ``seconds``."""
    return min(WARM_UP, seconds)


#: Pause before a door retries a nonce after a 5xx or a network error.
RETRY_PAUSE = 0.05


# --- the plan (pure) -------------------------------------------------------------------


def plan_arrivals(
    tickets: int, doors: int, seconds: float, seed: int = 19
) -> list[list[tuple[float, int]]]:
    """Per door, (seconds after the start, ticket index) in arrival order: the
    demo day's curve for ``tickets`` people, doors-open to last entry in ``seconds``."""
    rng = random.Random(seed)
    squeeze = seconds / (LAST_ENTRY - DOORS_OPEN)
    order = list(range(tickets))
    rng.shuffle(order)  # people do not come in the order their tickets were issued
    plan: list[list[tuple[float, int]]] = [[] for _ in range(doors)]
    for ticket, minute in zip(order, arrival_times(tickets, rng), strict=True):
        plan[rng.randrange(doors)].append(((minute - DOORS_OPEN) * squeeze, ticket))
    return plan


@dataclass
class OfflineDoor:
    """What a door phone decides on its own: the signature, then the one rule
    (``checkin.rules.decide``, as ``pwa/shared/rules.js`` on the phone)
    against the tickets this door has admitted."""

    ring: KeyRing
    move: GateMove
    inside: dict[int, int | None] = field(default_factory=dict)

    def decide(self, secret: str, when: datetime) -> tuple[str, str | None]:
        try:
            claims = self.ring.verify(secret)
        except SecretError as exc:
            return "error", exc.reason
        zone = self.inside.get(claims.ticket_id)
        state = TicketState(
            status="valid",
            generation=claims.generation,
            allowed_zones=None,
            reentry=False,
            valid_from=claims.valid_from,
            valid_until=claims.valid_until,
            zone_id=zone,
            checked_in=claims.ticket_id in self.inside,
        )
        decision = decide(state, claims.generation, self.move, when)
        if decision.ok:
            self.inside[claims.ticket_id] = decision.zone_after
        return ("ok", None) if decision.ok else ("error", decision.reason)


# --- what a door reports ------------------------------------------------------------


@dataclass
class DoorReport:
    """One door's day (wall-clock seconds; latencies in ms)."""

    door: int
    #: Online scans: (answered at, request-to-answer ms, arrival-to-answer ms, admitted).
    answers: list[tuple[float, float, float, bool]] = field(default_factory=list)
    #: Scans decided on the door in the drop, and how many of them it admitted.
    offline: int = 0
    offline_admitted: int = 0
    #: The sync after the drop: started, answered (0: never), the server's counts.
    sync_started: float = 0.0
    sync_done: float = 0.0
    sync_counts: dict[str, int] = field(default_factory=dict)
    #: Answers that were not a 200 (then retried) by status, 0: a network error or timeout.
    retried: dict[int, int] = field(default_factory=dict)
    #: Scans given up at the deadline: sent and never answered, never sent.
    unanswered: int = 0
    unserved: int = 0


# --- the door processes -------------------------------------------------------------


@dataclass
class DoorSetup:
    """What every door process needs to know (sent once at its start)."""

    ports: list[int]
    event_id: int
    #: Per door: its gate, its token.
    gates: list[int]
    tokens: list[str]
    #: The gate's zone (the doors lead from outside into it).
    zone_id: int
    public_keys: dict[int, bytes]


def doors_main(pipe: Pipe, setup: DoorSetup, mine: list[int]) -> None:
    import uvloop

    uvloop.run(_serve(pipe, setup, mine))


async def _serve(pipe: Pipe, setup: DoorSetup, mine: list[int]) -> None:
    loop = asyncio.get_running_loop()
    pipe.send("ready")
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] == "saturate":
            _tag, path, seconds, secrets = command
            pipe.send(await saturate(setup, mine, path, seconds, secrets))
        elif command[0] == "day":
            _tag, start, schedules, dropped, drop_from, drop_to, deadline = command
            doors = [
                FollowingDoor(setup, n, schedules[i], n in dropped, start, (drop_from, drop_to))
                for i, n in enumerate(mine)
            ]
            for door in doors:
                door.deadline = start + deadline
            await asyncio.gather(*(door.run() for door in doors))
            pipe.send([door.report for door in doors])
        else:
            return


def _body(secret: str, gate: int, nonce: str, at: datetime | None = None) -> bytes:
    return orjson.dumps(
        {
            "secret": secret,
            "gate": gate,
            "direction": "in",
            "nonce": nonce,
            "scanned_at": (at or datetime.now(UTC)).isoformat(),
        }
    )


async def saturate(
    setup: DoorSetup, mine: list[int], path: str, seconds: float, secrets: list[str]
) -> tuple[int, list[float], int, float]:
    """Every door scanning back to back for ``seconds`` after a warm-up (the
    same-run baseline and Muster at its capacity): (answers, ms, not 200, seconds)."""
    from bench.checkin import Door

    pending = iter(secrets)
    latencies: list[float] = []
    failed = 0
    # Each door's first request also loads its token (and notes it seen).
    warm_until = time.monotonic() + warm_up(seconds)
    last = warm_until
    stop_at = warm_until + seconds

    async def door_loop(n: int) -> None:
        nonlocal failed, last
        door = Door(setup.ports[n % len(setup.ports)], path, setup.tokens[n])
        try:
            while (started := time.monotonic()) < stop_at:
                secret = next(pending, None)
                if secret is None:
                    return
                status, _answer = await door.post(_body(secret, setup.gates[n], uuid.uuid4().hex))
                if started >= warm_until:
                    last = time.monotonic()
                    latencies.append((last - started) * 1000)
                    failed += status != 200
        finally:
            door.close()

    await asyncio.gather(*(door_loop(n) for n in mine))
    # Over the span answered (shorter when the tickets ran out).
    return len(latencies), latencies, failed, last - warm_until


class FollowingDoor:
    """One door following its people through the day (see the module's doc)."""

    def __init__(
        self,
        setup: DoorSetup,
        n: int,
        schedule: list[tuple[float, str]],
        dropped: bool,
        start: float,
        drop: tuple[float, float],
    ) -> None:
        self.setup = setup
        self.n = n
        self.schedule = schedule
        self.dropped = dropped
        self.start = start
        self.drop_from = start + drop[0]
        self.drop_to = start + drop[1]
        #: When the door gives up (wall clock): the bench stays bounded.
        self.deadline = float("inf")
        self.port = setup.ports[n % len(setup.ports)]
        self.gate = setup.gates[n]
        self.path = f"/api/v1/events/{setup.event_id}/scans"
        self.report = DoorReport(n)
        self.queue: list[dict[str, Any]] = []
        ring = KeyRing(setup.event_id, setup.public_keys)
        self.local = OfflineDoor(ring, GateMove(None, setup.zone_id, "in"))

    def offline(self, at: float) -> bool:
        return self.dropped and self.drop_from <= at < self.drop_to

    async def run(self) -> None:
        from bench.checkin import Door

        door = Door(self.port, self.path, self.setup.tokens[self.n])
        sync: asyncio.Task[None] | None = None
        try:
            for at, (offset, secret) in enumerate(self.schedule):
                if time.time() >= self.deadline:
                    self.report.unserved = len(self.schedule) - at
                    break
                arrived = self.start + offset
                if self.queue and sync is None:
                    # Offline with scans queued: back online at the drop's end
                    # even if nobody is at the door then.
                    await asyncio.sleep(max(0.0, min(arrived, self.drop_to) - time.time()))
                    if time.time() >= self.drop_to:
                        sync = asyncio.create_task(self.sync())
                await asyncio.sleep(max(0.0, arrived - time.time()))
                now = time.time()
                if self.offline(now):
                    self.scan_offline(secret)
                    continue
                door = await self.scan_online(door, secret, arrived)
                if door is None:
                    self.report.unserved = len(self.schedule) - at - 1
                    return
            if self.queue and sync is None:
                await asyncio.sleep(max(0.0, self.drop_to - time.time()))
                sync = asyncio.create_task(self.sync())
            if sync is not None:
                await sync
        finally:
            if door is not None:
                door.close()

    def scan_offline(self, secret: str, nonce: str | None = None) -> None:
        when = datetime.now(UTC)
        status, reason = self.local.decide(secret, when)
        self.report.offline += 1
        self.report.offline_admitted += status == "ok"
        self.queue.append(
            {
                "secret": secret,
                "gate": self.gate,
                "direction": "in",
                "nonce": nonce or f"day-{uuid.uuid4().hex}",
                "scanned_at": when.isoformat(),
                "local_status": status,
                "local_reason": reason,
            }
        )

    async def scan_online(self, door: Any, secret: str, arrived: float) -> Any:
        """One scan, the same nonce until a 200; the door (a new one after an
        error), or None when the deadline came first."""
        from bench.checkin import Door

        nonce = f"day-{uuid.uuid4().hex}"
        body = _body(secret, self.gate, nonce)
        while True:
            sent = time.monotonic()
            budget = DOOR_TIMEOUT
            if self.dropped and time.time() < self.drop_from:
                budget = min(budget, self.drop_from - time.time() + 0.001)
            try:
                status, answer = await asyncio.wait_for(door.post(body), budget)
            except (OSError, TimeoutError, ValueError, IndexError):
                status, answer = 0, b""
                door.close()
                door = Door(self.port, self.path, self.setup.tokens[self.n])
                if self.offline(time.time()):
                    # The Wi-Fi went with the request: the door decides and
                    # queues it with the same nonce (a repeat if it arrived).
                    self.scan_offline(secret, nonce)
                    return door
            if status == 200:
                now = time.time()
                self.report.answers.append(
                    (
                        now,
                        (time.monotonic() - sent) * 1000,
                        (now - arrived) * 1000,
                        orjson.loads(answer)["status"] == "ok",
                    )
                )
                return door
            self.report.retried[status] = self.report.retried.get(status, 0) + 1
            if time.time() >= self.deadline:
                self.report.unanswered += 1
                door.close()
                return None
            await asyncio.sleep(RETRY_PAUSE)

    async def sync(self) -> None:
        """The queue to the server, in batches, each retried until answered."""
        from bench.checkin import Door

        path = f"/api/v1/events/{self.setup.event_id}/scans/sync"
        door = Door(self.port, path, self.setup.tokens[self.n])
        self.report.sync_started = time.time()
        counts: dict[str, int] = {}
        try:
            for at in range(0, len(self.queue), SYNC_BATCH):
                body = orjson.dumps({"scans": self.queue[at : at + SYNC_BATCH]})
                while True:
                    try:
                        status, answer = await asyncio.wait_for(door.post(body), 120)
                    except (OSError, TimeoutError, ValueError, IndexError):
                        status, answer = 0, b""
                        door.close()
                        door = Door(self.port, path, self.setup.tokens[self.n])
                    if status == 200:
                        synced = orjson.loads(answer)
                        for key, value in synced["counts"].items():
                            counts[key] = counts.get(key, 0) + value
                        # Admitted, repeats of an admission that reached the server included.
                        admitted = sum(1 for r in synced["results"] if r["status"] == "ok")
                        counts["admitted"] = counts.get("admitted", 0) + admitted
                        break
                    self.report.retried[status] = self.report.retried.get(status, 0) + 1
                    if time.time() >= self.deadline:
                        return
                    await asyncio.sleep(RETRY_PAUSE)
            self.queue.clear()
            self.report.sync_done = time.time()
            self.report.sync_counts = counts
        finally:
            door.close()


class DoorProcesses:
    """``processes`` door processes sharing the doors (door ``n`` in process ``n % processes``)."""

    def __init__(self, setup: DoorSetup, processes: int) -> None:
        context = mp.get_context("spawn")
        doors = len(setup.tokens)
        self.mine = [list(range(p, doors, processes)) for p in range(processes)]
        self.pipes: list[Pipe] = []
        self.processes: list[Any] = []
        for mine in self.mine:
            ours, theirs = context.Pipe()
            proc = context.Process(target=doors_main, args=(theirs, setup, mine))
            proc.start()
            self.pipes.append(ours)
            self.processes.append(proc)
        for pipe in self.pipes:
            if not pipe.poll(60):
                raise RuntimeError("the door processes did not start")
            pipe.recv()

    def _gather(self, timeout: float) -> list[Any]:
        answers = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise RuntimeError("the door processes did not report")
            answers.append(pipe.recv())
        return answers

    def saturate(
        self, path: str, seconds: float, secrets: list[str]
    ) -> tuple[int, list[float], int, float]:
        """All doors back to back for ``seconds`` (each process its share of ``secrets``)."""
        share = len(secrets) // len(self.pipes)
        for i, pipe in enumerate(self.pipes):
            pipe.send(("saturate", path, seconds, secrets[i * share : (i + 1) * share]))
        count, latencies, failed, span = 0, [], 0, 0.0
        for n, ms, bad, took in self._gather(seconds + 60):
            count, failed, span = count + n, failed + bad, max(span, took)
            latencies += ms
        return count, latencies, failed, span

    def day(
        self,
        start: float,
        schedules: list[list[tuple[float, str]]],
        dropped: set[int],
        drop: tuple[float, float],
        deadline: float,
    ) -> list[DoorReport]:
        """The day; every door gives up ``deadline`` seconds after ``start``."""
        for mine, pipe in zip(self.mine, self.pipes, strict=True):
            pipe.send(("day", start, [schedules[n] for n in mine], dropped, *drop, deadline))
        timeout = start + deadline - time.time() + DOOR_TIMEOUT + 60
        return sorted((r for rs in self._gather(timeout) for r in rs), key=lambda r: r.door)

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("exit",))
            except (OSError, ValueError):
                pass
        for proc in self.processes:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
