"""Browser tests: real Chromium (Debian's, at /usr/bin/chromium) driven by
Playwright, against a real ``muster serve`` process on loopback.

Without Chromium these tests are skipped, except in CI (``CI=true``), where
that is a failure. Screenshots go to ``test-artifacts/`` at the repo root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ROOT, LiveServer, start_server

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


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("live"))
    assert server.token, "muster serve printed no organiser token on a new database"
    yield server
    server.stop()


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
