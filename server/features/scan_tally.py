"""What the scan log adds up to: each gate's tallies, arrivals a minute, scans a minute.

The headcount (``server.features.headcount``) and the gates' picture
(``server.features.gates``) show these beside the small tables (zones'
shards, gates, ticket totals). ``count_scans`` reads them from ``scans``
with aggregate queries: at a big event that is every scan of the day read
again, 92 ms a headcount at 100,000 scans on PostgreSQL, and a realtime hub
recomputes its two topics several times a second on every process
(``bench/README.md``). So a hub keeps them in memory instead
(``ScanTallies``): counted once from the log up to a position of its scans
reader (``realtime.bus.TableReader``), then each row the reader hands over
after that position is added (``ScanTallies.saw``).

That stays exact because the log only grows: rows are inserted, never
deleted (but with their event), and the one change to a row, an annulment,
comes on the ``annulments`` stream, which the hub answers with ``forget``
(counted again at the next use). Counting again every ``RECOUNT_SECONDS``
anyway bounds the life of anything else, a row edited by hand.

Scans a minute are counted by the second of ``received_at``: the window is
the last 60 seconds to the second.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db import Database
from server.models import Scan, utcnow
from server.serialize import iso

#: How far back the arrivals-per-minute series reaches.
ARRIVALS_WINDOW = timedelta(hours=1)
ARRIVALS_MINUTES = int(ARRIVALS_WINDOW.total_seconds()) // 60
#: The window of scans a minute, in whole seconds.
RATE_SECONDS = 60
#: A kept tally is counted again from the log after this long.
RECOUNT_SECONDS = 300.0


def _epoch(at: datetime) -> int:
    """Whole seconds since the Unix epoch (times are aware: ``UTCDateTime``)."""
    return int(at.timestamp())


def _seconds(dialect: str, column: Any) -> ColumnElement[Any]:
    """Whole seconds since the Unix epoch of a time column, in SQL."""
    if dialect == "sqlite":
        # UTCDateTime stores naive UTC text on SQLite.
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(func.extract("epoch", column)), Integer)


@dataclass(slots=True)
class GateTally:
    """One gate's figures: admitted in, let out (annulled scans not counted),
    refused, and when its last scan arrived."""

    n_in: int = 0
    n_out: int = 0
    refused: int = 0
    last_scan_at: datetime | None = None


@dataclass
class ScanTally:
    """The figures of one event's scan log (``count_scans``, then ``add``)."""

    gates: dict[int, GateTally] = field(default_factory=dict)
    #: Arrivals from outside by minute of ``scanned_at`` (minutes since the epoch).
    arrivals: dict[int, int] = field(default_factory=dict)
    #: Scans by second of ``received_at``, per (gate, device, refused).
    recent: dict[int, Counter[tuple[int | None, int | None, bool]]] = field(default_factory=dict)
    counted_at: float = field(default_factory=time.monotonic)

    def add(self, row: Any) -> None:
        """One new row of the log (its columns by name; never annulled yet)."""
        status, direction = row["status"], row["direction"]
        gate_id, received_at = row["gate_id"], row["received_at"]
        if gate_id is not None:
            gate = self.gates.get(gate_id)
            if gate is None:
                gate = self.gates[gate_id] = GateTally()
            if status == "ok":
                if direction == "in":
                    gate.n_in += 1
                elif direction == "out":
                    gate.n_out += 1
            elif status == "error":
                gate.refused += 1
            if gate.last_scan_at is None or received_at > gate.last_scan_at:
                gate.last_scan_at = received_at
        second = _epoch(received_at)
        if status == "ok" and direction == "in" and row["from_zone_id"] is None:
            # The window is the server's hour (a row is received now), not the
            # phone's: a scan made in a minute already past it is never shown.
            first = second // 60 - ARRIVALS_MINUTES + 1
            minute = _epoch(row["scanned_at"]) // 60
            if minute >= first:
                if minute not in self.arrivals:
                    self._drop_arrivals_before(first)
                self.arrivals[minute] = self.arrivals.get(minute, 0) + 1
        bucket = self.recent.get(second)
        if bucket is None:
            self._drop_recent_before(second - RATE_SECONDS)
            bucket = self.recent[second] = Counter()
        bucket[(gate_id, row["device_id"], status != "ok")] += 1

    def _drop_arrivals_before(self, minute: int) -> None:
        for old in [m for m in self.arrivals if m < minute]:
            del self.arrivals[old]

    def _drop_recent_before(self, second: int) -> None:
        for old in [s for s in self.recent if s < second]:
            del self.recent[old]

    def gate(self, gate_id: int) -> GateTally:
        return self.gates.get(gate_id) or GateTally()

    def arrivals_json(self, now: datetime) -> dict[str, Any]:
        """Arrivals from outside in each minute of the last hour, oldest first.

        ``{"start": first minute, "counts": [n × 60]}``: a bare list of counts
        keeps the headcount message small, and it goes to every screen and
        phone several times a second. Scans made after ``now`` (a phone's
        clock ahead) count when their minute comes.
        """
        last = _epoch(now) // 60
        first = last - ARRIVALS_MINUTES + 1
        self._drop_arrivals_before(first)
        return {
            "start": iso(datetime.fromtimestamp(first * 60, UTC)),
            "counts": [self.arrivals.get(m, 0) for m in range(first, last + 1)],
        }

    def rates(self, now: datetime) -> tuple[dict[int | None, list[int]], dict[int | None, int]]:
        """Scans in the last minute: per gate ``[scans, refused]``, per device scans."""
        self._drop_recent_before(_epoch(now) - RATE_SECONDS)
        per_gate: dict[int | None, list[int]] = {}
        per_device: dict[int | None, int] = {}
        for bucket in self.recent.values():
            for (gate_id, device_id, refused), count in bucket.items():
                tally = per_gate.setdefault(gate_id, [0, 0])
                tally[0] += count
                if refused:
                    tally[1] += count
                per_device[device_id] = per_device.get(device_id, 0) + count
        return per_gate, per_device


def _up_to(position: int | None) -> list[ColumnElement[bool]]:
    return [] if position is None else [Scan.id <= position]


async def count_scans(
    session: AsyncSession,
    dialect: str,
    event_id: int,
    now: datetime,
    *,
    position: int | None = None,
    arrivals: bool = True,
    rates: bool = True,
) -> ScanTally:
    """The event's scan log counted in the database, rows up to ``position``
    (``None``: all); ``arrivals`` and ``rates`` may be left out (left empty)."""
    tally = ScanTally()
    counted = Scan.annulled_at.is_(None)
    ok = Scan.status == "ok"
    rows = await session.execute(
        select(
            Scan.gate_id,
            func.sum(case((ok & (Scan.direction == "in") & counted, 1), else_=0)),
            func.sum(case((ok & (Scan.direction == "out") & counted, 1), else_=0)),
            func.sum(case((Scan.status == "error", 1), else_=0)),
            func.max(Scan.received_at),
        )
        .where(Scan.event_id == event_id, Scan.gate_id.is_not(None), *_up_to(position))
        .group_by(Scan.gate_id)
    )
    for gate_id, n_in, n_out, refused, last_scan_at in rows:
        if isinstance(last_scan_at, str):  # an aggregate on SQLite loses the column type
            last_scan_at = datetime.fromisoformat(last_scan_at + "+00:00")
        tally.gates[gate_id] = GateTally(
            int(n_in or 0), int(n_out or 0), int(refused or 0), last_scan_at
        )
    if arrivals:
        since = now - ARRIVALS_WINDOW
        minute = (_seconds(dialect, Scan.scanned_at) // 60).label("minute")
        rows = await session.execute(
            select(minute, func.count())
            .where(
                Scan.event_id == event_id,
                # A scan is received after it is made, so this bound only lets the
                # (event, received_at) index skip older rows; scanned_at decides.
                Scan.received_at >= since,
                Scan.scanned_at >= since,
                ok,
                Scan.direction == "in",
                Scan.from_zone_id.is_(None),
                counted,
                *_up_to(position),
            )
            .group_by(literal_column("minute"))
        )
        tally.arrivals = {int(m): int(n) for m, n in rows}
    if rates:
        second = _seconds(dialect, Scan.received_at).label("second")
        rows = await session.execute(
            select(second, Scan.gate_id, Scan.device_id, Scan.status != "ok", func.count())
            .where(
                Scan.event_id == event_id,
                Scan.received_at >= now - timedelta(seconds=RATE_SECONDS + 1),
                *_up_to(position),
            )
            .group_by(literal_column("second"), Scan.gate_id, Scan.device_id, Scan.status)
        )
        for at, gate_id, device_id, refused, count in rows:
            bucket = tally.recent.setdefault(int(at), Counter())
            bucket[(gate_id, device_id, bool(refused))] += int(count)
    return tally


class ScanTallies:
    """A hub's tallies of the events it shows, kept current from its scans reader.

    ``saw`` must be handed every row the reader delivers, in its order, with
    the reader's position after them; ``position`` then says that every row
    up to it has been handed over, which is where a new tally is counted
    from in the database. Rows arriving while that count runs are held and
    added after it.
    """

    def __init__(self) -> None:
        self.position = 0
        self._tallies: dict[int, ScanTally] = {}
        self._counting: dict[int, asyncio.Task[ScanTally]] = {}
        self._held: dict[int, list[Any]] = {}
        #: Events forgotten while they were being counted: that count may be from before.
        self._stale: set[int] = set()

    def start(self, position: int) -> None:
        self.position = position

    def saw(self, rows: list[Any], position: int) -> set[int]:
        """New rows of the log, in id order, and the reader's position after
        them; the events of the rows."""
        self.position = position
        events = set()
        for row in rows:
            event_id = row["event_id"]
            events.add(event_id)
            tally = self._tallies.get(event_id)
            if tally is not None:
                tally.add(row)
            # Also held while it is counted again (the kept one serves meanwhile).
            held = self._held.get(event_id)
            if held is not None:
                held.append(row)
        return events

    def forget(self, event_id: int) -> None:
        """Count the event again at its next use, if any (a row of its log
        changed, or nobody here watches it any more)."""
        self._tallies.pop(event_id, None)
        if event_id in self._counting:
            self._stale.add(event_id)

    async def of(self, db: Database, event_id: int) -> ScanTally:
        """The event's tally, counted in the database first if need be."""
        tally = self._tallies.get(event_id)
        if tally is not None and time.monotonic() - tally.counted_at < RECOUNT_SECONDS:
            return tally
        counting = self._counting.get(event_id)
        if counting is None:
            counting = asyncio.create_task(self._count(db, event_id))
            # Its error is every waiter's; retrieved here too, for when none is left.
            counting.add_done_callback(lambda task: task.cancelled() or task.exception())
            self._counting[event_id] = counting
        # Shielded: a compute given up on (its sockets left) leaves the count to others.
        return await asyncio.shield(counting)

    async def _count(self, db: Database, event_id: int) -> ScanTally:
        position = self.position
        self._held[event_id] = []
        try:
            async with db.reading() as session:
                tally = await count_scans(
                    session, db.engine.dialect.name, event_id, utcnow(), position=position
                )
        finally:
            held = self._held.pop(event_id, [])
            self._counting.pop(event_id, None)
        for row in held:
            if row["id"] > position:
                tally.add(row)
        if event_id in self._stale:
            self._stale.discard(event_id)
        else:
            self._tallies[event_id] = tally
        return tally
