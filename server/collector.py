"""Process-wide tuning of CPython's garbage collector, done by ``muster serve``.

It belongs to the process, not to any part of the app: ``muster serve`` and
``muster demo`` call it once before they serve (``server/cli.py``); an app
made in a test or a bench's bare server is left with CPython's defaults.
"""

from __future__ import annotations

import gc

#: The least allocations between two young-generation collections (CPython's default: 700).
YOUNG_GENERATION = 50_000


def keep_full_collections_rare() -> None:
    """Make the collector's full (oldest-generation) passes rare.

    A full pass walks every object the process holds, every socket's
    included. Measured with ``bench.fanout`` at 5,000 sockets: full passes
    stopped the event loop for 0.1-0.47 s each, about every second while
    the sockets connected and again under load, and each one delayed every
    update by as much. With a young generation of 700 objects (CPython's
    default) whatever is in flight when it is collected (rows being read,
    a snapshot being encoded) survives into the old generations, and a
    full pass runs whenever those have grown by a quarter; with 50,000
    such objects die young (none ran under load in the same bench). The
    cost: a few megabytes of garbage in cycles lingering a little longer.
    This only ever raises the threshold.
    """
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_GENERATION:
        gc.set_threshold(YOUNG_GENERATION, middle, old)
