"""The table readers against the real databases: ids that commit out of order
are delivered in order and none is lost; a rolled-back id is skipped once
no transaction that could fill it is left."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime.bus import BusItem, BusMessages, TableReader
from realtime.outbox import publish
from server.context import Muster


def reader_for(ctx: Muster) -> tuple[TableReader, list[BusItem]]:
    delivered: list[BusItem] = []
    reader = TableReader(ctx.db, BusMessages(), delivered.extend, lambda _items: None, 1.0)
    return reader, delivered


async def test_reader_delivers_new_messages_in_order(ctx: Muster, event: dict[str, Any]) -> None:
    reader, delivered = reader_for(ctx)
    await reader.start()
    for i in range(3):
        async with ctx.db.writing() as session:
            publish(session, event["id"], "alerts", {"n": i})
    await reader.read()
    assert [item.data for item in delivered] == [{"n": 0}, {"n": 1}, {"n": 2}]
    offsets = [item.offset for item in delivered]
    assert offsets == sorted(offsets)
    assert reader.position == offsets[-1]


async def test_an_id_committed_late_is_delivered_before_later_ones(
    ctx: Muster, event: dict[str, Any]
) -> None:
    if ctx.db.is_sqlite:
        pytest.skip("one writer at a time: SQLite ids commit in order")
    reader, delivered = reader_for(ctx)
    await reader.start()
    eid = event["id"]
    slow_has_id = asyncio.Event()
    let_slow_commit = asyncio.Event()

    async def slow() -> None:
        async with ctx.db.writing() as session:
            publish(session, eid, "alerts", {"n": "slow"})
            await session.flush()  # the id is drawn now …
            slow_has_id.set()
            await let_slow_commit.wait()  # … and committed later

    task = asyncio.create_task(slow())
    await slow_has_id.wait()
    async with ctx.db.writing() as session:
        publish(session, eid, "alerts", {"n": "fast"})
    await reader.read()
    assert delivered == [] and reader.cursor.holding  # "fast" waits behind the gap
    await asyncio.sleep(0.3)
    await reader.read()
    assert delivered == []  # still: the slow transaction is running
    let_slow_commit.set()
    await task
    await reader.read()
    assert [item.data for item in delivered] == [{"n": "slow"}, {"n": "fast"}]


async def test_a_rolled_back_id_is_skipped_once_nothing_can_fill_it(
    ctx: Muster, event: dict[str, Any]
) -> None:
    if ctx.db.is_sqlite:
        pytest.skip("SQLite reuses a rolled-back rowid: no gap")
    reader, delivered = reader_for(ctx)
    await reader.start()
    eid = event["id"]

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with ctx.db.writing() as session:
            publish(session, eid, "alerts", {"n": "undone"})
            await session.flush()
            raise Undo
    async with ctx.db.writing() as session:
        publish(session, eid, "alerts", {"n": "kept"})
    await reader.read()
    assert delivered == []  # held for at least min_hold
    for _ in range(40):
        await asyncio.sleep(0.05)
        await reader.read()
        if delivered:
            break
    assert [item.data for item in delivered] == [{"n": "kept"}]
    assert not reader.cursor.holding
