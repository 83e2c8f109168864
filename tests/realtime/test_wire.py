"""Frames built once and written straight to the socket (``realtime.wire``),
and a connection that takes that path only when it keeps the order."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.frames import Frame, Opcode

from realtime.connection import Connection
from realtime.wire import DirectWriter, text_frame
from server.auth import Principal
from tests.realtime.conftest import WAIT, Open, Served, make_venue, scan


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_a_text_frame_is_what_the_websockets_library_would_send(size: int) -> None:
    text = ("人" * (size // 3)) + ("x" * (size % 3))  # UTF-8: 3 bytes a character
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert text_frame(text) == expected


def test_a_fan_out_builds_the_frame_once() -> None:
    text = '{"type":"update","topic":"headcount"}'
    assert text_frame(text) is text_frame(text)
    other = '{"type":"update","topic":"gates"}'
    assert text_frame(other) != text_frame(text)


class Sink:
    """Both ways onto a fake socket: ``write_now`` (accepting while ``open``)
    and the writer's awaited ``send_text``; records what went which way."""

    def __init__(self) -> None:
        self.open = True
        self.wire: list[tuple[str, str]] = []

    def write_now(self, text: str) -> bool:
        if self.open:
            self.wire.append(("direct", text))
        return self.open

    async def send_text(self, text: str) -> None:
        self.wire.append(("writer", text))

    async def close(self, code: int, reason: str) -> None:
        pass

    def texts(self) -> list[str]:
        return [text for _way, text in self.wire]


def connection(sink: Sink, queue_size: int = 8) -> Connection:
    return Connection(
        sink.send_text,
        sink.close,
        queue_size=queue_size,
        principal=Principal(1, "command", 1, None, "token", "screen"),
        event_id=1,
        topics=("alerts",),
        connection_id="c1",
        write_now=sink.write_now,
    )


async def test_live_messages_go_straight_to_the_socket_with_no_task_switch() -> None:
    sink = Sink()
    conn = connection(sink)
    for offset in range(1, 4):
        conn.deliver("alerts", offset, f"m{offset}")
    # Written synchronously: no writer task has run (none was even started).
    assert sink.wire == [("direct", "m1"), ("direct", "m2"), ("direct", "m3")]
    assert conn.queued == 0 and conn.sent == 3


async def test_once_a_message_had_to_queue_the_next_ones_queue_behind_it() -> None:
    sink = Sink()
    conn = connection(sink)
    conn.deliver("alerts", 1, "m1")
    sink.open = False  # the transport is over its high-water mark
    conn.deliver("alerts", 2, "m2")
    sink.open = True
    conn.deliver("alerts", 3, "m3")  # the socket could take it, but m2 is waiting
    assert conn.queued == 2
    async with asyncio.timeout(WAIT):
        while conn.queued:  # noqa: ASYNC110 - the writer has no event to wait on
            await asyncio.sleep(0)
    assert sink.wire == [("direct", "m1"), ("writer", "m2"), ("writer", "m3")]
    conn.deliver("alerts", 4, "m4")
    assert sink.wire[-1] == ("direct", "m4")
    conn.fail(1000, "done")
    assert conn.writer is not None  # it says goodbye
    await conn.writer


async def test_a_full_queue_still_drops_the_client() -> None:
    sink = Sink()
    sink.open = False
    conn = connection(sink, queue_size=2)
    for offset in range(1, 4):
        conn.deliver("alerts", offset, f"m{offset}")
    assert conn.close_code == 4008
    assert sink.wire == []


async def test_under_uvicorn_updates_are_written_straight_to_the_transport(
    served: Served, open_socket: Open
) -> None:
    """The update is written by the DirectWriter (which accepted it), and the
    writer task's ``send_text`` never sees it: the direct path, observed."""
    venue = await make_venue(served)
    door = served.api(await served.token("door", venue.event_id, venue.gate_id))
    client = await open_socket(
        venue.event_id, await served.token("command", venue.event_id), ["headcount"]
    )
    await client.until(lambda m: m["type"] == "snapshot")
    [conn] = served.hub.connections
    direct = conn._write_now
    assert isinstance(direct, DirectWriter)
    written: list[tuple[bool, str]] = []
    queued: list[str] = []
    send_text = conn._send_text

    def write_now(text: str) -> bool:
        accepted = direct(text)
        written.append((accepted, text))
        return accepted

    async def through_the_writer(text: str) -> None:
        queued.append(text)
        await send_text(text)

    conn._write_now = write_now
    conn._send_text = through_the_writer
    assert (await scan(door, venue, venue.tickets[0]))["status"] == "ok"
    update = await client.until(lambda m: m["type"] == "update" and m["data"]["inside"] == 1)
    assert update["topic"] == "headcount"
    sent_directly = [text for accepted, text in written if accepted]
    assert any(orjson.loads(text) == update for text in sent_directly), written
    assert not any(orjson.loads(text).get("type") == "update" for text in queued), queued


async def test_an_idle_socket_holds_no_writer_task() -> None:
    """A writer exists only while a send waits; once the queue is drained it
    ends, and the next message goes straight to the socket again."""
    sink = Sink()
    conn = connection(sink)
    conn.deliver("alerts", 1, "m1")
    assert conn.writer is None
    sink.open = False
    conn.deliver("alerts", 2, "m2")
    writer = conn.writer
    assert writer is not None
    sink.open = True
    await asyncio.wait_for(writer, WAIT)
    assert conn.writer is None and conn.queued == 0
    conn.deliver("alerts", 3, "m3")
    assert sink.wire == [("direct", "m1"), ("writer", "m2"), ("direct", "m3")]


async def test_a_client_that_left_is_sent_nothing_more_not_even_a_close() -> None:
    closes: list[int] = []
    sink = Sink()

    async def close(code: int, _reason: str) -> None:
        closes.append(code)

    conn = connection(sink)
    conn._close = close
    conn.deliver("alerts", 1, "m1")
    conn.gone()
    assert conn.writer is None  # no task was made to say goodbye
    assert conn.closed.is_set()
    conn.deliver("alerts", 2, "m2")
    conn.fail(4008, "fell behind")
    assert closes == [] and sink.texts() == ["m1"]
    failed = connection(Sink())
    failed._close = close
    failed.fail(4008, "fell behind")  # a client still there gets its close
    assert failed.writer is not None
    await asyncio.wait_for(failed.writer, WAIT)
    assert closes == [4008]
