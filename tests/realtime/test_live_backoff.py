"""The bench's port of the PWA's reconnect schedule (bench/live_backoff.py)
gives the same delays as pwa/shared/live.js, run in Node with the same
random numbers."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable

import pytest

from bench import live_backoff
from bench.live_backoff import LIVE_JS, backoff_delay, first_retry_delay

RANDOMS = (0.0, 0.1, 0.25, 0.5, 0.73, 0.999)
CODES = (1000, 1001, 1006, 1011, 1012, 4000)

SCRIPT = """
import { backoffDelay, firstRetryDelay } from %s;
const randoms = %s, codes = %s;
const out = { backoff: [], first: [] };
for (const r of randoms) {
  for (let attempt = 0; attempt < 10; attempt++) out.backoff.push(backoffDelay(attempt, () => r));
  for (const code of codes) out.first.push(firstRetryDelay(code, () => r));
}
console.log(JSON.stringify(out));
"""


def constant(value: float) -> Callable[[], float]:
    return lambda: value


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node to run live.js")
def test_the_port_gives_the_delays_of_live_js() -> None:
    script = SCRIPT % (json.dumps(LIVE_JS.as_uri()), json.dumps(RANDOMS), json.dumps(CODES))
    ran = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    js = json.loads(ran.stdout)
    python: dict[str, list[int]] = {"backoff": [], "first": []}
    for r in RANDOMS:
        python["backoff"] += [backoff_delay(attempt, constant(r)) for attempt in range(10)]
        python["first"] += [first_retry_delay(code, constant(r)) for code in CODES]
    assert python == js


def test_the_constants_are_read_from_live_js() -> None:
    source = LIVE_JS.read_text(encoding="utf-8")
    for name in ("BACKOFF_FIRST_MS", "BACKOFF_MAX_MS", "RESTART_SPREAD_MS"):
        assert f"const {name} = {getattr(live_backoff, name)};" in source
