"""One client's socket as the hub sees it: a bounded send queue and a writer.

The hub never awaits a client. ``deliver`` is synchronous and O(1): when
nothing is queued and the socket can take it now (``write_now``, see
``realtime.wire``), the already-encoded message goes straight onto the
socket, with no task switch; otherwise it is appended to the connection's
queue, and a writer task sends from there at the client's pace. The writer
exists only while a send must wait (or, for a socket with no direct path,
for the socket's life): an idle screen holds no task, and ten thousand
screens dropping at once wake none (``bench.fanout --storm``). A client
whose queue is full has fallen behind: it is closed with ``CLOSE_TOO_SLOW``
and resumes when it reconnects, while everyone else carries on. A client
that does not read its close frame within ``CLOSE_WAIT`` is cut off (the
README's "Close codes" says what each client sees); one that left is not
sent a close at all (``gone``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from server.auth import Principal
from server.features.broadcast_rules import Reader

log = logging.getLogger("muster.realtime")

#: Close codes (documented in docs/api.md, "Realtime").
CLOSE_TIMEOUT = 4000  # no hello in time, or no pong in time
CLOSE_BAD_HELLO = 4400
CLOSE_NO_TOKEN = 4401
CLOSE_RATE_LIMITED = 4429  # too many bad tokens from this address this minute
CLOSE_FORBIDDEN = 4403
CLOSE_NO_EVENT = 4404
CLOSE_TOO_SLOW = 4008
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN = 1013  # RFC 6455 "Try Again Later": the database is away during the hello

#: Seconds the writer waits to get a close frame out to a client that is not
#: reading; then the connection is cut off (``abort``: the client sees a reset).
CLOSE_WAIT = 10.0

SendText = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
#: Writes a message at once if the socket can take it without waiting; False if not.
WriteNow = Callable[[str], bool]
#: Drops the socket at once, whatever it still had to send.
Abort = Callable[[], None]


def reader_of_connection(conn: Connection) -> Reader:
    """What the audience rule knows of a socket: the facts read at its hello,
    or (none read) its role alone."""
    if conn.reader is not None:
        return conn.reader
    return Reader(conn.principal.account_id, conn.principal.role)


class Connection:
    """A subscribed socket: what it watches, its queue, and how to close it.

    Held once per socket, ten thousand at a time: slots, a list for the
    queue and a future for the writer's wake-up, not a ``__dict__``, a
    ``deque`` and ``asyncio.Event`` s (each of those holds a 760-byte deque);
    the writer task and ``closed`` are made only when needed.
    """

    __slots__ = (
        "_abort",
        "_aborted",
        "_close",
        "_closed",
        "_finished_already",
        "_gone",
        "_held",
        "_queue",
        "_send_text",
        "_sending",
        "_wake",
        "_write_now",
        "_writer",
        "close_code",
        "close_reason",
        "event_id",
        "id",
        "last_heard",
        "on_finished",
        "principal",
        "queue_size",
        "reader",
        "sent",
        "topics",
    )

    def __init__(
        self,
        send_text: SendText,
        close: Close,
        *,
        queue_size: int,
        principal: Principal,
        event_id: int,
        topics: tuple[str, ...],
        connection_id: str,
        write_now: WriteNow | None = None,
        abort: Abort | None = None,
    ) -> None:
        self._send_text = send_text
        self._write_now = write_now
        self._abort = abort
        self._close = close
        self.queue_size = queue_size
        self.principal = principal
        self.event_id = event_id
        self.topics = topics
        self.id = connection_id
        #: What the audience of a broadcast is checked against (read at the hello).
        self.reader: Reader | None = None
        self._queue: list[str] = []
        #: What the idle writer waits on; set when something is queued or the connection fails.
        self._wake: asyncio.Future[None] | None = None
        #: Topics still being primed (snapshot or replay being prepared):
        #: live messages for them wait here with their offsets.
        self._held: dict[str, list[tuple[int, str]]] = {}
        self._closed: asyncio.Event | None = None
        self._finished_already = False
        self.close_code: int | None = None
        self.last_heard = time.monotonic()
        self.sent = 0
        self.close_reason = ""
        #: The writer task, while there is one (see the module docstring).
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        self._aborted = False
        self._gone = False
        #: Called once the writer has finished (the socket is closed or broken).
        self.on_finished: Callable[[], None] | None = None

    # --- fed by the hub (synchronous, never blocks) -----------------------------

    def deliver(self, topic: str, offset: int, text: str) -> None:
        """A live message; drops the connection when its queue is full."""
        if self.close_code is not None:
            return
        if self._held:
            held = self._held.get(topic)
            if held is not None:
                held.append((offset, text))
                if len(held) > self.queue_size:
                    self.fail(CLOSE_TOO_SLOW, "fell behind")
                return
        if len(self._queue) >= self.queue_size:
            self.fail(CLOSE_TOO_SLOW, "fell behind")
            return
        self._send(text)

    def push(self, text: str) -> None:
        """A message that is part of catching up (snapshot, replay) or control:
        not counted against the queue limit, which is for live traffic."""
        if self.close_code is None:
            self._send(text)

    def _send(self, text: str) -> None:
        # Straight onto the socket only when no writer is at work (what it
        # holds goes first: order); else queued for the writer, made now if
        # there is none.
        if self._writer is None and self._write_now is not None and self._write_now(text):
            self.sent += 1
            return
        self._queue.append(text)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        else:
            self._wake_writer()

    def _wake_writer(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def hold(self, topics: tuple[str, ...]) -> None:
        for topic in topics:
            self._held.setdefault(topic, [])

    def release(self, topic: str, after: int, first: list[str]) -> None:
        """Send ``first`` (the snapshot or replay), then the live messages held
        meanwhile that are newer than ``after``."""
        held = self._held.pop(topic, [])
        for text in first:
            self.push(text)
        for offset, text in held:
            if offset > after:
                self.push(text)

    def heard(self) -> None:
        self.last_heard = time.monotonic()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def fail(self, code: int, reason: str) -> None:
        """Close without waiting: the queue is dropped and the socket closed.

        A writer stuck sending to a client that stopped reading is cancelled:
        its send would never finish.
        """
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        self._stop()

    def gone(self) -> None:
        """The client has left (its socket is closed): stop, and send nothing,
        not even a close frame."""
        self._gone = True
        if self.close_code is None:
            self.close_code, self.close_reason = CLOSE_GOING_AWAY, "gone"
            self._stop()

    def _stop(self) -> None:
        self._queue.clear()
        self._held.clear()
        if self._writer is None:
            if self._gone:
                self._finished()
            else:
                self._writer = asyncio.create_task(self._write())  # it says goodbye
        elif self._sending:
            self._aborted = True
            self._writer.cancel()
        else:
            self._wake_writer()

    @property
    def writer(self) -> asyncio.Task[None] | None:
        """The writer task, while there is one: sending what had to wait, or the close."""
        return self._writer

    # --- the writer task ------------------------------------------------------------

    async def _write(self) -> None:
        """Send queued text; then, with a direct path, end until a send must
        wait again; once the connection is failed or the socket breaks, close."""
        try:
            while self.close_code is None:
                while self._queue:
                    text = self._queue.pop(0)  # at most queue_size: a list is small and fast
                    self._sending = True
                    await self._send_text(text)
                    self._sending = False
                    self.sent += 1
                if self.close_code is not None:
                    break
                if self._write_now is not None:
                    self._writer = None  # the next message goes straight again
                    return
                self._wake = asyncio.get_running_loop().create_future()
                await self._wake
                self._wake = None
        except asyncio.CancelledError:
            if not self._aborted:
                self._finished()
                raise
        except Exception as exc:  # the client went away mid-send
            log.debug("socket %s: send failed: %s", self.id, exc)
            if self.close_code is None:
                self.close_code, self.close_reason = CLOSE_GOING_AWAY, "gone"
            self._finished()
            return
        if self._gone:
            self._finished()
            return
        # A client that stopped reading gets the close frame once it reads
        # again (it waits behind what was already on its way). After
        # CLOSE_WAIT the server gives up on saying goodbye and cuts the
        # socket off: closing it gracefully would keep its unsent buffers
        # for as long as the client does not read, which may be for ever.
        try:
            await asyncio.wait_for(
                self._close(self.close_code or 1000, self.close_reason), CLOSE_WAIT
            )
        except TimeoutError:
            if self._abort is not None:
                self._abort()
        except Exception:  # the client went away meanwhile
            pass
        self._finished()

    @property
    def closed(self) -> asyncio.Event:
        """Set once the writer has finished (the socket is closed or broken)."""
        if self._closed is None:
            self._closed = asyncio.Event()
            if self._finished_already:
                self._closed.set()
        return self._closed

    def _finished(self) -> None:
        if self._finished_already:
            return
        self._finished_already = True
        if self._closed is not None:
            self._closed.set()
        if self.on_finished is not None:
            self.on_finished()
