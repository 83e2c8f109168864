"""The hub's pure core: history, resume decisions, throttling, sequence gaps,
NOTIFY hints, and a connection's bounded queue."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from realtime.bus import decode_hint, encode_hint
from realtime.connection import CLOSE_TOO_SLOW, Connection
from realtime.core import (
    Replay,
    Resnapshot,
    SequenceCursor,
    Since,
    StateTopic,
    StreamHistory,
    Throttle,
    encode,
    plan_resume,
)
from server.auth import Principal


def history_of(offsets: list[int], size: int = 10) -> StreamHistory:
    history = StreamHistory(size)
    for offset in offsets:
        history.append(offset, f"m{offset}")
    return history


# --- history and resuming ----------------------------------------------------------


def test_history_keeps_the_last_messages_and_raises_its_floor() -> None:
    history = history_of([3, 5, 8, 9], size=3)
    assert history.floor == 3
    assert history.last == 9
    assert history.after(3) == ["m5", "m8", "m9"]
    assert history.after(5) == ["m8", "m9"]
    assert history.after(9) == []
    assert history.after(2) is None  # 3 is gone


def test_history_ignores_repeated_and_older_offsets() -> None:
    history = history_of([4, 6])
    assert not history.append(6, "again")
    assert not history.append(5, "late")
    assert history.after(0) == ["m4", "m6"]


def test_resume_replays_exactly_the_gap() -> None:
    history = history_of([10, 11, 15])
    assert plan_resume(history, "e1", Since("e1", 11)) == Replay(["m15"])
    assert plan_resume(history, "e1", Since("e1", 15)) == Replay([])


def test_resume_with_offsets_between_messages_is_exact() -> None:
    # Ids of other topics sit between a topic's offsets: 12 is not this
    # topic's, so a client at 12 missed only 15.
    history = history_of([10, 11, 15])
    assert plan_resume(history, "e1", Since("e1", 12)) == Replay(["m15"])


def test_resume_from_another_epoch_or_too_far_back_is_a_snapshot() -> None:
    history = history_of([1, 2, 3, 4, 5], size=3)
    assert plan_resume(history, "e2", Since("e1", 4)) == Resnapshot("epoch_changed")
    assert plan_resume(history, "e1", Since("e1", 1)) == Resnapshot("history_lost")
    assert plan_resume(history, "e1", Since("e1", 2)) == Replay(["m3", "m4", "m5"])
    assert plan_resume(history, "e1", None) == Resnapshot("new")


def test_a_client_ahead_of_this_process_gets_nothing_yet() -> None:
    history = history_of([1, 2])
    assert plan_resume(history, "e1", Since("e1", 7)) == Replay([])


# --- coalescing -------------------------------------------------------------------


def test_throttle_sends_a_lone_change_at_once_and_spaces_a_rush() -> None:
    throttle = Throttle(per_second=5)
    assert throttle.wait(100.0) == 0
    throttle.sent(100.0)
    assert throttle.wait(100.05) == pytest.approx(0.15)
    assert throttle.wait(100.2) == 0


def test_throttle_spaces_sends_further_when_asked() -> None:
    """During a reconnect storm the hub asks for a second between updates."""
    throttle = Throttle(per_second=5)
    assert throttle.wait(100.0, spacing=1.0) == 0  # nothing sent yet
    throttle.sent(100.0)
    assert throttle.wait(100.2, spacing=1.0) == pytest.approx(0.8)
    assert throttle.wait(100.2, spacing=0.1) == 0  # the interval is the floor
    assert throttle.wait(101.0, spacing=1.0) == 0


def test_state_topic_counts_only_changes() -> None:
    state = StateTopic(Throttle(5))
    assert state.accept(b'{"inside":1}')
    assert not state.accept(b'{"inside":1}')
    assert state.accept(b'{"inside":2}')
    assert state.offset == 2


def test_state_topic_takes_the_result_of_the_recomputation_begun_last() -> None:
    state = StateTopic(Throttle(5))
    first = state.begin()
    assert state.may_begin()  # a change during a slow one starts a second
    second = state.begin()
    assert not state.may_begin()  # no third
    state.end()
    assert state.is_newest(second)  # the later one ended first: sent
    state.end()
    assert not state.is_newest(first)  # the older one ending after it: dropped
    assert state.may_begin() and state.computing == 0


# --- sequence gaps -------------------------------------------------------------


def test_cursor_delivers_in_order_without_gaps() -> None:
    cursor = SequenceCursor(position=4)
    assert cursor.advance([5, 6, 7], now=0.0) == [5, 6, 7]
    assert cursor.position == 7 and not cursor.holding


def test_cursor_waits_for_a_gap_that_fills_later() -> None:
    cursor = SequenceCursor(position=0)
    # Id 2 is drawn but not committed yet: 3 must wait behind it.
    assert cursor.advance([1, 3], now=0.0, xmin=100, xmax=105) == [1]
    assert cursor.holding
    assert cursor.advance([3], now=0.1, xmin=101, xmax=106) == []
    assert cursor.advance([2, 3], now=0.15, xmin=101, xmax=106) == [2, 3]
    assert not cursor.holding and cursor.skipped == []


def test_cursor_skips_a_gap_once_every_older_transaction_has_ended() -> None:
    cursor = SequenceCursor(position=0, min_hold=0.2)
    assert cursor.advance([1, 3], now=0.0, xmin=100, xmax=105) == [1]
    # Past min_hold, but a transaction older than the gap's horizon runs on.
    assert cursor.advance([3], now=0.5, xmin=104, xmax=110) == []
    # Every transaction that could fill id 2 has ended: it never will.
    assert cursor.advance([3], now=0.6, xmin=105, xmax=110) == [3]
    assert cursor.skipped == [(2, 2)]


def test_cursor_waits_min_hold_even_when_no_transaction_runs() -> None:
    cursor = SequenceCursor(position=0, min_hold=0.2)
    assert cursor.advance([2], now=0.0, xmin=50, xmax=50) == []
    assert cursor.advance([2], now=0.1, xmin=50, xmax=50) == []
    assert cursor.advance([2], now=0.25, xmin=50, xmax=50) == [2]


def test_cursor_never_stalls_past_max_hold() -> None:
    cursor = SequenceCursor(position=0, min_hold=0.2, max_hold=5.0)
    assert cursor.advance([2], now=0.0, xmin=10, xmax=20) == []
    assert cursor.advance([2], now=4.0, xmin=11, xmax=20) == []
    assert cursor.advance([2], now=5.0, xmin=11, xmax=20) == [2]


def test_cursor_without_transaction_ids_skips_after_min_hold() -> None:
    cursor = SequenceCursor(position=0, min_hold=0.2)
    assert cursor.advance([1, 3], now=0.0) == [1]
    assert cursor.advance([3], now=0.3) == [3]


def test_a_new_gap_further_on_starts_its_own_clock() -> None:
    cursor = SequenceCursor(position=0, min_hold=0.2)
    assert cursor.advance([2, 4], now=0.0) == []
    assert cursor.advance([2, 4], now=0.3) == [2]  # gap 1 skipped; gap 3 first seen now
    assert cursor.advance([4], now=0.4) == []
    assert cursor.advance([4], now=0.6) == [4]


# --- hints ---------------------------------------------------------------------------


def test_hint_round_trip_and_garbage() -> None:
    payload = encode_hint("p1", {7: {"stock", "gates"}, 9: {"headcount"}})
    assert decode_hint(payload) == ("p1", {7: {"stock", "gates"}, 9: {"headcount"}})
    assert decode_hint("p1|*") == ("p1", None)
    assert decode_hint("p1|x:y") == ("p1", None)
    big = {i: {"stock"} for i in range(2000)}
    assert decode_hint(encode_hint("p2", big)) == ("p2", None)


# --- a connection's queue ---------------------------------------------------------------


class FakeSocket:
    def __init__(self, stalled: bool = False) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.stalled = stalled
        self.unblock = asyncio.Event()

    async def send_text(self, text: str) -> None:
        if self.stalled:
            await self.unblock.wait()  # a client that stopped reading
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def sent(socket: FakeSocket, count: int) -> None:
    """Wait until the writer has sent ``count`` messages to ``socket``."""
    async with asyncio.timeout(5):
        while len(socket.sent) < count:  # noqa: ASYNC110 - the writer has no event to wait on
            await asyncio.sleep(0)


def connection(socket: FakeSocket, queue_size: int = 4) -> Connection:
    principal = Principal(1, "command", 1, None, "token", "screen")
    return Connection(
        socket.send_text,
        socket.close,
        queue_size=queue_size,
        principal=principal,
        event_id=1,
        topics=("alerts",),
        connection_id="c1",
    )


async def test_a_stalled_client_is_dropped_and_the_others_keep_receiving() -> None:
    slow, fast = FakeSocket(stalled=True), FakeSocket()
    slow_conn, fast_conn = connection(slow), connection(fast)
    for offset in range(1, 11):
        for conn in (slow_conn, fast_conn):
            conn.deliver("alerts", offset, f"m{offset}")
        if offset == 1:  # made by the first send (no direct path: it stays)
            slow_writer, fast_writer = slow_conn.writer, fast_conn.writer
            assert slow_writer is not None and fast_writer is not None
        await asyncio.sleep(0)
    await asyncio.wait_for(slow_conn.closed.wait(), 1)
    assert slow.closed == (CLOSE_TOO_SLOW, "fell behind")
    assert slow_writer.done()
    await sent(fast, 10)
    assert fast.sent == [f"m{i}" for i in range(1, 11)]
    assert fast_conn.close_code is None
    fast_conn.fail(1000, "done")
    await fast_writer


async def test_held_topic_sends_snapshot_first_then_only_newer_live_messages() -> None:
    socket = FakeSocket()
    conn = connection(socket, queue_size=10)
    conn.hold(("alerts",))
    conn.deliver("alerts", 5, "live5")
    conn.deliver("alerts", 7, "live7")
    conn.release("alerts", 5, ["snapshot@5"])
    writer = conn.writer
    assert writer is not None
    await sent(socket, 2)
    assert socket.sent == ["snapshot@5", "live7"]
    conn.fail(1000, "done")
    await writer


def test_encode_is_compact_json() -> None:
    assert orjson.loads(encode({"type": "ping", "t": 1})) == {"type": "ping", "t": 1}
