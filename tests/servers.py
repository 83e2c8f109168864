"""Real ``muster serve`` processes for tests: on a free loopback port, with
the organiser token it prints on a new database."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

#: The key-encryption key of test servers (server/key_sealing.py).
TEST_SECRET_KEY = "muster test key-encryption key, not for production"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    token: str
    process: subprocess.Popen[str]
    data_dir: Path
    #: What it printed before it was up (the token, the links, hints).
    banner: list[str] = field(default_factory=list)
    #: Every line the process printed so far (read by a thread as it comes).
    output: list[str] = field(default_factory=list)

    def ws_url(self, event_id: int) -> str:
        return self.base_url.replace("http", "ws", 1) + f"/ws/events/{event_id}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def api(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )


def spawn_server(
    data_dir: Path, env: dict[str, str] | None = None, port: int | None = None
) -> tuple[subprocess.Popen[str], int, dict[str, str]]:
    """Start ``muster serve`` on a free port (or ``port``) and return at once:
    the process (its output on ``stdout``), the port and its environment."""
    port = port or free_port()
    full_env = {
        **os.environ,
        "MUSTER_DATA_DIR": str(data_dir),
        "MUSTER_PORT": str(port),
        "MUSTER_LOG_LEVEL": "warning",
        # One key-encryption key for every process a test starts: processes
        # on one database must share it (each data folder would make its own
        # secret.key, and the second process would refuse to start).
        "MUSTER_SECRET_KEY": TEST_SECRET_KEY,
        **(env or {}),
    }
    if not env or "MUSTER_DATABASE_URL" not in env:
        full_env.pop("MUSTER_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, port, full_env


def start_server(
    data_dir: Path, env: dict[str, str] | None = None, port: int | None = None
) -> LiveServer:
    """Run ``muster serve`` on a free port and read the organiser token it prints."""
    process, port, full_env = spawn_server(data_dir, env, port)
    output: list[str] = []
    deadline = time.monotonic() + 60
    token = read_token(process, deadline, output)
    banner = [line.rstrip("\n") for line in output]
    # Keep reading output so the pipe never fills and blocks the server.
    threading.Thread(target=_collect, args=(process, output), daemon=True).start()
    scheme = "https" if full_env.get("MUSTER_TLS_CERTFILE") else "http"
    base_url = f"{scheme}://127.0.0.1:{port}"
    if not wait_until_ready(base_url, process, deadline):
        process.kill()
        raise RuntimeError("muster serve did not become ready:\n" + "".join(output[-20:]))
    return LiveServer(base_url, token, process, data_dir, banner, output)


#: The line ``muster serve`` prints once it serves (``server/cli.py``).
SERVING_LINE = "Muster on "


def read_token(
    process: subprocess.Popen[str],
    deadline: float,
    lines: list[str] | None = None,
    serving: tuple[str, ...] = (SERVING_LINE,),
) -> str:
    """Read a starting server's output up to the line that says it serves
    (one starting with one of ``serving``), the end of its output, or
    ``deadline`` (monotonic); the organiser token it printed on a new
    database (an indented ``mst_…`` line), or "". The lines read are added
    to ``lines``. The one reader of that banner, for tests and benches."""
    assert process.stdout is not None
    token = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if lines is not None:
            lines.append(line)
        found = re.match(r"\s+(mst_\S+)", line)
        if found:
            token = found.group(1)
        if line.startswith(serving):
            break
    return token


def start_demo(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Run ``muster demo`` with ``env`` (in its MUSTER_DATA_DIR); its output
    lines are collected, as they come, in the list returned with it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "demo", *args],
        cwd=env.get("MUSTER_DATA_DIR", ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout or []:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return process, lines


@contextlib.contextmanager
def servers_on(data_dir: Path, env: dict[str, str], count: int = 2) -> Iterator[list[LiveServer]]:
    """``count`` processes on one database (``env``), each with its own data
    folder under ``data_dir``; stopped after the block (those still running)."""
    started: list[LiveServer] = []
    try:
        for n in range(count):
            started.append(start_server(data_dir / f"p{n}", env))
        yield started
    finally:
        for server in started:
            if server.process.poll() is None:
                server.stop()


def wait_until_ready(base_url: str, process: subprocess.Popen[str], deadline: float) -> bool:
    """Whether ``/readyz`` answered 200 before ``deadline`` (monotonic) while the process ran."""
    while time.monotonic() < deadline and process.poll() is None:
        try:
            # A test's own self-signed certificate: nothing to verify against.
            if httpx.get(f"{base_url}/readyz", timeout=1, verify=False).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def _collect(process: subprocess.Popen[str], output: list[str]) -> None:
    for line in process.stdout or []:
        output.append(line)
