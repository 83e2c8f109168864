"""The socket side of ``bench.fanout``: cheap websocket clients in their own
processes, and the bare uvicorn broadcast server the hub is compared with.

See ``bench/fanout.py`` for what is measured and how.
"""

from __future__ import annotations

import asyncio
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


class BenchSocket(asyncio.Protocol):
    """One websocket as cheap as a client can be: handshake, hello, split frames.

    Only probe sockets parse the JSON of what they get.
    """

    def __init__(self, tally: Tally, request: bytes, hello: bytes, index: int, probe: bool) -> None:
        self.tally = tally
        self.request = request
        self.hello = hello
        self.index = index
        self.probe = probe
        self.buffer = b""
        self.upgraded = False
        self.seen = 0
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
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
            self.tally.closes.append(code)
            self.transport.close()
            return
        if opcode != 0x1:
            return
        if self.seen < 2:  # welcome, snapshot
            self.seen += 1
            if self.seen == 2 and not self.ready.done():
                self.ready.set_result(True)
            return
        if payload.startswith(b'{"type":"ping"'):
            self.transport.write(PONG)
            return
        tally = self.tally
        if tally.counting:
            tally.received += 1
            if self.probe:
                message = orjson.loads(payload)
                if message.get("type") == "update":
                    stamp = float(message.get("t", 0.0))
                    tally.samples.append(
                        (self.index, time.time(), message["data"]["checked_in"], stamp)
                    )


def client_main(pipe: Pipe, url: str, token: str, sockets: int, probes: int) -> None:
    raise_fd_limit()
    import uvloop

    uvloop.run(_clients(pipe, url, token, sockets, probes))


async def _clients(pipe: Pipe, url: str, token: str, sockets: int, probes: int) -> None:
    loop = asyncio.get_running_loop()
    host, _, rest = url.removeprefix("ws://").partition("/")
    address, _, port = host.partition(":")
    request = (
        f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    hello = masked_text(orjson.dumps({"type": "hello", "token": token, "topics": ["headcount"]}))
    tally = Tally()
    every = max(1, sockets // max(1, probes))
    held: list[BenchSocket] = []
    for start in range(0, sockets, 250):  # connect in bounded waves
        wave = []
        for index in range(start, min(sockets, start + 250)):
            probe = index % every == 0
            factory = functools.partial(BenchSocket, tally, request, hello, index, probe)
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
    for sock in held:
        if sock.transport is not None:
            sock.transport.close()
    await asyncio.sleep(0.5)


class Clients:
    """One client process per server process, each holding its share of the sockets."""

    def __init__(self, urls: list[str], token: str, sockets: int) -> None:
        context = mp.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.processes: list[Any] = []
        share = sockets // len(urls)
        for i, url in enumerate(urls):
            mine, theirs = context.Pipe()
            count = share if i else sockets - share * (len(urls) - 1)
            proc = context.Process(
                target=client_main, args=(theirs, url, token, count, PROBES_PER_PROCESS)
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

    def join(self) -> None:
        for proc in self.processes:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


# --- the baseline: a bare uvicorn broadcast server --------------------------------------


class BareBroadcast:
    """A plain ASGI app: answers the hello like Muster, then sends one pre-encoded
    text to every socket, ``rate`` rounds a second (0: back to back)."""

    def __init__(self, data: dict[str, Any], rate: float) -> None:
        self.data = data
        self.rate = rate
        self.sends: dict[int, Any] = {}
        #: Set by ``GET /go`` once every socket is connected: a back-to-back
        #: broadcast would starve the handshakes of the sockets still to come.
        self.going = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            task = asyncio.create_task(self.broadcast())
            await send({"type": "lifespan.startup.complete"})
            await receive()
            task.cancel()
            await send({"type": "lifespan.shutdown.complete"})
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
        if (await receive())["type"] != "websocket.receive":  # the hello
            return
        for kind in ("welcome", "snapshot"):
            await send({"type": "websocket.send", "text": orjson.dumps({"type": kind}).decode()})
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


def bare_server_main(port: int, rate: float, message: Path) -> None:
    import uvicorn

    app = BareBroadcast(orjson.loads(message.read_bytes()), rate)
    print(f"bare on {port}", flush=True)
    # The same options as ``muster serve`` (server/cli.py).
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_per_message_deflate=False)
