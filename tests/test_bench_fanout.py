"""bench.fanout (PostgreSQL, with a storm) and bench.fanout_sqlite at a tiny
size: Muster and the bare baselines run the rush (and the drop) with the
doors, and print their figures side by side."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_fanout_bench_runs_a_storm_beside_its_bare_baseline(pg_available: bool) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable")
    command = [
        sys.executable, "-m", "bench.fanout", "--sockets", "100", "--processes", "1",
        "--seconds", "1", "--storm", "4", "--doors", "2",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "muster    storm: 100 sockets dropped at once" in out
    assert "bare      storm: 100 sockets dropped at once" in out
    for line in ("doors     rush", "doors     storm", "bare doors rush", "bare doors storm"):
        assert line in out and f"{line}      0 scans" not in out
    assert "100 resumed, 0 not" in out
    assert "# reproduce: .venv/bin/python -m bench.fanout" in out


def test_the_sqlite_fanout_bench_runs_beside_its_bare_baselines() -> None:
    command = [sys.executable, "-m", "bench.fanout_sqlite", "--sockets", "50", "--seconds", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for server in ("muster", "bare", "bare doors"):
        assert re.search(rf"^{server} +50 +1 ", out, re.M), server
    assert "# reproduce: .venv/bin/python -m bench.fanout_sqlite" in out
