"""The socket side of ``bench.fanout``: cheap websocket clients in their own
processes, and the bare uvicorn broadcast server the hub is compared with.

See ``bench/fanout.py`` for what is measured and how.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing as mp
import resource
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any, cast

import orjson

#: Sockets per client process that parse and stamp every update.
PROBES_PER_PROCESS = 40


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the sockets (in client processes) --------------------------------------------------


def masked_text(text: bytes) -> bytes:
    """A client text frame; the mask key is zero, so the payload goes as is."""
    size = len(text)
    if size < 126:
        head = bytes((0x81, 0x80 | size))
    elif size < 65536:
        head = bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0x80 | 127)) + size.to_bytes(8, "big")
    return head + b"\0\0\0\0" + text


PONG = masked_text(b'{"type":"pong"}')


@dataclass
class Tally:
    """What one client process saw."""

    counting: bool = False
    received: int = 0
    #: Probes: (socket, time received, checked_in, the bare server's stamp or 0).
    samples: list[tuple[int, float, int, float]] = field(default_factory=list)
    failures: int = 0
    closes: list[int] = field(default_factory=list)
    #: After the storm's drop, per topic: resumed by a replay, or by a snapshot.
    replays: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, int] = field(default_factory=dict)
    #: Messages replayed (announced by the replays' ``resume``).
    replayed: int = 0


#: The headcount updates: the only frames a plain socket does not parse.
HEADCOUNT_UPDATE = b'{"type":"update","topic":"headcount"'
#: The state topics (a reconnect gets a snapshot by design: realtime/hub.py).
STATE_TOPICS = ("headcount", "gates", "stock", "evacuation")


class BenchSocket(asyncio.Protocol):
    """One websocket as cheap as a client can be: handshake, hello, split frames.

    Only probe sockets parse the JSON of the headcount updates; every socket
    parses the rest (rare) to keep its stream topics' positions, as
    ``LiveSocket`` does, for the hello of its next connection. Ready once
    every topic has its snapshot, or its replay has arrived.
    """

    def __init__(
        self,
        tally: Tally,
        request: bytes,
        hello: bytes,
        index: int,
        probe: bool,
        topics: tuple[str, ...] = ("headcount",),
        resuming: bool = False,
    ) -> None:
        self.tally = tally
        self.request = request
        self.hello = hello
        self.index = index
        self.probe = probe
        self.resuming = resuming
        self.waiting = set(topics)
        self.replay_left: dict[str, int] = {}
        #: Stream topic -> {"epoch", "offset"} of the last message applied.
        self.positions: dict[str, dict[str, Any]] = {}
        self.buffer = b""
        self.upgraded = False
        self.dropped = False
        self.close_code = 0
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.dropped:
            return
        self.tally.failures += 1
        if not self.ready.done():
            self.ready.set_result(False)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                assert self.transport is not None
                self.transport.close()
                return
            self.upgraded = True
            assert self.transport is not None
            self.transport.write(self.hello)
            buffer = buffer[end + 4 :]
        start, size = 0, len(buffer)
        while size - start >= 2:
            length = buffer[start + 1] & 0x7F
            head = 2
            if length == 126:
                if size - start < 4:
                    break
                length, head = int.from_bytes(buffer[start + 2 : start + 4], "big"), 4
            elif length == 127:
                if size - start < 10:
                    break
                length, head = int.from_bytes(buffer[start + 2 : start + 10], "big"), 10
            end = start + head + length
            if end > size:
                break
            self.frame(buffer[start] & 0x0F, buffer[start + head : end])
            start = end
        self.buffer = buffer[start:]

    def frame(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if opcode == 0x9:  # a protocol ping from uvicorn
            self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
            return
        if opcode == 0x8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close_code = code
            self.tally.closes.append(code)
            self.transport.close()
            return
        if opcode != 0x1:
            return
        tally = self.tally
        if payload.startswith(HEADCOUNT_UPDATE):
            if tally.counting and not self.waiting:
                tally.received += 1
                if self.probe:
                    message = orjson.loads(payload)
                    stamp = float(message.get("t", 0.0))
                    tally.samples.append(
                        (self.index, time.time(), message["data"]["checked_in"], stamp)
                    )
            return
        if payload.startswith(b'{"type":"ping"'):
            self.transport.write(PONG)
            return
        message = orjson.loads(payload)
        kind, topic = message.get("type"), message.get("topic")
        if kind in ("snapshot", "update") and topic not in STATE_TOPICS and "epoch" in message:
            self.positions[topic] = {"epoch": message["epoch"], "offset": message["offset"]}
        if topic in self.waiting:
            if kind in ("snapshot", "error"):
                self._primed(topic, self.tally.snapshots)
            elif kind == "resume":
                tally.replayed += message["count"]
                if message["count"]:
                    self.replay_left[topic] = message["count"]
                else:
                    self._primed(topic, self.tally.replays)
            elif kind == "update" and topic in self.replay_left:
                self.replay_left[topic] -= 1
                if not self.replay_left[topic]:
                    self._primed(topic, self.tally.replays)
        elif kind == "update" and tally.counting:
            tally.received += 1

    def _primed(self, topic: str, counter: dict[str, int]) -> None:
        self.waiting.discard(topic)
        if self.resuming:
            counter[topic] = counter.get(topic, 0) + 1
        if not self.waiting and not self.ready.done():
            self.ready.set_result(True)


def client_main(
    pipe: Pipe, url: str, token: str, sockets: int, probes: int, topics: tuple[str, ...]
) -> None:
    raise_fd_limit()
    import uvloop

    uvloop.run(_clients(pipe, url, token, sockets, probes, topics))


def _hello(token: str, topics: tuple[str, ...], since: dict[str, Any] | None = None) -> bytes:
    hello: dict[str, Any] = {"type": "hello", "token": token, "topics": list(topics)}
    if since:
        hello["since"] = since
    return masked_text(orjson.dumps(hello))


async def _clients(
    pipe: Pipe, url: str, token: str, sockets: int, probes: int, topics: tuple[str, ...]
) -> None:
    loop = asyncio.get_running_loop()
    host, _, rest = url.removeprefix("ws://").partition("/")
    address, _, port = host.partition(":")
    request = (
        f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    hello = _hello(token, topics)
    tally = Tally()
    every = max(1, sockets // max(1, probes))
    held: list[BenchSocket] = []
    for start in range(0, sockets, 250):  # connect in bounded waves
        wave = []
        for index in range(start, min(sockets, start + 250)):
            probe = index % every == 0
            factory = functools.partial(BenchSocket, tally, request, hello, index, probe, topics)
            _transport, proto = await loop.create_connection(factory, address, int(port))
            wave.append(proto)
        await asyncio.wait_for(asyncio.gather(*(s.ready for s in wave)), 120)
        held += wave
    pipe.send(("ready", tally.failures))
    assert await loop.run_in_executor(None, pipe.recv) == "go"
    tally.counting = True
    assert await loop.run_in_executor(None, pipe.recv) == "stop"
    tally.counting = False
    pipe.send(("done", tally.received, tally.samples, tally.failures, tally.closes))
    command = await loop.run_in_executor(None, pipe.recv)
    if command[0] == "storm":
        _tag, code, limit = command
        storm = Storm(tally, request, token, topics, address, int(port), code, limit)
        pipe.send(("stormed", await storm.run(held)))
        held = storm.held
        await loop.run_in_executor(None, pipe.recv)  # "close"
    for sock in held:
        if sock.transport is not None:
            sock.transport.close()
    await asyncio.sleep(0.5)


class Storm:
    """Every socket dropped at once (as a Wi-Fi outage drops them: no close
    frame, the page sees 1006), then each reconnecting on the schedule of
    ``pwa/shared/live.js`` (``bench.live_backoff``) with the positions it
    had, until it is current again or ``limit`` seconds have passed."""

    def __init__(
        self,
        tally: Tally,
        request: bytes,
        token: str,
        topics: tuple[str, ...],
        address: str,
        port: int,
        code: int,
        limit: float,
    ) -> None:
        self.tally = tally
        self.request = request
        self.token = token
        self.topics = topics
        self.address = address
        self.port = port
        self.code = code
        self.limit = limit
        self.held: list[BenchSocket] = []
        #: Why the attempts that timed out were not current: the topics still
        #: awaited, or "not upgraded".
        self.stuck: dict[str, int] = {}
        self.dropped_at = 0.0
        self.deadline = 0.0

    async def run(self, sockets: list[BenchSocket]) -> dict[str, Any]:
        tally = self.tally
        tally.failures, tally.closes = 0, []
        self.dropped_at = time.time()
        self.deadline = time.monotonic() + self.limit
        for sock in sockets:
            sock.dropped = True
            if sock.transport is not None:
                sock.transport.abort()
        outcomes = await asyncio.gather(*(self.resume(sock) for sock in sockets))
        return {
            "dropped_at": self.dropped_at,
            "resumed": [after for after, _attempts in outcomes if after is not None],
            "attempts": [attempts for _after, attempts in outcomes],
            "not_resumed": sum(1 for after, _attempts in outcomes if after is None),
            "replays": tally.replays,
            "snapshots": tally.snapshots,
            "replayed": tally.replayed,
            "failed_attempts": tally.failures,
            "closes": tally.closes,
            "stuck": self.stuck,
        }

    async def resume(self, old: BenchSocket) -> tuple[float | None, int]:
        """(seconds from the drop to current again or None, connection attempts)."""
        from bench.live_backoff import CLOSE_ABNORMAL, retry_delay

        loop = asyncio.get_running_loop()
        attempt, code, attempts = 0, self.code, 0
        while True:
            delay = retry_delay(attempt, code) / 1000 if code else 0.0
            if time.monotonic() + delay >= self.deadline:
                return None, attempts
            await asyncio.sleep(delay)
            attempt, attempts, code = attempt + 1, attempts + 1, CLOSE_ABNORMAL
            hello = _hello(self.token, self.topics, old.positions)
            factory = functools.partial(
                BenchSocket,
                self.tally,
                self.request,
                hello,
                old.index,
                old.probe,
                self.topics,
                True,
            )
            sock: BenchSocket | None = None
            try:
                left = self.deadline - time.monotonic()
                _transport, made = await asyncio.wait_for(
                    loop.create_connection(factory, self.address, self.port), left
                )
                sock = made
                ok = await asyncio.wait_for(made.ready, self.deadline - time.monotonic())
            except (OSError, TimeoutError):
                self.tally.failures += 1
                ok = False
                if sock is not None:
                    stuck = ",".join(sorted(sock.waiting)) if sock.upgraded else "not upgraded"
                    self.stuck[stuck] = self.stuck.get(stuck, 0) + 1
            if ok and sock is not None:
                self.held.append(sock)
                return time.time() - self.dropped_at, attempts
            if sock is not None:
                if sock.close_code == 4008:  # fell behind: LiveSocket resumes at once
                    attempt, code = 0, 0
                if sock.transport is not None:
                    sock.transport.abort()


class Clients:
    """Client processes holding the sockets: ``per_url`` for each server process."""

    def __init__(
        self,
        urls: list[str],
        token: str,
        sockets: int,
        topics: tuple[str, ...] = ("headcount",),
        per_url: int = 1,
    ) -> None:
        context = mp.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.processes: list[Any] = []
        targets = [url for url in urls for _ in range(per_url)]
        share = sockets // len(targets)
        for i, url in enumerate(targets):
            mine, theirs = context.Pipe()
            count = share if i else sockets - share * (len(targets) - 1)
            proc = context.Process(
                target=client_main,
                args=(theirs, url, token, count, PROBES_PER_PROCESS // per_url, topics),
            )
            proc.start()
            self.processes.append(proc)
            self.pipes.append(mine)

    def wait_ready(self) -> int:
        failures = 0
        for pipe in self.pipes:
            if not pipe.poll(300):
                raise RuntimeError("clients did not connect in time")
            _tag, failed = pipe.recv()
            failures += failed
        return failures

    def go(self) -> None:
        for pipe in self.pipes:
            pipe.send("go")

    def stop(self) -> tuple[int, list[tuple[int, int, float, int, float]], int, list[int]]:
        received, samples, failures, closes = 0, [], 0, []
        for number, pipe in enumerate(self.pipes):
            pipe.send("stop")
            if not pipe.poll(60):
                raise RuntimeError("clients did not report")
            _tag, got, probe_samples, failed, closed = pipe.recv()
            received += got
            samples += [(number, *sample) for sample in probe_samples]
            failures += failed
            closes += closed
        return received, samples, failures, closes

    def storm(self, code: int, limit: float) -> list[dict[str, Any]]:
        """Drop every socket at once; each process's account of the reconnects."""
        for pipe in self.pipes:
            pipe.send(("storm", code, limit))
        accounts = []
        for pipe in self.pipes:
            if not pipe.poll(limit + 60):
                raise RuntimeError("clients did not report the storm")
            accounts.append(pipe.recv()[1])
        return accounts

    def join(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, ValueError):
                pipe.send(("close",))
        for proc in self.processes:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


# --- the baseline: a bare uvicorn broadcast server --------------------------------------


class BareBroadcast:
    """A plain ASGI app: answers the hello like Muster, then sends one pre-encoded
    text to every socket, ``rate`` rounds a second (0: back to back)."""

    def __init__(self, data: dict[str, Any], rate: float, scans: Any = None) -> None:
        self.data = data
        self.rate = rate
        #: ``bench.checkin``'s bare scan app for ``POST /scan`` (the bare doors), or None.
        self.scans = scans
        self.sends: dict[int, Any] = {}
        #: Set by ``GET /go`` once every socket is connected: a back-to-back
        #: broadcast would starve the handshakes of the sockets still to come.
        self.going = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            async with contextlib.AsyncExitStack() as stack:
                if self.scans is not None:
                    await stack.enter_async_context(self.scans.router.lifespan_context(self.scans))
                task = asyncio.create_task(self.broadcast())
                await send({"type": "lifespan.startup.complete"})
                await receive()
                task.cancel()
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "http" and scope["path"] == "/scan" and self.scans is not None:
            await self.scans(scope, receive, send)
        elif scope["type"] == "http":
            if scope["path"] == "/go":
                self.going.set()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            await self.socket(receive, send)

    async def socket(self, receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        hello = await receive()
        if hello["type"] != "websocket.receive":
            return
        await send({"type": "websocket.send", "text": '{"type":"welcome"}'})
        for topic in orjson.loads(hello["text"])["topics"]:  # a snapshot for each
            text = orjson.dumps({"type": "snapshot", "topic": topic}).decode()
            await send({"type": "websocket.send", "text": text})
        key = id(send)
        self.sends[key] = send
        try:
            while (await receive())["type"] != "websocket.disconnect":
                pass
        finally:
            del self.sends[key]

    async def broadcast(self) -> None:
        head = '{"type":"update","topic":"headcount","epoch":"bare","offset":'
        body = orjson.dumps(self.data).decode()
        await self.going.wait()
        started, n = time.monotonic(), 0
        while True:
            n += 1
            text = f'{head}{n},"t":{time.time():.6f},"data":{body}}}'  # encoded once a round
            for send in list(self.sends.values()):
                try:
                    await send({"type": "websocket.send", "text": text})
                except Exception:
                    pass
            if self.rate:
                await asyncio.sleep(max(0.0, started + n / self.rate - time.monotonic()))
            else:
                await asyncio.sleep(0)


def bare_server_main(port: int, rate: float, message: Path, dsn: str = "") -> None:
    """The bare broadcast on ``port``; with ``dsn``, also ``bench.checkin``'s bare
    one-INSERT scan endpoint (``POST /scan``) in the same event loop."""
    import uvicorn

    from bench.checkin import bare_app

    scans = bare_app(dsn) if dsn else None
    app = BareBroadcast(orjson.loads(message.read_bytes()), rate, scans)
    print(f"bare on {port}", flush=True)
    # The same options as ``muster serve`` (server/cli.py), on the same listening sockets.
    from server.cli import LISTEN_BACKLOG, listen_on

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        backlog=LISTEN_BACKLOG,
    )
    uvicorn.Server(config).run(sockets=listen_on("127.0.0.1", port))
