"""Browser tests: real Chromium (Debian's, at /usr/bin/chromium) driven by
Playwright, against a real ``muster serve`` process on loopback.

Without Chromium these tests are skipped, except in CI (``CI=true``), where
that is a failure. Screenshots go to ``test-artifacts/`` at the repo root.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("MUSTER_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


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

    def api(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )


def start_server(data_dir: Path, env: dict[str, str] | None = None) -> LiveServer:
    """Run ``muster serve`` on a free port and read the organiser token it prints."""
    port = free_port()
    full_env = {
        **os.environ,
        "MUSTER_DATA_DIR": str(data_dir),
        "MUSTER_PORT": str(port),
        "MUSTER_LOG_LEVEL": "warning",
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
    token = ""
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = re.match(r"\s+(mst_\S+)", line)
        if found:
            token = found.group(1)
        if line.startswith("Muster on "):
            break
    base_url = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("muster serve did not become ready")
    # Keep draining output so the pipe never fills and blocks the server.
    threading.Thread(target=_drain, args=(process,), daemon=True).start()
    return LiveServer(base_url, token, process, data_dir)


def _drain(process: subprocess.Popen[str]) -> None:
    for _line in process.stdout or []:
        pass


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("live"))
    assert server.token, "muster serve printed no organiser token on a new database"
    yield server
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required in CI and missing at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    return CHROMIUM


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Any]:
    # Module scope: Playwright's sync API runs an event loop in this thread
    # while it is open, and asyncio.run() refuses to start inside it.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_instance: Any, chromium_path: str) -> Iterator[Any]:
    launched = playwright_instance.chromium.launch(
        executable_path=chromium_path, args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
