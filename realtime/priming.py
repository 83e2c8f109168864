"""Priming a socket on its hello: each topic's first messages, before the live ones.

- A state topic: the topic's current snapshot, computed once for the
  sockets that wait for its first one (``Priming._first_snapshot``).
- A stream topic: a replay of what the socket missed, when the history
  still holds it all and the epoch is the same (``realtime.core.plan_resume``);
  else a snapshot, read once for the sockets that ask within
  ``SHARED_SNAPSHOT_SECONDS`` for the big topics (``Priming._prime_shared``).
- A stream topic's history, loaded from its table on first use
  (``Priming._history``); the hub appends the live messages to it.

The hub (``realtime.hub``) owns one ``Priming`` and hands it the providers,
the state topics, the stream histories, the table readers and its own
computation of a state topic; the dicts are the hub's own, shared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from realtime.bus import TableReader
from realtime.connection import Connection, reader_of_connection
from realtime.core import (
    Replay,
    Since,
    StateTopic,
    StreamHistory,
    Throttle,
    encode,
    frame,
    plan_resume,
)
from realtime.topics import AUDIENCE_TOPICS, Provider
from server.db import Database
from server.features.broadcast_rules import audience_of, shown_to
from server.settings import Settings

log = logging.getLogger("muster.realtime")

Key = tuple[int, str]

#: Stream topics whose snapshot is made once for the sockets that ask within
#: ``SHARED_SNAPSHOT_SECONDS`` (``Priming._prime_shared``): the big ones, and those
#: every screen watches (a venue's screens loading at once would each read
#: them). Not the audience topics: their snapshot differs per socket.
SHARED_SNAPSHOTS = frozenset({"admissions", "annulments", "incidents", "alerts"})
#: How long a shared snapshot is handed out (then with the messages since it).
SHARED_SNAPSHOT_SECONDS = 2.0


@dataclass(slots=True)
class SharedSnapshot:
    """A stream topic's snapshot as of ``offset``, and its text per reason."""

    offset: int
    data: Any
    made: float
    texts: dict[str, str] = field(default_factory=dict)


def _shown(text: str, conn: Connection) -> bool:
    """Whether a replayed message of an audience topic is for this socket."""
    audience = audience_of(orjson.loads(text).get("data", {}).get("audience"))
    return shown_to(audience, reader_of_connection(conn))


class Priming:
    """The first messages of each topic a socket subscribes to (``Hub.subscribe``)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        providers: Mapping[str, Provider],
        states: dict[Key, StateTopic],
        histories: dict[Key, StreamHistory],
        reader_of: Mapping[str, TableReader],
        compute: Callable[[Key, StateTopic], Awaitable[None]],
    ) -> None:
        self.db = db
        self.settings = settings
        #: The hub's providers (the same dict: a test may swap one in).
        self.providers = providers
        self.states = states
        self.histories = histories
        self._reader_of = reader_of
        #: ``Hub._compute``: a state topic's snapshot, computed and sent.
        self._compute = compute
        #: The database's epoch (``bus_epoch``), set when the hub starts.
        self.bus_epoch = ""
        self._history_loads: dict[Key, asyncio.Future[StreamHistory]] = {}
        self._shared: dict[Key, SharedSnapshot | asyncio.Future[SharedSnapshot]] = {}
        #: The first computation of a state topic, shared by its first subscribers.
        self._first_snapshots: dict[Key, tuple[StateTopic, asyncio.Future[None]]] = {}

    async def prime_state(self, conn: Connection, topic: str) -> None:
        key = (conn.event_id, topic)
        state = self.states.get(key)
        if state is None:
            state = StateTopic(Throttle(self.settings.state_updates_per_second))
            self.states[key] = state
        if state.snapshot_text is None:
            await self._first_snapshot(key, state)
        if state.snapshot_text is None:  # the provider failed
            failed = self._error(topic, state.failed_code, "The snapshot failed.")
            conn.release(topic, 0, [failed])
            return
        conn.release(topic, state.offset, [state.snapshot_text])

    async def _first_snapshot(self, key: Key, state: StateTopic) -> None:
        """A state topic's first snapshot, computed once for every socket that
        waits for it: when every socket drops at once (a Wi-Fi outage), the
        topic is forgotten and thousands come back within the same second —
        each computing its own would be thousands of reads (``bench.fanout
        --storm``)."""
        pending = self._first_snapshots.get(key)
        if pending is None or pending[0] is not state:
            pending = (state, asyncio.ensure_future(self._compute(key, state)))
            self._first_snapshots[key] = pending
            pending[1].add_done_callback(lambda _done: self._forget_first(key, pending))
        await asyncio.shield(pending[1])

    def _forget_first(self, key: Key, pending: tuple[StateTopic, asyncio.Future[None]]) -> None:
        if self._first_snapshots.get(key) is pending:
            del self._first_snapshots[key]

    async def prime_stream(self, conn: Connection, topic: str, since: Since | None) -> None:
        key = (conn.event_id, topic)
        history = await self._history(key)
        plan = plan_resume(history, self.bus_epoch, since)
        if isinstance(plan, Replay):
            assert since is not None
            if topic in AUDIENCE_TOPICS:
                plan = Replay([m for m in plan.messages if _shown(m, conn)])
            resume = encode(
                {
                    "type": "resume",
                    "topic": topic,
                    "epoch": self.bus_epoch,
                    "offset": since.offset,
                    "count": len(plan.messages),
                }
            )
            conn.release(topic, max(since.offset, history.last), [resume, *plan.messages])
            return
        if topic in SHARED_SNAPSHOTS:
            await self._prime_shared(conn, key, history, plan.reason)
            return
        offset = history.last
        try:
            data = await self.providers[topic](self.db, conn.event_id)
        except Exception as exc:
            conn.release(topic, offset, [self._snapshot_failed(topic, conn.event_id, exc)])
            return
        conn.release(topic, offset, [self._snapshot_text(topic, offset, plan.reason, data)])

    def _snapshot_text(self, topic: str, offset: int, reason: str, data: Any) -> str:
        return encode(
            {
                "type": "snapshot",
                "topic": topic,
                "epoch": self.bus_epoch,
                "offset": offset,
                "reason": reason,
                "data": data,
            }
        )

    async def _prime_shared(
        self, conn: Connection, key: Key, history: StreamHistory, reason: str
    ) -> None:
        """A snapshot read once for the sockets that ask within
        ``SHARED_SNAPSHOT_SECONDS``, followed by what was published since it:
        exact, like one read for this socket alone.

        After a Wi-Fi drop every door phone of the event reconnects in the same
        few seconds; each one reading and encoding the whole admitted set was
        a read of every ticket per phone, and a copy of it per socket until
        sent. Shared, the text is held once (the sockets' queues point at it).

        What follows the snapshot: the history after its offset, when the
        history still holds it all; else the messages this socket has held
        since it subscribed, when the snapshot is no older than that (its
        offset at least ``mark``); else (a read that began before this socket
        came, in a rush the history no longer covers) a read begun now.
        """
        topic = key[1]
        mark = history.last  # every message after this is held for the socket
        while True:
            try:
                shared = await self._shared_snapshot(key, history)
            except Exception as exc:
                conn.release(topic, history.last, [self._snapshot_failed(topic, key[0], exc)])
                return
            since = history.after(shared.offset)
            if since is not None or shared.offset >= mark:
                break
            if self._shared.get(key) is shared:
                del self._shared[key]  # the next read begins after ``mark``
        text = shared.texts.get(reason)
        if text is None:
            text = self._snapshot_text(topic, shared.offset, reason, shared.data)
            shared.texts[reason] = text
        if since is None:
            conn.release(topic, shared.offset, [text])
        else:
            conn.release(topic, history.last, [text, *since])

    async def _shared_snapshot(self, key: Key, history: StreamHistory) -> SharedSnapshot:
        """The topic's shared snapshot, read by at most one read at a time."""
        found = self._shared.get(key)
        if isinstance(found, SharedSnapshot):
            if time.monotonic() - found.made < SHARED_SNAPSHOT_SECONDS:
                return found
        elif found is not None:
            return await asyncio.shield(found)
        future: asyncio.Future[SharedSnapshot] = asyncio.get_running_loop().create_future()
        self._shared[key] = future
        try:
            offset = history.last
            data = await self.providers[key[1]](self.db, key[0])
        except BaseException as exc:
            if self._shared.get(key) is future:
                del self._shared[key]
            future.set_exception(exc)
            future.exception()  # retrieved: a waiter may or may not exist
            raise
        # Aged from when it was read: under load a read can take a second.
        shared = SharedSnapshot(offset, data, time.monotonic())
        future.set_result(shared)
        if self._shared.get(key) is future:
            self._shared[key] = shared
        return shared

    def forget_shared(self, event_id: int, topic: str) -> None:
        """Make the next subscriber read a fresh snapshot (a change no message tells).

        A read in flight is forgotten too: it may have begun before the change.
        """
        self._shared.pop((event_id, topic), None)

    async def _history(self, key: Key) -> StreamHistory:
        """The topic's history, loaded from its table on first use."""
        found = self.histories.get(key)
        if found is not None:
            return found
        loading = self._history_loads.get(key)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[StreamHistory] = asyncio.get_running_loop().create_future()
        self._history_loads[key] = future
        try:
            history = await self._load_history(key)
            future.set_result(history)
            return history
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a waiter may or may not exist
            raise
        finally:
            del self._history_loads[key]

    async def _load_history(self, key: Key) -> StreamHistory:
        event_id, topic = key
        reader = self._reader_of[topic]
        size = self.settings.history_size
        # Live messages from here on go into ``live``; what the table holds up
        # to the reader's position now is loaded below and goes before them.
        upto = reader.position
        live = StreamHistory(size, floor=upto)
        self.histories[key] = live
        try:
            async with self.db.reading() as session:
                rows = await reader.source.recent(session, event_id, topic, upto, size + 1)
        except BaseException:
            del self.histories[key]
            raise
        floor = 0
        if len(rows) > size:
            floor, rows = rows[0][0], rows[1:]
        history = StreamHistory(size, floor=floor)
        for offset, data in rows:
            history.append(
                offset, frame("update", topic, self.bus_epoch, offset, orjson.dumps(data))
            )
        for offset, text in live.items():
            history.append(offset, text)
        self.histories[key] = history
        return history

    def _error(self, topic: str, code: str, message: str) -> str:
        return encode({"type": "error", "topic": topic, "code": code, "message": message})

    def _snapshot_failed(self, topic: str, event_id: int, exc: BaseException) -> str:
        """The error message for a snapshot that failed; logged unless the database is away."""
        if self.db.health.absorb(exc):
            return self._error(topic, "database_unavailable", "The database is unavailable.")
        log.error("snapshot of %s for event %d failed", topic, event_id, exc_info=exc)
        return self._error(topic, "snapshot_failed", "The snapshot failed.")
