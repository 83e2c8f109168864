"""The hub of one server process: who watches what, and getting it to them.

- Stream topics: the table readers (``realtime.bus``) hand over new rows;
  each message is encoded once, kept in the topic's history and appended to
  every subscriber's queue. Offsets are database ids and the epoch is the
  database's (``bus_epoch``), so a client may resume on any process.
- State topics: a change marks the topic of the event dirty; the state loop
  recomputes the snapshot (through the topic's provider) at most
  ``MUSTER_STATE_UPDATES_PER_SECOND`` times a second and sends it as an
  update when it differs from the last one. A change during a slow
  recomputation starts another beside it (at most two in flight,
  ``realtime.core.COMPUTES_IN_FLIGHT``); the result of the one begun
  later wins, an older one ending after it is dropped. Their offsets count this
  process's updates and their epoch is this process's own: a client that
  reconnects (here or elsewhere) always gets a fresh snapshot of a state
  topic, which is the whole state, so nothing can be missed.
- The headcount and the gates' picture add up the scan log: a hub given
  ``ScanTallies`` (``server.features.scan_tally``) keeps those sums from
  its scans reader, which hands it every row, and marks the two topics
  when the rows arrive, not when a scan commits (their figures would not
  have the scan yet).
- Revoked tokens: read from ``token_revocations`` like a stream, never
  sent; each one is dropped from the token cache and its sockets closed
  with 4401 (``on_revoked``).
- A socket that subscribes is primed (``realtime.priming``, owned here):
  each topic's snapshot or replay goes first, its live messages after.
- Every ``MUSTER_WS_PING_INTERVAL`` each socket gets a ping; one that has
  said nothing for the interval plus ``MUSTER_WS_PING_TIMEOUT`` is closed.

Start it as a part of the app (``realtime.hub.run_hub``); the websocket
endpoint finds it with ``Muster.part(HUB)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from sqlalchemy import select

from realtime.bus import PgSignal, TableReader
from realtime.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_NO_TOKEN,
    CLOSE_TIMEOUT,
    Connection,
    reader_of_connection,
)
from realtime.core import Since, StateTopic, StreamHistory, encode, frame
from realtime.gates import DeviceTracker
from realtime.priming import Key, Priming
from realtime.tables import SOURCES, BusItem, Scans, TokenRevocations
from realtime.topics import AUDIENCE_TOPICS, ROSTER, STATE_TOPICS, Provider
from server.background import running
from server.context import Muster, Slot
from server.features.broadcast_rules import SCREEN_ROLES, audience_of, shown_to
from server.features.broadcasts import readers_now
from server.features.scan_tally import ScanTallies
from server.models import BusEpoch

log = logging.getLogger("muster.realtime")

#: Sockets a state update is written to before its fan-out lets the event
#: loop run the rest of its work (door requests, handshakes): a slice is
#: ~1.5 ms of writes here, where 5,000 in one go held a door's answer for
#: ~0.1-0.2 s under load (``Hub._spread``, ``bench.fanout``); with slices of
#: 500 the doors' p99 in a 10,000-screen rush was 148-159 ms, with 100 it is
#: 80-117 ms (50: 108), the fan-out no slower.
FAN_OUT_SLICE = 100

#: The state topics whose figures a hub with ``ScanTallies`` keeps from the scan log.
TALLIED = ("headcount", "gates")
#: Sockets subscribing within a second that make a reconnect storm (``Hub.storming``).
STORM_ARRIVALS = 200
#: Seconds between a state topic's updates during a storm.
STORM_UPDATE_SPACING = 1.0


class Hub:
    def __init__(
        self,
        ctx: Muster,
        providers: Mapping[str, Provider],
        tallies: ScanTallies | None = None,
    ) -> None:
        self.ctx = ctx
        #: The scan log's sums that the providers of ``TALLIED`` read, kept here.
        self.tallies = tallies
        #: Each topic's snapshot provider, as the app factory hands them; a
        #: topic with none is refused at the hello (``topic_unavailable``).
        self.providers = dict(providers)
        self.settings = ctx.settings
        self.process_epoch = uuid.uuid4().hex[:12]
        self.bus_epoch = ""
        self.subscribers: dict[Key, set[Connection]] = {}
        self.connections: set[Connection] = set()
        self.histories: dict[Key, StreamHistory] = {}
        self.states: dict[Key, StateTopic] = {}
        #: Events seen to exist (events are never deleted): a hello asks the
        #: database only the first time (realtime.ws).
        self.events_seen: set[int] = set()
        self._state_woken = asyncio.Event()
        self.readers = {
            source.name: TableReader(
                ctx.db,
                source,
                self._on_scans if source.name == Scans.name else self.on_rows,
                # With tallies, a scan's topics are marked when its row is
                # summed (``_on_scans``), not when read past a gap before it.
                (lambda _items: None)
                if tallies is not None and source.name == Scans.name
                else self.on_touched,
                self.settings.bus_poll_interval,
                self.settings.bus_notify_interval,
            )
            for source in SOURCES
        }
        revoked_tokens = TokenRevocations()
        self._revocations = self.readers[revoked_tokens.name] = TableReader(
            ctx.db,
            revoked_tokens,
            self.on_revoked,
            lambda _items: None,
            self.settings.bus_poll_interval,
            self.settings.bus_notify_interval,
        )
        self._reader_of = {topic: r for r in self.readers.values() for topic in r.source.topics}
        #: Each topic's first messages to a socket that subscribes (``realtime.priming``).
        self.priming = Priming(
            ctx.db,
            self.settings,
            self.providers,
            self.states,
            self.histories,
            self._reader_of,
            self._compute,
        )
        self.signal: PgSignal | None = None
        if not ctx.db.is_sqlite:
            self.signal = PgSignal(
                str(self.settings.database_url),
                self.process_epoch,
                self.settings.bus_notify_interval,
                self.on_hint,
                ctx.db.health,
            )
        self.devices = DeviceTracker(ctx.db, lambda event_id: self.on_commit(event_id, ("gates",)))
        self.deliveries = 0
        self.updates = 0
        #: Stream rows held while a roster change is read (``on_rows``); None: none held.
        self._held: list[BusItem] | None = None
        #: State updates waiting for their fan-out (``_spread``): the newest per topic.
        self._spread_next: dict[Key, tuple[int, str]] = {}
        self._spreading: set[Key] = set()
        #: Subscriptions in this second of the clock and in the one before (``storming``).
        self._arrival_second = 0
        self._arrivals = 0
        self._arrivals_before = 0

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        async with self.ctx.db.reading() as session:
            self.bus_epoch = (
                await session.scalar(select(BusEpoch.epoch).where(BusEpoch.id == 1)) or ""
            )
        self.priming.bus_epoch = self.bus_epoch
        for reader in self.readers.values():
            await reader.start()
        if self.tallies is not None:
            self.tallies.start(self.readers[Scans.name].position)
        self.ctx.listeners.append(self.on_commit)

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.ctx.listeners.remove(self.on_commit)
        for conn in list(self.connections):
            conn.fail(CLOSE_GOING_AWAY, "server shutting down")

    async def say_goodbye(self, wait: float) -> int:
        """Close every socket with 1001 (the server is going away) and wait,
        at most ``wait`` seconds, until their close frames are out; the number
        of sockets closed.

        ``muster serve`` calls this when it is told to stop, before uvicorn
        closes what is left with its own code (1012).
        """
        conns = list(self.connections)
        for conn in conns:
            conn.fail(CLOSE_GOING_AWAY, "server shutting down")
        waits = [asyncio.ensure_future(conn.closed.wait()) for conn in conns]
        if waits:
            _done, pending = await asyncio.wait(waits, timeout=wait)
            for waiting in pending:
                waiting.cancel()
        return len(conns)

    def background(self) -> list[Any]:
        jobs: list[Any] = [r.run() for r in self.readers.values()]
        jobs += [self._state_loop(), self._ping_loop(), self._poll_loop(), self.devices.run()]
        if self.signal is not None:
            jobs.append(self.signal.run())
        return jobs

    # --- changes coming in --------------------------------------------------------------

    def on_commit(self, event_id: int, topics: tuple[str, ...]) -> None:
        """``Muster.changed``: a transaction of this process committed.

        Only the readers of the stream topics named are woken (a batch of
        door scans wakes the scans reader, not the other two); the rest
        read at their next wake-up or poll.
        """
        self.mark(event_id, topics)
        for topic in topics:
            reader = self._reader_of.get(topic)
            if reader is not None:
                reader.wake()
        if self.signal is not None:
            self.signal.mark(event_id, topics)

    def on_hint(self, marks: dict[int, set[str]] | None) -> None:
        """Another process committed something (a NOTIFY arrived)."""
        for reader in self.readers.values():
            if reader is self._revocations and marks is not None:
                # Revocations are rare and always hinted: not one more read
                # per wake-up of a door rush (NOTIFY every few tens of ms).
                if not any(TokenRevocations.topics[0] in t for t in marks.values()):
                    continue
            reader.wake()
        if marks is None:
            self.mark_all()
            return
        for event_id, topics in marks.items():
            self.mark(event_id, tuple(topics))

    def mark(self, event_id: int, topics: tuple[str, ...] | list[str]) -> None:
        woke = False
        for topic in topics:
            state = self.states.get((event_id, topic))
            if state is not None:
                state.dirty = True
                woke = True
        if woke:
            self._state_woken.set()

    def mark_all(self) -> None:
        for state in self.states.values():
            state.dirty = True
        self._state_woken.set()

    def _on_scans(self, items: list[BusItem]) -> None:
        """New rows of the scan log, in id order: summed, then streamed."""
        if self.tallies is not None:
            position = self.readers[Scans.name].position
            for event_id in self.tallies.saw([item.row for item in items], position):
                self.mark(event_id, TALLIED)
        self.on_rows(items)

    def on_touched(self, items: list[BusItem]) -> None:
        """New rows from a table reader: the state topics they change."""
        for item in items:
            self.mark(item.event_id, item.dirty)

    def on_rows(self, items: list[BusItem]) -> None:
        """New rows from a table reader, in id order: stream messages.

        A ``roster`` row (a member or a shift changed, on any process) holds
        the rows after it until the open sockets' audience facts are read
        again (``_roster_changed``), so a broadcast sent after the organiser
        moved someone is checked against the new zone. Roster changes are
        human-paced; the hold lasts one read of the roster.
        """
        if self._held is not None:
            self._held.extend(items)
            return
        for n, item in enumerate(items):
            if item.topic == ROSTER:
                self._held = list(items[n + 1 :])
                asyncio.create_task(self._roster_changed(item.event_id))  # noqa: RUF006
                return
            if item.topic == "annulments":
                # The shared admitted set may hold the admission annulled; its
                # history does not say so (an annulled scan is no new row).
                self.priming.forget_shared(item.event_id, "admissions")
                if self.tallies is not None:
                    self.tallies.forget(item.event_id)
                    self.mark(item.event_id, TALLIED)
            if item.topic is not None and (item.event_id, item.topic) in self.histories:
                self.publish(item.event_id, item.topic, item.offset, item.message())

    async def _roster_changed(self, event_id: int) -> None:
        """Read the audience facts of the event's open phone sockets again
        (``server.features.broadcasts.readers_now``), then let the held rows through."""
        try:
            conns = [
                c
                for c in self.connections
                if c.event_id == event_id
                and c.reader is not None
                and c.principal.role not in SCREEN_ROLES
            ]
            phones = [(c.principal, c.reader.staff_id) for c in conns if c.reader is not None]
            readers = await readers_now(self.ctx.db, event_id, phones) if conns else []
            for conn, reader in zip(conns, readers, strict=True):
                conn.reader = reader
        except Exception as exc:
            # The sockets keep the facts they had; a database away is logged
            # once by its health.
            if not self.ctx.db.health.absorb(exc):
                log.exception("reading the roster facts of open sockets failed")
        finally:
            held, self._held = self._held or [], None
            self.on_rows(held)

    def on_revoked(self, items: list[BusItem]) -> None:
        """Tokens revoked on any process: refused here from now on, and their
        open sockets closed with 4401 (a phone takes that as final)."""
        accounts = {int(item.message()["account"]) for item in items}
        self.ctx.tokens.drop(accounts)
        for conn in list(self.connections):
            if conn.principal.account_id in accounts:
                conn.fail(CLOSE_NO_TOKEN, "token revoked")

    def publish(self, event_id: int, topic: str, offset: int, data: dict[str, Any]) -> None:
        key = (event_id, topic)
        history = self.histories.get(key)
        if history is None:
            return  # nobody has watched this topic of this event on this process
        text = frame("update", topic, self.bus_epoch, offset, orjson.dumps(data))
        if history.append(offset, text):
            if topic in AUDIENCE_TOPICS:
                self._fan_out_to_audience(key, offset, text, data)
            else:
                self._fan_out(key, offset, text)

    def _fan_out(self, key: Key, offset: int, text: str) -> None:
        subscribers = self.subscribers.get(key)
        if not subscribers:
            return
        for conn in subscribers:
            conn.deliver(key[1], offset, text)
        self.deliveries += len(subscribers)

    def _fan_out_to_audience(self, key: Key, offset: int, text: str, data: dict[str, Any]) -> None:
        """``_fan_out`` for a topic whose messages are for some sockets only
        (``broadcasts``: its audience, and every command screen); human-paced,
        so a check per socket costs nothing the other topics would notice."""
        subscribers = self.subscribers.get(key)
        if not subscribers:
            return
        audience = audience_of(data.get("audience"))
        for conn in subscribers:
            if shown_to(audience, reader_of_connection(conn)):
                conn.deliver(key[1], offset, text)
                self.deliveries += 1

    # --- subscribing ----------------------------------------------------------------------

    async def subscribe(self, conn: Connection, since: dict[str, Since]) -> None:
        """Register ``conn`` and queue each topic's snapshot or replay.

        Live messages that arrive while a snapshot is computed are held and
        sent after it, minus those the snapshot already covers.
        """
        self._arrived(int(time.monotonic()))
        conn.hold(conn.topics)
        self.connections.add(conn)
        for topic in conn.topics:
            self.subscribers.setdefault((conn.event_id, topic), set()).add(conn)
        for topic in conn.topics:
            if conn.close_code is not None:
                return
            if topic in STATE_TOPICS:
                await self.priming.prime_state(conn, topic)
            else:
                await self.priming.prime_stream(conn, topic, since.get(topic))

    def _arrived(self, second: int) -> None:
        if second != self._arrival_second:
            before = self._arrivals if second == self._arrival_second + 1 else 0
            self._arrival_second, self._arrivals, self._arrivals_before = second, 0, before
        self._arrivals += 1

    def storming(self, now: float) -> bool:
        """Whether sockets are coming back by the hundred (``STORM_ARRIVALS``
        in this second or the last): a Wi-Fi outage ended, a server restarted.

        Then the state topics' updates go out once a second at most
        (``STORM_UPDATE_SPACING``) instead of several times: each socket
        coming back gets the current snapshot anyway, and the event loop's
        time goes to the handshakes, hellos and replays of the thousands
        still waiting, and to the doors (``bench.fanout --storm``; the
        figures are in bench/README.md).
        """
        second = int(now)
        if second == self._arrival_second:
            return max(self._arrivals, self._arrivals_before) >= STORM_ARRIVALS
        return second == self._arrival_second + 1 and self._arrivals >= STORM_ARRIVALS

    def unsubscribe(self, conn: Connection) -> None:
        self.connections.discard(conn)
        for topic in conn.topics:
            key = (conn.event_id, topic)
            subscribers = self.subscribers.get(key)
            if subscribers is None:
                continue
            subscribers.discard(conn)
            if not subscribers:
                del self.subscribers[key]
                # Nobody left to keep current; the next subscriber recomputes.
                self.states.pop(key, None)
                self.priming.forget_shared(*key)
                if self.tallies is not None and not any(
                    (conn.event_id, t) in self.states for t in TALLIED
                ):
                    self.tallies.forget(conn.event_id)

    # --- state topics -------------------------------------------------------------------

    async def _compute(self, key: Key, state: StateTopic) -> None:
        """Recompute a state topic's snapshot and send it if it changed."""
        event_id, topic = key
        ticket = state.begin()
        state.dirty = False
        state.throttle.sent(time.monotonic())
        try:
            data = await self.providers[topic](self.ctx.db, event_id)
        except Exception as exc:
            # Tried again at the next poll (``_poll_loop``) or change.
            state.failed_code = (
                "database_unavailable" if self.ctx.db.health.absorb(exc) else "snapshot_failed"
            )
            if state.failed_code == "snapshot_failed":
                log.error("snapshot of %s for event %d failed", topic, event_id, exc_info=exc)
            return
        finally:
            state.end()
            if state.dirty:
                self._state_woken.set()
        if self.states.get(key) is not state:
            return  # everyone left meanwhile
        if not state.is_newest(ticket):
            return  # one begun later has already been sent
        data_json = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
        # "at" (when it was computed) differs every time: leave it out of the
        # comparison, or an unchanged picture would be sent at every poll.
        same_as = data_json
        if isinstance(data, dict) and "at" in data:
            same_as = orjson.dumps({k: v for k, v in data.items() if k != "at"})
        if not state.accept(same_as):
            return
        epoch = self.process_epoch
        first = state.snapshot_text is None
        state.snapshot_text = frame("snapshot", topic, epoch, state.offset, data_json)
        if not first:
            self.updates += 1
            self._spread(key, state.offset, frame("update", topic, epoch, state.offset, data_json))

    def _spread(self, key: Key, offset: int, text: str) -> None:
        """Send a state update to the topic's sockets, ``FAN_OUT_SLICE`` at a time.

        Between slices the event loop runs whatever else is ready: a door
        waiting for its answer, a screen's handshake. An update that comes
        while one is still on its way waits for that round to end and then
        goes to everyone; one newer still replaces it (a state update is the
        whole picture: a screen may skip one, never see one out of order).
        """
        self._spread_next[key] = (offset, text)
        if key not in self._spreading:
            self._spreading.add(key)
            asyncio.create_task(self._spread_rounds(key))  # noqa: RUF006

    async def _spread_rounds(self, key: Key) -> None:
        topic = key[1]
        try:
            while (news := self._spread_next.pop(key, None)) is not None:
                offset, text = news
                conns = list(self.subscribers.get(key, ()))
                self.deliveries += len(conns)
                for start in range(0, len(conns), FAN_OUT_SLICE):
                    if start:
                        await asyncio.sleep(0)
                    for conn in conns[start : start + FAN_OUT_SLICE]:
                        conn.deliver(topic, offset, text)
        finally:
            self._spreading.discard(key)

    async def _state_loop(self) -> None:
        while True:
            now = time.monotonic()
            wait: float | None = None
            spacing = STORM_UPDATE_SPACING if self.storming(now) else 0.0
            for key, state in list(self.states.items()):
                if not state.dirty or not state.may_begin() or state.snapshot_text is None:
                    continue
                delay = state.throttle.wait(now, spacing)
                if delay <= 0:
                    asyncio.create_task(self._compute(key, state))  # noqa: RUF006
                else:
                    wait = delay if wait is None else min(wait, delay)
            self._state_woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state_woken.wait(), wait)

    async def _poll_loop(self) -> None:
        """The safety net: every poll interval, recompute every watched state topic
        (a change another process made and whose hint was lost shows up here;
        gate health also ages by itself)."""
        while True:
            await asyncio.sleep(self.settings.bus_poll_interval)
            self.mark_all()

    # --- liveness --------------------------------------------------------------------------

    async def _ping_loop(self) -> None:
        interval = self.settings.ws_ping_interval
        deadline = interval + self.settings.ws_ping_timeout
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            ping = encode({"type": "ping", "t": int(time.time() * 1000)})
            for conn in list(self.connections):
                if now - conn.last_heard > deadline:
                    conn.fail(CLOSE_TIMEOUT, "no pong")
                else:
                    conn.push(ping)


#: Where the running hub is found (``Muster.part(HUB)``).
HUB: Slot[Hub] = Slot("hub")


@contextlib.asynccontextmanager
async def run_hub(
    ctx: Muster, providers: Mapping[str, Provider], tallies: ScanTallies | None = None
) -> AsyncIterator[Hub]:
    """The app part: start the hub, run its loops, stop it with the app."""
    hub = Hub(ctx, providers, tallies)
    await hub.start()
    try:
        with ctx.holding(HUB, hub):
            async with running(*hub.background()):
                yield hub
    finally:
        hub.stop()
