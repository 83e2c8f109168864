"""``WS /ws/events/{event_id}``: the realtime topics of one event.

Nothing is sent before the client's ``hello`` has been checked: its token
(browsers cannot set headers on a websocket, and a token in the URL ends up
in logs), its rights on the event, and its rights on every topic it asks
for. The protocol, with examples and close codes, is in docs/api.md
("Realtime").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, Field, ValidationError
from starlette.routing import WebSocketRoute
from starlette.types import Scope
from starlette.websockets import WebSocket

from realtime import topics as topic_registry
from realtime.connection import (
    CLOSE_BAD_HELLO,
    CLOSE_FORBIDDEN,
    CLOSE_GOING_AWAY,
    CLOSE_NO_EVENT,
    CLOSE_NO_TOKEN,
    CLOSE_RATE_LIMITED,
    CLOSE_TIMEOUT,
    CLOSE_TRY_AGAIN,
    Connection,
)
from realtime.core import Since, encode
from realtime.hub import HUB, Hub
from realtime.wire import direct_writer
from server.auth import DOOR, EVERYONE, Principal, check_rights
from server.availability import RETRY_AFTER_SECONDS
from server.context import muster
from server.errors import Forbidden, TooManyRequests, unavailable_response
from server.features.broadcast_rules import Reader
from server.features.broadcasts import reader_of
from server.models import Event
from server.rate_limits import client_address

log = logging.getLogger("muster.realtime")

HELLO_TIMEOUT = 10.0
#: Largest message a client may send (a hello with every topic's position is < 1 KB).
MAX_CLIENT_MESSAGE = 16 * 1024


class SinceIn(BaseModel):
    epoch: Annotated[str, Field(max_length=64)]
    offset: Annotated[int, Field(ge=0)]


class HelloIn(BaseModel):
    type: str
    token: Annotated[str, Field(min_length=1, max_length=200)]
    topics: Annotated[list[str], Field(min_length=1, max_length=len(topic_registry.TOPICS))]
    since: dict[str, SinceIn] = Field(default_factory=dict)


class HelloRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def parse_hello(raw: str) -> HelloIn:
    """The hello, or HelloRefused(4400) saying what is wrong with it."""
    if len(raw) > MAX_CLIENT_MESSAGE:
        raise HelloRefused(CLOSE_BAD_HELLO, "hello too large")
    try:
        hello = HelloIn.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0][:100]
        raise HelloRefused(CLOSE_BAD_HELLO, f"bad hello: {first}") from None
    if hello.type != "hello":
        raise HelloRefused(CLOSE_BAD_HELLO, "the first message must be a hello")
    unknown = [t for t in hello.topics if t not in topic_registry.TOPICS]
    if unknown:
        raise HelloRefused(CLOSE_BAD_HELLO, f"unknown topic {unknown[0]}")
    return hello


def check_topics(principal: Principal, event_id: int, wanted: list[str]) -> None:
    """HelloRefused(4403) unless the principal may watch every wanted topic of the event."""
    try:
        check_rights(principal, event_id, EVERYONE)
    except Forbidden as exc:
        raise HelloRefused(CLOSE_FORBIDDEN, exc.message) from None
    for topic in wanted:
        if principal.role not in topic_registry.TOPIC_ROLES[topic]:
            raise HelloRefused(CLOSE_FORBIDDEN, f"the {principal.role} role may not watch {topic}")


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code, reason[:120])


async def _welcome(websocket: WebSocket, event_id: int) -> tuple[HelloIn, Principal]:
    ctx = muster(websocket)
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT)
    except TimeoutError:
        raise HelloRefused(CLOSE_TIMEOUT, "no hello") from None
    except KeyError:  # a binary frame
        raise HelloRefused(CLOSE_BAD_HELLO, "the hello must be a text frame") from None
    hello = parse_hello(raw)
    principal = await ctx.tokens.verify(hello.token)
    if principal is None:
        # Counted with the HTTP routes' failed tokens (``server.auth.authenticate``).
        try:
            await ctx.limits.count(ctx.limits.auth_failures, client_address(websocket))
        except TooManyRequests:
            raise HelloRefused(CLOSE_RATE_LIMITED, "too many invalid tokens") from None
        raise HelloRefused(CLOSE_NO_TOKEN, "the token is not valid")
    check_topics(principal, event_id, hello.topics)
    hub = ctx.part(HUB)
    if hub is None or event_id not in hub.events_seen:
        async with ctx.db.reading() as session:
            if await session.get(Event, event_id) is None:
                raise HelloRefused(CLOSE_NO_EVENT, f"no event {event_id}")
        if hub is not None:
            hub.events_seen.add(event_id)
    return hello, principal


async def _database_away(websocket: WebSocket) -> None:
    """The hello met an unreachable database: say so, and close with 1013 (try again later)."""
    with contextlib.suppress(Exception):
        await websocket.send_text(
            encode(
                {
                    "type": "error",
                    "code": "database_unavailable",
                    "message": "The database is unavailable; try again shortly.",
                    "retry_after": RETRY_AFTER_SECONDS,
                }
            )
        )
    await _refuse(websocket, CLOSE_TRY_AGAIN, "database unavailable")


async def _reader(websocket: WebSocket, principal: Principal, event_id: int) -> Reader | None:
    """The roster facts a broadcast's audience is checked against; None (the
    role alone) when the database is away: the phone gets fewer, never more."""
    ctx = muster(websocket)
    try:
        return await reader_of(ctx.db, principal, event_id)
    except Exception as exc:
        if not ctx.db.health.absorb(exc):
            log.exception("reading the roster facts of a socket failed")
        return None


async def realtime_socket(websocket: WebSocket) -> None:
    """The realtime topics of one event (a websocket; see docs/api.md, "Realtime")."""
    health = muster(websocket).db.health
    if not health.available and "websocket.http.response" in websocket.scope.get("extensions", {}):
        # Known to be away: refuse the upgrade itself, as HTTP routes answer.
        await websocket.send_denial_response(unavailable_response(health))
        return
    await websocket.accept()
    try:
        event_id = int(websocket.path_params["event_id"])
    except ValueError:
        await _refuse(websocket, CLOSE_NO_EVENT, "no such event")
        return
    try:
        hello, principal = await _welcome(websocket, event_id)
    except HelloRefused as refused:
        await _refuse(websocket, refused.code, refused.reason)
        return
    except Exception as exc:
        if health.absorb(exc):
            health.refused += 1
            await _database_away(websocket)
        return  # else the client left during the hello
    hub = muster(websocket).part(HUB)
    if hub is None:
        await _refuse(websocket, 1011, "realtime is not running")
        return
    wanted = list(dict.fromkeys(hello.topics))
    since = {t: Since(s.epoch, s.offset) for t, s in hello.since.items()}
    del hello  # not kept for the socket's life (its token, its model: ~0.5 KB a socket)
    missing = [t for t in wanted if t not in hub.providers]
    direct = direct_writer(websocket)
    conn = Connection(
        websocket.send_text,
        websocket.close,
        queue_size=hub.settings.ws_queue_size,
        principal=principal,
        event_id=event_id,
        topics=tuple(t for t in wanted if t not in missing),
        connection_id=uuid.uuid4().hex[:16],
        write_now=direct,
        abort=direct.abort if direct is not None else None,
    )
    if any(t in topic_registry.AUDIENCE_TOPICS for t in conn.topics):
        conn.reader = await _reader(websocket, principal, event_id)
    conn.push(
        encode(
            {
                "type": "welcome",
                "event": event_id,
                "role": principal.role,
                "topics": list(conn.topics),
                "ping_interval": hub.settings.ws_ping_interval,
            }
        )
    )
    for topic in missing:
        conn.push(
            encode(
                {
                    "type": "error",
                    "topic": topic,
                    "code": "topic_unavailable",
                    "message": f"The {topic} topic is not available on this server.",
                }
            )
        )
    is_door = principal.role == DOOR
    if is_door:
        hub.devices.connected(principal.account_id, event_id, principal.gate_id, conn.id)
    # When the writer ends (the hub dropped a slow client, or a ping went
    # unanswered), stop waiting for the client to speak: a stalled client
    # never will, and this handler would hold its subscriptions for ever.
    handler = asyncio.current_task()
    listening = True
    abandoned = False

    def stop_listening() -> None:
        nonlocal abandoned
        if listening and handler is not None:
            abandoned = True
            handler.cancel()

    conn.on_finished = stop_listening
    left = False
    try:
        await hub.subscribe(conn, since)
        del since
        if principal.account_id in muster(websocket).tokens.revoked:
            # Revoked between its hello and now: the hub's sweep missed it.
            conn.fail(CLOSE_NO_TOKEN, "token revoked")
        await _listen(websocket, conn, hub)
        left = True
    except asyncio.CancelledError:
        if not abandoned or handler is None:
            raise
        handler.uncancel()
    finally:
        listening = False
        hub.unsubscribe(conn)
        if is_door:
            hub.devices.disconnected(principal.account_id, conn.id)
        if left:
            conn.gone()  # nothing to say to a socket that is closed
        else:
            conn.fail(CLOSE_GOING_AWAY, "closing")
        writer = conn.writer
        if writer is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer, 6)


async def _listen(websocket: WebSocket, conn: Connection, hub: Hub) -> None:
    """Read what the client says until it leaves: pongs, pings, door status."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        conn.heard()
        raw = message.get("text")
        if raw is None or len(raw) > MAX_CLIENT_MESSAGE:
            conn.push(_client_error("bad_message", "Send JSON text messages."))
            continue
        try:
            said: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            conn.push(_client_error("bad_message", "The message is not JSON."))
            continue
        kind = said.get("type") if isinstance(said, dict) else None
        if kind == "pong":
            continue
        if kind == "ping":
            conn.push(encode({"type": "pong", "t": said.get("t")}))
        elif kind == "status":
            _door_status(said, conn, hub)
        else:
            conn.push(_client_error("unknown_message", f"Unknown message type {kind!r}."))


def _door_status(said: dict[str, Any], conn: Connection, hub: Hub) -> None:
    """``{"type": "status", "queue": n, "gate": g}`` from a door device."""
    queue, gate = said.get("queue"), said.get("gate")
    if conn.principal.role != DOOR:
        conn.push(_client_error("not_a_door", "Only door devices report status."))
        return
    if not isinstance(queue, int) or isinstance(queue, bool) or queue < 0:
        conn.push(_client_error("bad_status", "queue must be a whole number ≥ 0."))
        return
    if gate is not None and (not isinstance(gate, int) or isinstance(gate, bool)):
        conn.push(_client_error("bad_status", "gate must be a gate id."))
        return
    hub.devices.reported(conn.principal.account_id, conn.id, queue, gate)


def _client_error(code: str, message: str) -> str:
    return encode({"type": "error", "code": code, "message": message})


routes = [WebSocketRoute("/ws/events/{event_id}", realtime_socket)]

_PATH = re.compile(r"/ws/events/([^/]+)")


def realtime_path_params(scope: Scope) -> dict[str, str] | None:
    """The path parameters of a websocket to ``/ws/events/{event_id}``, or None:
    what the route above matches, for the app's fast path (``server.app.MusterApp``)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    found = _PATH.fullmatch(path)
    return None if found is None else {"event_id": found.group(1)}
