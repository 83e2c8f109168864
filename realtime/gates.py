"""Gate health: which door devices are online and their offline queues.

A door phone's socket lives on one server process; the command centre may
watch from another. So each process writes what it knows of its own door
sockets to ``device_status`` — at a bounded rate: on connect and
disconnect, reported queue lengths at most every ``FLUSH_EVERY`` seconds,
and a heartbeat every ``HEARTBEAT`` — and the ``gates`` snapshot
(``server.features.gates``) reads that table. A device is online while a socket holds it and its heartbeat is
younger than ``LEASE`` (a process that died cannot say its sockets closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from server.db import Database
from server.models import DeviceStatus, utcnow

log = logging.getLogger("muster.realtime")

HEARTBEAT = 15.0
LEASE = timedelta(seconds=45)
#: Least seconds between two writes of this process's device changes.
FLUSH_EVERY = 1.0


@dataclass
class _Device:
    event_id: int
    gate_id: int | None
    connection: str
    queue: int = 0
    queue_reported: bool = False


class DeviceTracker:
    """Keeps ``device_status`` current for the door sockets of this process."""

    def __init__(self, db: Database, on_change: Callable[[int], None]) -> None:
        self.db = db
        self.on_change = on_change
        self.local: dict[int, _Device] = {}
        self._pending: set[int] = set()
        self._gone: list[tuple[int, int, str]] = []
        self._woken = asyncio.Event()
        self.writes = 0

    def connected(
        self, account_id: int, event_id: int, gate_id: int | None, connection: str
    ) -> None:
        self.local[account_id] = _Device(event_id, gate_id, connection)
        self._pending.add(account_id)
        self._woken.set()

    def reported(self, account_id: int, connection: str, queue: int, gate_id: int | None) -> None:
        device = self.local.get(account_id)
        if device is None or device.connection != connection:
            return
        changed = device.queue != queue or not device.queue_reported
        if gate_id is not None and gate_id != device.gate_id:
            device.gate_id, changed = gate_id, True
        device.queue, device.queue_reported = queue, True
        if changed:
            # Written at the next flush: the loop sleeps FLUSH_EVERY after each
            # write, so waking it here keeps the bound. Without the wake a
            # report that came while the loop waited sat there until the
            # heartbeat, up to HEARTBEAT seconds.
            self._pending.add(account_id)
            self._woken.set()

    def disconnected(self, account_id: int, connection: str) -> None:
        device = self.local.get(account_id)
        if device is None or device.connection != connection:
            return  # a newer socket of the same phone holds it
        del self.local[account_id]
        self._pending.discard(account_id)
        self._gone.append((account_id, device.event_id, connection))
        self._woken.set()

    async def run(self) -> None:
        next_heartbeat = time.monotonic() + HEARTBEAT
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._woken.wait(), max(0.0, next_heartbeat - time.monotonic())
                )
            self._woken.clear()
            if time.monotonic() >= next_heartbeat:
                self._pending.update(self.local)
                next_heartbeat = time.monotonic() + HEARTBEAT
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self.db.health.absorb(exc):  # an outage is logged once, there
                    log.exception("writing device status failed")
            await asyncio.sleep(FLUSH_EVERY)
            if self._pending:
                self._woken.set()

    async def flush(self) -> None:
        pending = [(a, self.local[a]) for a in self._pending if a in self.local]
        gone, self._gone = self._gone, []
        self._pending.clear()
        if not pending and not gone:
            return
        now = utcnow()
        try:
            async with self.db.writing() as session:
                for account_id, device in pending:
                    await _upsert(session, self.db.is_sqlite, account_id, device, now)
                for account_id, _event_id, connection in gone:
                    await session.execute(
                        update(DeviceStatus)
                        .where(
                            DeviceStatus.account_id == account_id,
                            DeviceStatus.connection == connection,
                        )
                        .values(connection=None, last_seen_at=now)
                    )
        except BaseException:
            # Written at the next flush (the database may be away a while).
            self._pending.update(a for a, _d in pending)
            self._gone = gone + self._gone
            raise
        self.writes += 1
        for event_id in {d.event_id for _a, d in pending} | {e for _a, e, _c in gone}:
            self.on_change(event_id)


async def _upsert(
    session: AsyncSession, is_sqlite: bool, account_id: int, device: _Device, now: Any
) -> None:
    values: dict[str, Any] = {
        "account_id": account_id,
        "event_id": device.event_id,
        "gate_id": device.gate_id,
        "connection": device.connection,
        "last_seen_at": now,
        "queue_length": device.queue,
        "queue_reported_at": now if device.queue_reported else None,
    }
    insert = sqlite.insert if is_sqlite else postgresql.insert
    statement = insert(DeviceStatus).values(values)
    changes = {k: statement.excluded[k] for k in values if k != "account_id"}
    if not device.queue_reported:  # a reconnect keeps the last reported queue
        changes.pop("queue_length")
        changes.pop("queue_reported_at")
    await session.execute(
        statement.on_conflict_do_update(index_elements=["account_id"], set_=changes)
    )
