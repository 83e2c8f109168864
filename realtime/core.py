"""The pure core of the hub: history, resume decisions, rate limits, sequence gaps.

Nothing here does I/O or reads a clock: callers pass ``now``. The hub
(``realtime.hub``) and the table readers (``realtime.bus``) wrap these
decisions with the database and the sockets, and the unit tests in
``tests/realtime/test_core.py`` drive them with plain numbers.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson


def encode(message: dict[str, Any]) -> str:
    """A message as the JSON text sent on the wire: encoded once, sent to every socket."""
    return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS).decode()


def frame(kind: str, topic: str, epoch: str, offset: int, data_json: bytes) -> str:
    """A message around already-encoded data (the data is encoded once per change)."""
    head = encode({"type": kind, "topic": topic, "epoch": epoch, "offset": offset})
    return f'{head[:-1]},"data":{data_json.decode()}}}'


# --- stream history and resuming ----------------------------------------------


@dataclass(frozen=True)
class Since:
    """Where a client says it stopped on a topic."""

    epoch: str
    offset: int


class StreamHistory:
    """The last messages of one stream topic of one event, encoded, for replay.

    Holds every message with an offset above ``floor``: a client that last
    saw an offset at or above the floor can be replayed exactly; one below
    it has missed messages that are gone from memory.
    """

    def __init__(self, size: int, floor: int = 0) -> None:
        self.size = max(1, size)
        self.floor = floor
        self._offsets: deque[int] = deque()
        self._texts: deque[str] = deque()

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def last(self) -> int:
        """The newest offset held (the floor when empty)."""
        return self._offsets[-1] if self._offsets else self.floor

    def append(self, offset: int, text: str) -> bool:
        """Add a message; False (and nothing changes) unless its offset is new and higher."""
        if offset <= self.last:
            return False
        if len(self._offsets) >= self.size:
            self.floor = self._offsets.popleft()
            self._texts.popleft()
        self._offsets.append(offset)
        self._texts.append(text)
        return True

    def items(self) -> list[tuple[int, str]]:
        return list(zip(self._offsets, self._texts, strict=True))

    def after(self, offset: int) -> list[str] | None:
        """Every message after ``offset`` in order, or None when some are gone."""
        if offset < self.floor:
            return None
        start = bisect.bisect_right(self._offsets, offset)
        return [self._texts[i] for i in range(start, len(self._texts))]


@dataclass(frozen=True)
class Replay:
    """Send these messages (maybe none): the client then has everything."""

    messages: list[str]


@dataclass(frozen=True)
class Resnapshot:
    """The gap cannot be replayed; send a fresh snapshot, saying why.

    ``reason``: "new" (the client named no position), "epoch_changed" (its
    offsets are of another history) or "history_lost" (the messages it
    missed are no longer held).
    """

    reason: str


def plan_resume(history: StreamHistory, epoch: str, since: Since | None) -> Replay | Resnapshot:
    """Decide how a (re)connecting client catches up on a stream topic.

    Never a silent partial replay: either every message after the client's
    offset is still held, or it gets a snapshot with an explicit reason.
    A client ahead of this process (another process delivered a message this
    one has not read yet) gets nothing now and the rest as it arrives.
    """
    if since is None:
        return Resnapshot("new")
    if since.epoch != epoch:
        return Resnapshot("epoch_changed")
    missed = history.after(since.offset)
    if missed is None:
        return Resnapshot("history_lost")
    return Replay(missed)


# --- coalescing state topics ---------------------------------------------------


class Throttle:
    """At most ``per_second`` sends, with the first send after a quiet spell at once.

    A rush of changes becomes one update every ``1 / per_second`` seconds;
    a lone change is sent immediately (no trailing wait).
    """

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.next_allowed = float("-inf")

    def wait(self, now: float, spacing: float = 0.0) -> float:
        """Seconds until a send is allowed (0: now); ``spacing``: at least
        that long after the last send, when it is longer than the interval."""
        last = self.next_allowed - self.interval
        return max(0.0, self.next_allowed - now, last + spacing - now)

    def sent(self, now: float) -> None:
        self.next_allowed = now + self.interval


#: Recomputations of one state topic that may run at once. Under load one
#: takes longer than the updates' interval (the evacuation picture: 0.8-1.5 s
#: while 40 phones account); started only after the previous one ended, a
#: change just after a start waited for that one and all of the next (about
#: two computes); with a second one started at the next interval, about one.
COMPUTES_IN_FLIGHT = 2


@dataclass
class StateTopic:
    """What the hub keeps for one state topic of one event.

    ``offset`` counts this process's updates; the epoch of state topics is
    the hub's own (see ``realtime.hub``), so offsets from another process are
    never compared with these: a reconnecting client always gets a snapshot.
    """

    throttle: Throttle
    dirty: bool = True
    offset: int = 0
    data: bytes | None = None
    #: The current snapshot message, encoded (a new subscriber gets it as is).
    snapshot_text: str | None = None
    #: Recomputations in flight (at most ``COMPUTES_IN_FLIGHT``).
    computing: int = 0
    #: Recomputations begun so far, and the latest of them whose result was taken.
    begun: int = 0
    taken: int = 0
    #: Why the last computation failed: ``snapshot_failed`` or ``database_unavailable``.
    failed_code: str = "snapshot_failed"

    def may_begin(self) -> bool:
        """Whether another recomputation may start beside those in flight."""
        return self.computing < COMPUTES_IN_FLIGHT

    def begin(self) -> int:
        """A recomputation starts: its ticket (later ones have larger tickets)."""
        self.computing += 1
        self.begun += 1
        return self.begun

    def end(self) -> None:
        """A recomputation ended, with a result or without."""
        self.computing -= 1

    def is_newest(self, ticket: int) -> bool:
        """Whether the result of ``ticket`` may be taken: no later recomputation's was.

        With two in flight, the one begun later read later; when it ends
        first, the earlier one's result is older than what was sent and is
        dropped (the screen never steps back).
        """
        if ticket < self.taken:
            return False
        self.taken = ticket
        return True

    def accept(self, data: bytes) -> bool:
        """Record freshly computed data; True when it differs from what was sent."""
        if data == self.data:
            return False
        self.data = data
        self.offset += 1
        return True


# --- reading ids that commit out of order ------------------------------------------


@dataclass
class Gap:
    """The lowest missing id above the reader's position, and since when it is missing."""

    start: int
    seen_at: float
    #: PostgreSQL: the next transaction id when the gap was seen (every
    #: transaction that could still fill it is older).
    horizon: int | None


@dataclass
class SequenceCursor:
    """A reader's position in a table read by ``id > position``.

    Sequence ids are handed out in one order and committed in another: id 7
    may become visible after id 8, or never (a rolled-back insert, an
    ``ON CONFLICT DO NOTHING`` that consumed an id). Delivering 8 and moving
    on would lose 7 for good; waiting forever for it would stall the stream.
    So the cursor stops at the first gap and delivers nothing past it until
    the gap fills or is proved empty:

    - on PostgreSQL, once every transaction that was running when the gap
      was seen has finished (the oldest running transaction id, ``xmin``, has
      passed the ``horizon`` noted then), the missing ids are never coming,
      after at least ``min_hold`` seconds (an id is drawn a moment before
      its transaction gets an id of its own);
    - without that information (SQLite, whose single writer leaves no gaps
      in practice), after ``min_hold``;
    - and in any case after ``max_hold``, so that nothing can stall the
      stream for ever (a row committing later than that is not delivered:
      the hub logs it).

    Holding back keeps offsets strictly increasing on the wire, which is
    what makes "resume after offset n" exact.
    """

    position: int
    min_hold: float = 0.2
    max_hold: float = 60.0
    gap: Gap | None = None
    skipped: list[tuple[int, int]] = field(default_factory=list)

    def advance(
        self, ids: list[int], now: float, xmin: int | None = None, xmax: int | None = None
    ) -> list[int]:
        """Take the ids just read (ascending); return those deliverable now, in order.

        ``xmin`` is the oldest transaction still running before the read,
        ``xmax`` the next transaction id after it (PostgreSQL only).
        """
        deliver: list[int] = []
        for row_id in ids:
            expected = self.position + 1
            if row_id < expected:
                continue
            if row_id > expected:
                if self.gap is None or self.gap.start != expected:
                    self.gap = Gap(start=expected, seen_at=now, horizon=xmax)
                if not self._proved_empty(now, xmin):
                    break
                self.skipped.append((expected, row_id - 1))
            self.gap = None
            self.position = row_id
            deliver.append(row_id)
        return deliver

    @property
    def holding(self) -> bool:
        return self.gap is not None

    def _proved_empty(self, now: float, xmin: int | None) -> bool:
        assert self.gap is not None
        waited = now - self.gap.seen_at
        if waited >= self.max_hold:
            return True
        if waited < self.min_hold:
            return False
        if self.gap.horizon is None or xmin is None:
            return True
        return xmin >= self.gap.horizon
