"""Every statement of the scan path, behind one store with a form per database.

A scan is read, decided, applied (``checkin.admission.admit_one``):

1. ``read``: the ticket a secret names, and the stored answer of the nonce
   if it was seen before — one query, no lock.
2. ``checkin.rules.decide`` on that row, in Python.
3. ``log`` (a refusal: the scan-log insert alone) or ``apply`` (an
   admission or exit: move the ticket, the zone counters and log the scan,
   all or nothing).

Exactly once rests on ``apply``'s condition, not on a row lock: the ticket
is moved only if it still holds what the decision was taken on
(``checkin.store.guard``, the one place the condition is written). When
another door moved it meanwhile, nothing is written and the caller decides
again on a fresh read. The door line's batch (``read_batch``,
``apply_batch``) is the same on many scans at once, and an offline replay
(``Replay``, ``replaying``) locks its tickets and counters in a transaction.

Capacity without a hot row: a zone's capacity is split over ``zone_shards``
rows whose caps sum to it (``checkin.capacity``); entering takes a place in
one shard with room with a conditional ``inside < cap``, so a zone's count
never exceeds its capacity.

The forms: ``checkin.store.postgres`` (asyncpg, one statement a step; the
plan-mode and planner-fence reasoning is there, beside its statements),
``checkin.store.sqlite`` (the process's SQLite scan thread),
``checkin.store.replay`` (an offline replay's statements, both forms side by
side), and ``checkin.store.portable`` for the few statements that are the
same Core on both (an annul's).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from checkin.reconcile import ShardCount
from checkin.store import guard
from checkin.store.portable import CoreAnnul, writing
from checkin.store.postgres import PgStore
from checkin.store.replay import PgReplay, SqliteReplay
from checkin.store.rows import (
    APPLIED,
    FULL,
    REPEATED,
    SCAN_FIELDS,
    STALE,
    TICKET_FIELDS,
    Applied,
    BatchMoves,
    Counted,
    Logged,
    Move,
    Seen,
    ShardWalk,
    TicketMove,
    TicketRow,
    ZoneStep,
)
from checkin.store.sqlite import SqliteStore
from server.db import Database

__all__ = [
    "APPLIED",
    "FULL",
    "REPEATED",
    "SCAN_FIELDS",
    "STALE",
    "TICKET_FIELDS",
    "Applied",
    "CoreAnnul",
    "Logged",
    "Move",
    "PgStore",
    "Replay",
    "Seen",
    "ShardCount",
    "ShardWalk",
    "Store",
    "TicketMove",
    "TicketRow",
    "ZoneStep",
    "annulling",
    "batch_path",
    "guard",
    "hot_path",
    "replaying",
]


class Store(Protocol):
    """One scan's steps; the same semantics on both databases."""

    async def read(
        self, event_id: int, nonce: str, *, secret: str | None = None, ticket_id: int | None = None
    ) -> Seen: ...

    async def log(self, values: dict[str, Any]) -> int | None:
        """Log a refused scan: its id, or None when the nonce was already logged."""

    async def apply(self, values: dict[str, Any], move: Move) -> Applied:
        """Move the ticket and the zone counters and log the scan, all or nothing
        (guarded: ``checkin.store.guard``)."""

    async def zone_total(self, zone_id: int) -> int: ...

    async def read_batch(self, event_id: int, secrets: list[str], nonces: list[str]) -> list[Seen]:
        """``read`` for a door-line batch's scans (by secret), in their order."""

    async def apply_batch(
        self, moves: BatchMoves, zones: list[ZoneStep], logged: list[dict[str, Any]]
    ) -> Counted | None:
        """A batch's moves (each ticket as read, and after), its zones' net
        changes and its scan-log rows, all or nothing: the counted shards'
        (zone, inside, cap), or None when one guard, room or nonce failed."""


class Replay(Protocol):
    """An offline replay's steps, in one transaction (``checkin.sync``)."""

    @property
    def conn(self) -> Any:
        """The transaction's Core connection (for the alerts raised in it)."""

    async def stored_answers(self, event_id: int, nonces: list[str]) -> dict[str, Logged]: ...

    async def mark_divergences(self, logged: list[Logged]) -> None: ...

    async def ids_by_secret(self, event_id: int, secrets: list[str]) -> dict[str, int]: ...

    async def locked_tickets(
        self, event_id: int, ids: list[int]
    ) -> dict[int, tuple[TicketRow, str]]:
        """The tickets, locked in id order (as every batch locks them), with their secret."""

    async def last_ok_scans(self, event_id: int, ticket_ids: list[int]) -> dict[int, int]:
        """The accepted scan that last moved each ticket (what a conflict points at)."""

    async def locked_shards(self, zone_ids: list[int]) -> dict[int, list[ShardCount]]: ...

    async def allocate_scan_ids(self, count: int) -> list[int]:
        """Ids for new scan rows, known before the insert so scans can point at each other."""

    async def insert_scans(self, values: list[dict[str, Any]]) -> int:
        """Log the scans (nonces already logged are skipped): how many were new."""

    async def write_tickets(self, moves: list[TicketMove]) -> None: ...

    async def write_shards(self, changed: list[ShardCount]) -> None: ...


@contextlib.asynccontextmanager
async def hot_path(db: Database) -> AsyncIterator[Store]:
    """The store for one scan: a pooled asyncpg connection on PostgreSQL."""
    if db.is_sqlite:
        yield SqliteStore(db)
        return
    async with db.raw_connection() as conn:
        yield PgStore(conn)


@contextlib.asynccontextmanager
async def batch_path(db: Database) -> AsyncIterator[Store]:
    """The store for a door-line batch: on PostgreSQL its statements keep their plans."""
    if db.is_sqlite:
        yield SqliteStore(db)
        return
    async with db.raw_connection(cached_plans=True) as conn:
        yield PgStore(conn)


@contextlib.asynccontextmanager
async def replaying(db: Database) -> AsyncIterator[Replay]:
    """An offline replay's store, in a transaction (under the SQLite writer lock)."""
    async with writing(db) as conn:
        if db.is_sqlite:
            yield SqliteReplay(conn)
        else:
            yield await PgReplay.begin(conn)


@contextlib.asynccontextmanager
async def annulling(db: Database) -> AsyncIterator[CoreAnnul]:
    """An annul's store, in a transaction (under the SQLite writer lock)."""
    async with writing(db) as conn:
        yield CoreAnnul(conn)
