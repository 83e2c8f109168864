"""Every shell example in the README and in docs/ runs, as a reader would run it.

The ```sh blocks are taken from the Markdown and run with bash, in order, one
shell per file (a reader types them into one terminal, so a variable set in
one block is there in the next). What a reader is told to fill in is filled
in the same way here, and nothing else is changed:

- ``T=mst_…`` becomes the organiser token the server printed;
- ``localhost:8000`` (the default address) becomes the test server's port;
- a PostgreSQL URL of the example host (``db.example``) becomes a test database;
- ``--host 0.0.0.0`` binds loopback only (tests never listen beyond it);
- ``python -m pytest`` (the whole suite, inside the suite) runs one small file.

Ids (``events/1``) are what a fresh server hands out, as the examples say.
``curl`` fails on an HTTP error status (``--fail-with-body``), so an example
that gets a 4xx — as ``?q=王`` did with raw UTF-8 in its URL — fails here.

Three kinds of block, each with its runner; a block that fits none fails the
test, so a new example gets a runner before it can rot:

- API blocks (they call ``curl``) run against a real ``muster serve``;
- install blocks (``pip install``) run in a copy of the checkout with a fresh
  venv; a ``muster serve``/``muster demo`` at their end runs until it says it
  is up, answers ``/readyz``, and is stopped;
- server blocks (a ``muster serve`` without an install) run the same way
  inside that copy's venv.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import postgres_clone
from tests.servers import ROOT, free_port, start_server, wait_until_ready

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LONG_RUNNING = re.compile(r"\bmuster (serve|demo)\b")
UP_LINE = re.compile(r"^Muster (?:demo )?on (\S+)")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    code: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"

    @property
    def kind(self) -> str:
        if "pip install" in self.code:
            return "install"
        if "curl " in self.code:
            return "api"
        if LONG_RUNNING.search(self.code):
            return "server"
        return "unknown"


def shell_blocks(markdown: str, document: Path) -> Iterator[Block]:
    """The ```sh (or ```bash, ```shell) blocks of a Markdown text, with their first line."""
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        fence = re.match(r"^```(sh|bash|shell)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        start = index + 1
        end = start
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        yield Block(document, start + 1, "\n".join(lines[start:end]))
        index = end + 1


def all_blocks() -> list[Block]:
    blocks: list[Block] = []
    for document in DOCUMENTS:
        blocks.extend(shell_blocks(document.read_text(encoding="utf-8"), document))
    return blocks


def test_shell_blocks_are_found_with_their_lines(tmp_path):
    text = "intro\n```sh\necho one\n```\n```json\n{}\n```\n```bash\necho two\necho three\n```\n"
    blocks = list(shell_blocks(text, tmp_path / "x.md"))
    assert [(b.line, b.code) for b in blocks] == [(3, "echo one"), (9, "echo two\necho three")]


def test_every_block_has_a_runner():
    blocks = all_blocks()
    assert blocks, "no shell examples found"
    unknown = [b.where for b in blocks if b.kind == "unknown"]
    assert not unknown, f"shell examples no runner here knows how to run: {unknown}"


# What a reader fills in: the token, the address, the database.
def fill_in(code: str, *, token: str = "", port: int = 0, database_url: str = "") -> str:
    if token:
        code = re.sub(r"\bT=mst_\S*", f"T={token}", code)
    if port:
        code = re.sub(r"\b(localhost|127\.0\.0\.1):8000\b", f"127.0.0.1:{port}", code)
    if database_url:
        code = re.sub(r"postgresql\+asyncpg://\S*db\.example\S*", database_url, code)
    code = code.replace("--host 0.0.0.0", "--host 127.0.0.1")
    return re.sub(r"(python -m pytest)(?=\s*$)", r"\1 -q tests/server/test_settings.py", code)


def test_fill_in_changes_only_what_a_reader_fills_in():
    code = (
        "T=mst_…   # the token\ncurl localhost:8000/api/v1/events\n"
        "export MUSTER_DATABASE_URL=postgresql+asyncpg://muster@db.example/muster\n"
        "muster serve --host 0.0.0.0\n.venv/bin/python -m pytest"
    )
    assert fill_in(code, token="mst_abc", port=9123, database_url="postgresql+asyncpg://x/y") == (
        "T=mst_abc   # the token\ncurl 127.0.0.1:9123/api/v1/events\n"
        "export MUSTER_DATABASE_URL=postgresql+asyncpg://x/y\n"
        "muster serve --host 127.0.0.1\n"
        ".venv/bin/python -m pytest -q tests/server/test_settings.py"
    )


CURL_FAILS_ON_ERRORS = 'curl() { command curl --fail-with-body --show-error "$@"; }\n'

GUESTS_CSV = "姓名,邮箱\n李娜,li.na@example.com\nAnna Schmidt,anna@example.com\n"


def run_shell(code: str, cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", CURL_FAILS_ON_ERRORS + code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, (
        f"exit {done.returncode}\n--- script\n{code}\n--- stdout\n{done.stdout[-3000:]}"
        f"\n--- stderr\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.mark.parametrize(
    "document",
    [d for d in DOCUMENTS if any(b.kind == "api" for b in all_blocks() if b.document == d)],
    ids=lambda d: d.name,
)
def test_api_examples_run_against_a_real_server(document, tmp_path):
    server = start_server(tmp_path / "server")
    try:
        work = tmp_path / "reader"
        work.mkdir()
        (work / "guests.csv").write_text(GUESTS_CSV, encoding="utf-8")
        port = int(server.base_url.rsplit(":", 1)[1])
        blocks = [b for b in all_blocks() if b.document == document and b.kind == "api"]
        script = "\n".join(
            f"# {b.where}\n" + fill_in(b.code, token=server.token, port=port) for b in blocks
        )
        run_shell(script, work, dict(os.environ))
        # What the examples say they make is there.
        if "-o qr.png" in script:
            assert (work / "qr.png").read_bytes()[:4] == b"\x89PNG"
        if "王伟" in script:
            with server.api() as api:
                assert api.get("/api/v1/events/1/tickets", params={"q": "王"}).json()
    finally:
        server.stop()


def copy_checkout(target: Path) -> None:
    """The files of this checkout (tracked and new, not ignored), as a fresh clone has them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            destination = target / os.fsdecode(name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(source.read_bytes())


def run_until_up(code: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> None:
    """Run a block whose last command serves; wait for its start-up line and /readyz, stop it."""
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the serving process is a grandchild: stop the group
    )
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        base = ""
        for line in process.stdout:
            seen.append(line)
            up = UP_LINE.match(line)
            if up:
                base = up.group(1)
                break
            assert time.monotonic() < deadline, "".join(seen[-30:])
        assert base, f"exited {process.wait()} before serving:\n" + "".join(seen[-30:])
        assert wait_until_ready(base, process, deadline), "never ready:\n" + "".join(seen[-30:])
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def pg_url(templates, pg_available) -> Iterator[str]:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable")
    with postgres_clone(templates) as url:
        yield url


def test_install_and_server_examples_run_in_a_fresh_copy(tmp_path, pg_url):
    """The quick start as a newcomer runs it: a copy of the checkout, a new venv, the commands."""
    checkout = tmp_path / "clone"
    copy_checkout(checkout)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MUSTER_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)
    )
    blocks = [b for b in all_blocks() if b.kind in ("install", "server")]
    assert any("pip install" in b.code for b in blocks)
    for block in blocks:
        port = free_port()
        code = fill_in(block.code, port=port, database_url=pg_url)
        block_env = {**env, "MUSTER_PORT": str(port), "MUSTER_DATA_DIR": str(tmp_path / "data")}
        if LONG_RUNNING.search(block.code):
            run_until_up(code, checkout, block_env)
        else:
            run_shell(code, checkout, block_env, timeout=600)


def test_the_readme_stays_short_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # 280: 260, the role table an operator needs (who sees what, issue 13)
    # and the short threat model (who can try what, what to do); the full
    # role × route table lives in docs/rights.md, the threat model in
    # docs/security.md.
    assert len(readme.splitlines()) <= 280, "the README is for a newcomer and an operator"
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", text):
            assert (document.parent / target).exists(), f"{document.name} links to {target}"
