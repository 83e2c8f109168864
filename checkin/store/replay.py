"""An offline replay's statements, in the sync's transaction, on both databases.

``checkin.sync`` replays a phone's queued scans set-wise (``checkin.store.Replay``):
it reads the stored answers of the batch's nonces and the tickets of its
secrets, locks the tickets in id order and the zone counters in (zone,
shard) order, as every other writer does, then logs the scans and writes the
tickets and counters, a handful of statements for the whole batch. Each step
is written once here, its PostgreSQL and SQLite forms side by side:

- ``CoreReplay``: the steps that are the same Core on both databases (the
  divergence marks, the zone counters).
- ``PgReplay``: the rest straight to asyncpg, whole arrays as parameters,
  inside the transaction, every lookup by key behind the planner fence and
  sequential scans priced out (why: ``checkin.store.postgres``).
- ``SqliteReplay``: Core statements under the process's writer lock, IN lists
  in chunks of ``CHUNK``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import asyncpg
import orjson
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from checkin.reconcile import ShardCount
from checkin.store.portable import MOVE_TICKET, SCANS, SHARDS, TICKET_COLUMNS, TICKETS
from checkin.store.postgres import SCAN_TYPES, TICKET_LIST, by_key, json_text
from checkin.store.rows import SCAN_FIELDS, Logged, TicketMove, TicketRow
from checkin.store.sqlite import LOG_SCAN

#: Rows per IN (…) list on SQLite: well under its bound-parameter limit.
CHUNK = 1000


class CoreReplay:
    """An offline replay's statements in its transaction (``checkin.sync``)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def mark_divergences(self, logged: list[Logged]) -> None:
        """Mark logged scans as conflicts with themselves (the door and the server disagreed)."""
        await self.conn.execute(
            update(SCANS)
            .where(SCANS.c.id == bindparam("scan"), SCANS.c.conflict_with.is_(None))
            .values(conflict_with=bindparam("scan")),
            [{"scan": scan.id} for scan in logged],
        )

    async def locked_shards(self, zone_ids: list[int]) -> dict[int, list[ShardCount]]:
        """The shards of ``zone_ids``, locked in (zone, shard) order like every other writer."""
        shards: dict[int, list[ShardCount]] = {z: [] for z in zone_ids}
        if zone_ids:
            query = (
                select(SHARDS.c.zone_id, SHARDS.c.shard, SHARDS.c.inside, SHARDS.c.cap)
                .where(SHARDS.c.zone_id.in_(zone_ids))
                .order_by(SHARDS.c.zone_id, SHARDS.c.shard)
                .with_for_update()
            )
            for row in await self.conn.execute(query):
                shards[row.zone_id].append(ShardCount(row.zone_id, row.shard, row.inside, row.cap))
        return shards

    async def write_shards(self, changed: list[ShardCount]) -> None:
        if changed:
            await self.conn.execute(
                update(SHARDS)
                .where(SHARDS.c.zone_id == bindparam("z"), SHARDS.c.shard == bindparam("s"))
                .values(inside=bindparam("n")),
                [{"z": s.zone_id, "s": s.shard, "n": s.inside} for s in changed],
            )


# --- PostgreSQL ------------------------------------------------------------------------------

_STORED = (
    "SELECT nonce, id, ticket_id, conflict_with, response FROM "
    + by_key("scans", "nonce, id, ticket_id, conflict_with, response", "nonce = ANY($2::text[])")
    + " s WHERE event_id = $1"
)
_IDS_BY_SECRET = (
    "SELECT secret, id FROM "
    + by_key("tickets", "secret, id", "secret = ANY($2::text[])")
    + " t WHERE event_id = $1"
)
_LOCK_TICKETS = (
    f"SELECT {TICKET_LIST}, secret FROM "
    + by_key("tickets", f"{TICKET_LIST}, secret", "id = ANY($2::bigint[])")
    + " t WHERE event_id = $1 ORDER BY id FOR UPDATE"
)
_LAST_OK_SCANS = (
    "SELECT ticket_id, max(id) FROM "
    + by_key("scans", "ticket_id, id, status, annulled_at", "ticket_id = ANY($2::bigint[])")
    + " s WHERE event_id = $1 AND status = 'ok' AND annulled_at IS NULL GROUP BY ticket_id"
)
_BATCH_COLUMNS = ("id", *SCAN_FIELDS)
_INSERT_SCANS = (
    f"WITH logged AS (INSERT INTO scans ({', '.join(_BATCH_COLUMNS)})"
    f" SELECT {', '.join(c + '::json' if c == 'response' else c for c in _BATCH_COLUMNS)}"
    " FROM unnest("
    + ", ".join(f"${i + 1}::{SCAN_TYPES[c]}[]" for i, c in enumerate(_BATCH_COLUMNS))
    + f") AS batch({', '.join(_BATCH_COLUMNS)})"
    " ON CONFLICT (event_id, nonce) DO NOTHING RETURNING 1)"
    " SELECT count(*) FROM logged"
)
_MOVE_TICKETS = (
    "UPDATE tickets AS t SET zone_id = moved.zone_id,"
    " checked_in_at = coalesce(t.checked_in_at, moved.first_in)"
    " FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS moved(id, zone_id, first_in)"
    " WHERE t.id = moved.id"
)


def _json(value: Any) -> dict[str, Any]:
    # SQLAlchemy's dialect installs a json decoder on the connections it owns.
    return dict(orjson.loads(value) if isinstance(value, str | bytes) else value)


class PgReplay(CoreReplay):
    """An offline replay's statements in its transaction, straight to asyncpg."""

    def __init__(self, conn: AsyncConnection, raw: asyncpg.Connection) -> None:
        super().__init__(conn)
        self.raw = raw

    @classmethod
    async def begin(cls, conn: AsyncConnection) -> PgReplay:
        """The replay on ``conn``'s transaction, sequential scans priced out.

        SQLAlchemy's asyncpg adapter opens the transaction lazily, with the
        first statement it runs: this one, so that what is sent straight to
        the driver afterwards is inside it.
        """
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        return cls(conn, cast(asyncpg.Connection, raw))

    async def stored_answers(self, event_id: int, nonces: list[str]) -> dict[str, Logged]:
        rows = await self.raw.fetch(_STORED, event_id, nonces)
        return {
            row["nonce"]: Logged(
                row["id"], row["ticket_id"], row["conflict_with"], _json(row["response"])
            )
            for row in rows
        }

    async def ids_by_secret(self, event_id: int, secrets: list[str]) -> dict[str, int]:
        rows = await self.raw.fetch(_IDS_BY_SECRET, event_id, secrets)
        return {row["secret"]: int(row["id"]) for row in rows}

    async def locked_tickets(
        self, event_id: int, ids: list[int]
    ) -> dict[int, tuple[TicketRow, str]]:
        rows = await self.raw.fetch(_LOCK_TICKETS, event_id, ids)
        return {int(r["id"]): (TicketRow(*tuple(r)[:-1]), r["secret"]) for r in rows}

    async def last_ok_scans(self, event_id: int, ticket_ids: list[int]) -> dict[int, int]:
        rows = await self.raw.fetch(_LAST_OK_SCANS, event_id, ticket_ids)
        return {int(r[0]): int(r[1]) for r in rows}

    async def allocate_scan_ids(self, count: int) -> list[int]:
        if count == 0:
            return []
        rows = await self.raw.fetch(
            "SELECT nextval(pg_get_serial_sequence('scans', 'id')) FROM generate_series(1, $1)",
            count,
        )
        return [int(r[0]) for r in rows]

    async def insert_scans(self, values: list[dict[str, Any]]) -> int:
        columns: list[list[Any]] = [[row[c] for row in values] for c in _BATCH_COLUMNS]
        columns[-1] = [json_text(response) for response in columns[-1]]
        return int(await self.raw.fetchval(_INSERT_SCANS, *columns))

    async def write_tickets(self, moves: list[TicketMove]) -> None:
        if moves:
            await self.raw.execute(
                _MOVE_TICKETS,
                [m.ticket_id for m in moves],
                [m.zone_id for m in moves],
                [m.first_in for m in moves],
            )


# --- SQLite ----------------------------------------------------------------------------------


def _chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqliteReplay(CoreReplay):
    """An offline replay's statements in its transaction, as Core statements."""

    async def stored_answers(self, event_id: int, nonces: list[str]) -> dict[str, Logged]:
        found: dict[str, Logged] = {}
        for chunk in _chunks(nonces):
            result = await self.conn.execute(
                select(
                    SCANS.c.nonce,
                    SCANS.c.id,
                    SCANS.c.ticket_id,
                    SCANS.c.conflict_with,
                    SCANS.c.response,
                ).where(SCANS.c.event_id == event_id, SCANS.c.nonce.in_(chunk))
            )
            found.update(
                (nonce, Logged(scan_id, ticket_id, conflict_with, dict(response)))
                for nonce, scan_id, ticket_id, conflict_with, response in result
            )
        return found

    async def ids_by_secret(self, event_id: int, secrets: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(secrets):
            result = await self.conn.execute(
                select(TICKETS.c.secret, TICKETS.c.id).where(
                    TICKETS.c.event_id == event_id, TICKETS.c.secret.in_(chunk)
                )
            )
            found.update((secret, int(tid)) for secret, tid in result)
        return found

    async def locked_tickets(
        self, event_id: int, ids: list[int]
    ) -> dict[int, tuple[TicketRow, str]]:
        found: dict[int, tuple[TicketRow, str]] = {}
        for chunk in _chunks(ids):
            query = (
                select(*TICKET_COLUMNS, TICKETS.c.secret.label("current_secret"))
                .where(TICKETS.c.event_id == event_id, TICKETS.c.id.in_(chunk))
                .order_by(TICKETS.c.id)
            )
            for row in await self.conn.execute(query):  # the writer lock is held
                fields = {c.name: row._mapping[c.name] for c in TICKET_COLUMNS}
                found[int(row.id)] = (TicketRow(**fields), row.current_secret)
        return found

    async def last_ok_scans(self, event_id: int, ticket_ids: list[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for chunk in _chunks(ticket_ids):
            result = await self.conn.execute(
                select(SCANS.c.ticket_id, func.max(SCANS.c.id))
                .where(
                    SCANS.c.event_id == event_id,
                    SCANS.c.ticket_id.in_(chunk),
                    SCANS.c.status == "ok",
                    SCANS.c.annulled_at.is_(None),
                )
                .group_by(SCANS.c.ticket_id)
            )
            found.update((int(t), int(s)) for t, s in result)
        return found

    async def allocate_scan_ids(self, count: int) -> list[int]:
        if count == 0:
            return []
        # This transaction holds the process's writer lock.
        top = int(await self.conn.scalar(select(func.coalesce(func.max(SCANS.c.id), 0))) or 0)
        return list(range(top + 1, top + 1 + count))

    async def insert_scans(self, values: list[dict[str, Any]]) -> int:
        return len((await self.conn.execute(LOG_SCAN, values)).all())

    async def write_tickets(self, moves: list[TicketMove]) -> None:
        if moves:
            await self.conn.execute(
                MOVE_TICKET,
                [
                    {"ticket": m.ticket_id, "zone_after": m.zone_id, "first_in": m.first_in}
                    for m in moves
                ],
            )
