"""``bench.big_day`` keeps running: its pure parts (the arrival plan, the
door's own decision in a Wi-Fi drop) and the whole bench at a tiny size on
PostgreSQL (two ``muster serve``, doors and screens in their processes, a
drop and its sync, the end check that nothing was lost or doubled)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.big_day import door_layout
from bench.big_day_doors import OfflineDoor, plan_arrivals
from checkin.rules import GateMove
from checkin.secrets import KeyRing, Signer, TicketClaims, generate_key
from tests.conftest import PG_DSN

ROOT = Path(__file__).resolve().parent.parent


def test_the_plan_sends_every_ticket_once_in_arrival_order() -> None:
    plan = plan_arrivals(3000, 16, 30.0, seed=5)
    tickets = [t for door in plan for _at, t in door]
    assert sorted(tickets) == list(range(3000))
    for door in plan:
        times = [at for at, _t in door]
        assert times == sorted(times) and all(0 <= at <= 30 for at in times)
    # The curve: the opening rush is busier than the afternoon trickle.
    first, late = (sum(1 for d in plan for at, _t in d if lo <= at < lo + 3) for lo in (0, 20))
    assert first > 3 * late
    assert plan == plan_arrivals(3000, 16, 30.0, seed=5)


def test_a_quarter_of_the_doors_drop_and_the_probes_stay_online() -> None:
    dropped, probes = door_layout(200)
    assert len(dropped) == 50 and len(probes) == 4 and not dropped & set(probes)


def test_a_door_in_the_drop_decides_as_the_phone_does() -> None:
    key = generate_key(1)
    now = datetime.now(UTC)
    claims = TicketClaims(
        event_id=7, ticket_id=42, type_id=1, generation=1, valid_from=None,
        valid_until=now + timedelta(hours=1), kid=1,
    )  # fmt: skip
    secret = Signer(1, key.private).sign(claims)
    door = OfflineDoor(KeyRing(7, {1: key.public}), GateMove(None, 3, "in"))
    assert door.decide(secret, now) == ("ok", None)
    assert door.decide(secret, now) == ("error", "already_inside")
    forged = secret[:-3] + ("A" if secret[-3] != "A" else "B") + secret[-2:]
    assert door.decide(forged, now) == ("error", "invalid")
    assert door.decide(secret, now + timedelta(hours=2))[1] == "expired"


def test_the_big_day_runs_at_a_tiny_size(pg_available: bool) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable")
    command = [
        sys.executable, "-m", "bench.big_day", "--tickets", "600", "--doors", "8",
        "--screens", "20", "--seconds", "4", "--drop", "2", "--drop-at", "1",
        "--baseline-seconds", "0.5", "--pg", PG_DSN,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "consistent, nothing lost or doubled" in done.stdout
    assert "synced after the drop" in done.stdout and "ratio" in done.stdout
    assert "# reproduce: .venv/bin/python -m bench.big_day" in done.stdout
