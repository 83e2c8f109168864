"""Getting a message onto a socket with the least work per socket.

The hub sends the same text to thousands of sockets. Through ASGI each send
is a chain of coroutines (Starlette's ``WebSocket.send``, its exception
wrapper, uvicorn's ``send``), a fresh frame built by the websockets protocol
(the text encoded to UTF-8 again, a header, a join) and, since the writer
of each connection is its own task, a task switch to get there: some tens
of microseconds a socket, which at 5,000 sockets is most of a 5-a-second
update interval on this machine (``bench.fanout``).

Server-to-client frames are not masked, so the bytes of a text frame are
the same for every socket: ``text_frame`` builds them once per message, and
a ``DirectWriter`` hands them straight to the socket's transport,
synchronously, from the hub's fan-out loop. It only does so when that is
exactly what uvicorn would have done: the connection is uvicorn's
``websockets-sansio`` protocol (the default with ``websockets`` installed),
open, not closing, and its transport is not over its high-water mark. In
any other case it declines, and the message goes the ordinary way (the
connection's queue and writer task, ``await websocket.send_text``), which
also waits for a paused transport — so flow control, the bounded queue and
the 4008 drop of a slow client are unchanged. Under another ASGI server
every message goes the ordinary way.
"""

from __future__ import annotations

import struct
from typing import Any

from starlette.websockets import WebSocket

try:  # pragma: no branch
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - uvicorn without websockets
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]


def frame_header(size: int) -> bytes:
    """The header of an unmasked, final text frame of ``size`` payload bytes (RFC 6455 5.2)."""
    if size < 126:
        return bytes((0x81, size))
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)


#: Texts of at least this many characters keep their frame in a slot of
#: their own (``FrameCache``).
LARGE_TEXT = 4096


class FrameCache:
    """The frame of the last text asked for: a fan-out asks for the same
    ``str`` object once per socket, and gets the bytes built the first time.

    Large texts (a shared snapshot, ``Priming._prime_shared``) have a second
    slot: phones joining together each get a small welcome of their own
    between two sends of the same snapshot, and one slot would build the
    snapshot's frame (tens of KB) again for every one of them.
    """

    __slots__ = ("frame", "large", "large_frame", "text")

    def __init__(self) -> None:
        self.text: str | None = None
        self.frame = b""
        self.large: str | None = None
        self.large_frame = b""

    def __call__(self, text: str) -> bytes:
        if text is self.text:
            return self.frame
        if text is self.large:
            return self.large_frame
        payload = text.encode()
        frame = frame_header(len(payload)) + payload
        if len(text) >= LARGE_TEXT:
            self.large, self.large_frame = text, frame
        else:
            self.text, self.frame = text, frame
        return frame


text_frame = FrameCache()


class DirectWriter:
    """Writes whole text frames straight to one uvicorn websocket's transport.

    ``__call__`` returns False, having written nothing, whenever the
    ordinary path must be taken instead (see the module docstring).
    """

    __slots__ = ("protocol", "transport")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport = protocol.transport

    def __call__(self, text: str) -> bool:
        protocol = self.protocol
        if (
            protocol.close_sent
            or protocol.disconnected
            or not protocol.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        try:
            self.transport.write(text_frame(text))
        except Exception:  # a transport that broke just now: the writer's send will say so
            return False
        return True

    def abort(self) -> None:
        """Drop the connection now, unsent data and all (the client sees a reset)."""
        self.transport.abort()


def direct_writer(websocket: WebSocket) -> DirectWriter | None:
    """A DirectWriter for an accepted websocket served by uvicorn's sans-I/O
    protocol, else None.

    The protocol is found through ``receive``, which Starlette and our
    middleware pass down unwrapped (``send`` is wrapped by Starlette's
    exception handling).
    """
    if WebSocketsSansIOProtocol is None:
        return None
    protocol = getattr(websocket._receive, "__self__", None)
    if not isinstance(protocol, WebSocketsSansIOProtocol) or not protocol.handshake_complete:
        return None
    return DirectWriter(protocol)
