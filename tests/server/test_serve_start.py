"""``muster serve`` before its database: it waits (one line an attempt, a
growing pause), serves once the database answers, gives up after
``MUSTER_DATABASE_WAIT_SECONDS`` with one line and status 1, and says how
to create a database that does not exist. No traceback for any of these.

Real ``muster serve`` processes on a throwaway PostgreSQL cluster.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.pgcluster import PgCluster
from tests.servers import spawn_server, wait_until_ready


class Output:
    """The lines a process prints, read by a thread as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout or []:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, check: Callable[[list[str]], bool], seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not check(self.lines):
            assert time.monotonic() < deadline, "\n".join(self.lines[-20:])
            time.sleep(0.05)


def _waits(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("muster: waiting for PostgreSQL")]


def test_serve_waits_for_a_database_that_comes_up_later(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    url = pg_cluster.create_database("muster")
    pg_cluster.stop()
    process, port, _env = spawn_server(tmp_path, {"MUSTER_DATABASE_URL": url})
    try:
        out = Output(process)
        out.wait_for(lambda lines: len(_waits(lines)) >= 3)
        waits = _waits(out.lines)
        assert "attempt 1, next in 0.5 s" in waits[0]
        assert "attempt 2, next in 1.0 s" in waits[1]
        assert "attempt 3, next in 2.0 s" in waits[2]
        assert process.poll() is None

        pg_cluster.start()
        out.wait_for(lambda lines: any(line.startswith("Muster on ") for line in lines))
        base = f"http://127.0.0.1:{port}"
        assert wait_until_ready(base, process, time.monotonic() + 30), out.lines[-10:]
        answer = httpx.get(f"{base}/readyz", timeout=10)
        assert answer.json() == {"status": "ok", "database": "ok"}
        assert any(" answers after " in line for line in out.lines)
        assert not any("Traceback" in line for line in out.lines), out.lines
    finally:
        process.terminate()
        process.wait(15)


def test_serve_gives_up_after_the_wait_with_one_line(pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database("muster")
    pg_cluster.stop()
    started = time.monotonic()
    process, _port, _env = spawn_server(
        tmp_path, {"MUSTER_DATABASE_URL": url, "MUSTER_DATABASE_WAIT_SECONDS": "1.5"}
    )
    out, _ = process.communicate(timeout=30)
    took = time.monotonic() - started
    lines = out.splitlines()
    assert process.returncode == 1, out
    assert 1.5 <= took < 15, took
    assert len(_waits(lines)) == 2, lines  # at 0 s and 0.5 s; the third, at 1.5 s, gives up
    assert lines[-1].startswith("muster: PostgreSQL 127.0.0.1:")
    assert "did not answer within 1.5 s" in lines[-1]
    assert "Traceback" not in out


def test_serve_says_how_to_create_a_missing_database(pg_cluster: PgCluster, tmp_path: Path) -> None:
    process, _port, _env = spawn_server(
        tmp_path, {"MUSTER_DATABASE_URL": pg_cluster.url("no_such_db")}
    )
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 1, out
    assert out.strip().splitlines() == [
        f'muster: PostgreSQL at 127.0.0.1:{pg_cluster.port} has no database "no_such_db";'
        f" create it with `createdb -h 127.0.0.1 -p {pg_cluster.port} -U postgres no_such_db`"
        " (or CREATE DATABASE), or point MUSTER_DATABASE_URL at one that exists"
    ]
