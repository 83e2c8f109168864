"""``server.background.running``: an app part's tasks end with its block."""

from __future__ import annotations

import asyncio

from server.background import running


async def test_the_tasks_run_in_the_block_and_are_cancelled_after_it() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    async with running(forever()) as (task,):
        await started.wait()
        assert not task.done()
    assert task.cancelled()


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again() -> None:
    entered, swallowed = asyncio.Event(), asyncio.Event()

    async def stubborn() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # as a driver raising its own error in its place
        await asyncio.Event().wait()

    async with running(stubborn()) as (task,):
        await entered.wait()
    assert swallowed.is_set() and task.done()
