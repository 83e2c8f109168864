"""Background tasks that live as long as a block: an app part's loops.

Every long-lived part of a server process (the realtime hub's readers and
loops, the escalation, task and retention clocks, the mail sender) runs its
coroutines under ``running`` so that stopping the app stops them all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any


@contextlib.asynccontextmanager
async def running(*coroutines: Any) -> AsyncIterator[list[asyncio.Task[Any]]]:
    """Run background coroutines for the duration of the block, then cancel them."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            # A task can lose one cancellation (a database driver raising its
            # own error in its place, or ``wait_for``'s race before Python
            # 3.12) and run on: cancel it again until it has ended.
            while not task.done():
                await asyncio.wait([task], timeout=1.0)
                if not task.done():
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
