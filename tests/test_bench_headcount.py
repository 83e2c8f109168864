"""bench.headcount at a tiny size: it runs, both ways print their figures,
and the sums a hub keeps end equal to the log's (the bench checks it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_DSN

ROOT = Path(__file__).resolve().parent.parent


def test_the_headcount_bench_runs_and_its_kept_sums_are_the_logs(pg_available: bool) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable")
    command = [
        sys.executable, "-m", "bench.headcount", "--tickets", "2000", "--gates", "8",
        "--rounds", "2", "--turns", "1", "--pg", PG_DSN,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    for way in ("counted each time", "kept sums", "bare: one asyncpg statement"):
        assert way in done.stdout
    assert "µs of the hub a scan" in done.stdout
    assert "# reproduce: .venv/bin/python -m bench.headcount" in done.stdout
