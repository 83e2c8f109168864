"""The reconnect schedule of the PWA's websocket client, for the bench's sockets.

A port of ``backoffDelay`` and ``firstRetryDelay`` in ``pwa/shared/live.js``
(the one websocket client of every page). The constants are read from that
file, not copied, so the bench cannot drift from what the phones do;
``tests/realtime/test_live_backoff.py`` runs the JavaScript with the same
random numbers and compares.
"""

from __future__ import annotations

import math
import random as _random
import re
from collections.abc import Callable
from pathlib import Path

LIVE_JS = Path(__file__).resolve().parent.parent / "pwa" / "shared" / "live.js"


def _constants(source: str) -> dict[str, int]:
    """The numeric ``const`` declarations of live.js (the close codes and the delays)."""
    return {
        name: int(value)
        for name, value in re.findall(r"^(?:export )?const (\w+) = (\d+);", source, re.M)
    }


_JS = _constants(LIVE_JS.read_text(encoding="utf-8"))
BACKOFF_FIRST_MS = _JS["BACKOFF_FIRST_MS"]
BACKOFF_MAX_MS = _JS["BACKOFF_MAX_MS"]
RESTART_SPREAD_MS = _JS["RESTART_SPREAD_MS"]
CLOSE_GOING_AWAY = _JS["CLOSE_GOING_AWAY"]
CLOSE_RESTART = _JS["CLOSE_RESTART"]
#: What a browser reports when the network dropped the socket (no close frame).
CLOSE_ABNORMAL = 1006


def js_round(value: float) -> int:
    """JavaScript's ``Math.round`` (halves go up, not to even)."""
    return math.floor(value + 0.5)


def backoff_delay(attempt: int, random: Callable[[], float] = _random.random) -> int:
    """Milliseconds before reconnect attempt ``attempt`` (0-based): half the ceiling plus jitter."""
    ceiling = min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2**attempt)
    return js_round(ceiling / 2 + random() * ceiling / 2)


def first_retry_delay(code: int, random: Callable[[], float] = _random.random) -> int:
    """Milliseconds before the first reconnect after a close with ``code``."""
    if code in (CLOSE_GOING_AWAY, CLOSE_RESTART):
        spread = RESTART_SPREAD_MS - BACKOFF_FIRST_MS / 2
        return js_round(BACKOFF_FIRST_MS / 2 + random() * spread)
    return backoff_delay(0, random)


def retry_delay(attempt: int, code: int, random: Callable[[], float] = _random.random) -> int:
    """As ``LiveSocket.scheduleRetry``: the first wait depends on the close, later ones back off."""
    return first_retry_delay(code, random) if attempt == 0 else backoff_delay(attempt, random)
