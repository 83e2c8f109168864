"""Many checkers at once against one database, for the claimed-once tests
(escalation, overdue tasks, due-soon reminders): on PostgreSQL four engines of
their own, three checkers each; on SQLite (one process, one writer) six on
the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from server.db import Database


async def checking_at_once(
    ctx: Any, settings: Any, check: Callable[[Database], Awaitable[list[Any]]]
) -> list[list[Any]]:
    """What each of the checkers ``check(db)`` claimed."""
    url = str(settings.database_url)
    engines = [ctx.db] if ctx.db.is_sqlite else [Database(url) for _ in range(4)]
    per_engine = 6 if ctx.db.is_sqlite else 3
    try:
        return list(
            await asyncio.wait_for(
                asyncio.gather(*(check(db) for db in engines for _ in range(per_engine))),
                timeout=60,
            )
        )
    finally:
        for db in engines:
            if db is not ctx.db:
                await db.dispose()
