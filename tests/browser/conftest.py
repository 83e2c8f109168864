"""Browser tests: real Chromium (Debian's, at /usr/bin/chromium) driven by
Playwright, against a real ``muster serve`` process on loopback.

Without Chromium these tests are skipped, except in CI (``CI=true``), where
that is a failure. Screenshots go to ``test-artifacts/`` at the repo root.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import _pg_admin, sqlalchemy_pg_url
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


#: Run in every page before its own scripts: a blocked load or inline script
#: is also a console line the test can read, whatever Chromium logs itself.
REPORT_CSP_VIOLATIONS = """
addEventListener("securitypolicyviolation", (e) => {
  console.error(`csp-violation ${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


class CspWatchingBrowser:
    """The launched browser, with every context it makes reporting the
    Content-Security-Policy violations of its pages into ``violations``
    (``no_csp_violations`` fails the test that caused one)."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self.violations: list[str] = []

    def _watch(self, context: Any) -> Any:
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        context.on("console", self._console)
        return context

    def _console(self, message: Any) -> None:
        text = message.text
        if "csp-probe" in text:  # a test checking that the policy blocks (test_docs)
            return
        if "csp-violation" in text or "Content Security Policy" in text:
            self.violations.append(text)

    def new_context(self, *args: Any, **kwargs: Any) -> Any:
        return self._watch(self._browser.new_context(*args, **kwargs))

    def new_page(self, *args: Any, **kwargs: Any) -> Any:
        context = self.new_context(*args, **kwargs)
        page = context.new_page()
        # As Browser.new_page: the page owns its context, closed with it.
        page.on("close", lambda _page: context.close())
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


@pytest.fixture(scope="module")
def browser(playwright_instance: Any, chromium_path: str) -> Iterator[CspWatchingBrowser]:
    launched = playwright_instance.chromium.launch(
        executable_path=chromium_path, args=CHROMIUM_ARGS
    )
    yield CspWatchingBrowser(launched)
    launched.close()


@pytest.fixture(autouse=True)
def no_csp_violations(request: pytest.FixtureRequest) -> Iterator[None]:
    """A browser test fails when a page broke the Content-Security-Policy
    (server/security_headers.py): what the policy blocked, the user lost."""
    if "browser" not in request.fixturenames:
        yield
        return
    watching: CspWatchingBrowser = request.getfixturevalue("browser")
    watching.violations.clear()
    yield
    assert not watching.violations, "\n".join(watching.violations)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pg_admin(sql: str) -> None:
    """Run an admin statement on PostgreSQL. In a thread of its own: Playwright's
    sync API keeps an event loop running in this one, so asyncio.run would refuse."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _pg_admin(sql)).result()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``muster serve`` on SQLite (the shared live server) and on PostgreSQL:
    a test that takes ``server`` runs on both databases."""
    if request.param == "sqlite":
        yield request.getfixturevalue("live_server")
        return
    yield from postgres_server(tmp_path_factory)


def postgres_server(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """``muster serve`` (with ``env``) on a throwaway PostgreSQL database, dropped
    afterwards; skipped when PostgreSQL is not reachable, except in CI."""
    name = f"muster_cc_{uuid.uuid4().hex[:12]}"
    try:
        pg_admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    started = None
    try:
        started = start_server(
            tmp_path_factory.mktemp("live-pg"),
            {**(env or {}), "MUSTER_DATABASE_URL": sqlalchemy_pg_url(name)},
        )
        yield started
    finally:
        if started is not None:
            started.process.terminate()
            try:
                started.process.wait(10)
            except subprocess.TimeoutExpired:
                started.process.kill()
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
