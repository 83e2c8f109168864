"""Every statement of the scan path on PostgreSQL, through asyncpg.

One scan (``PgStore.read``, ``log``, ``apply``): each step is ONE statement
in autocommit on a raw asyncpg connection (``Database.raw_pool``): no
BEGIN/COMMIT round trips, no SQLAlchemy compilation (several times the cost
of the statement itself on a CPU-bound door rush), asyncpg's
prepared-statement cache. ``apply`` is a chain of data-modifying CTEs; as
CTEs cannot undo each other, the final SELECT fails a cast when the pieces
disagree (the ticket moved but its zone counter or its log row did not
follow), which rolls the whole statement back, and the caller reads and
decides again. The door line's batch (``read_batch``, ``apply_batch``) is
the same two steps over arrays and JSON documents, all or nothing the same
way; an offline replay (``checkin.store.replay.PgReplay``, beside its SQLite
form) runs set-wise statements with whole arrays as parameters inside the
sync's transaction, fenced and planned as below.

Plans and fences. The scan tables grow from nothing during a rush, so a
plan made while they were small is a trap: a walk over the event's whole
scan log through an index on event_id, or a sequential scan, that costs
~0.1 ms a scan at first and grows with the table. So every lookup by a key
(a nonce, a secret, a ticket id) names only the column that leads its
index, inside a subquery fenced with ``OFFSET 0`` (``by_key``), and the
event (and any other condition) is checked outside the fence: no plan can
then take another index, whatever the tables grow to (the nonce through
``uq_scans_nonce_event``, migration 0006; the secret through its unique
index; the ticket id through the primary key or ``ix_scans_ticket``). The
single scan's statements are planned afresh each time with their own values
(the default pool, ``plan_cache_mode = force_custom_plan``); the door line's
two statements keep their plans (``cached_plans=True``: planning was ~0.6 ms
a batch) with sequential scans priced out, and so does an offline replay's
transaction (``SET LOCAL enable_seqscan = off``: for 5,000 keys a planner
without fresh statistics read the whole table, 17–28 ms a lookup at 130,000
rows against 4–7 ms by the keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson

from checkin.store import guard
from checkin.store.guard import ticket_guard
from checkin.store.rows import (
    APPLIED,
    FULL,
    SCAN_FIELDS,
    STALE,
    TICKET_FIELDS,
    Applied,
    BatchMoves,
    Counted,
    Move,
    Seen,
    ShardWalk,
    TicketRow,
    ZoneStep,
)

#: Each scan-log column's PostgreSQL type, for ``unnest`` and ``json_to_recordset``.
SCAN_TYPES = {
    "id": "bigint",
    "event_id": "bigint",
    "ticket_id": "bigint",
    "gate_id": "bigint",
    "device_id": "bigint",
    "direction": "text",
    "nonce": "text",
    "scanned_at": "timestamptz",
    "received_at": "timestamptz",
    "status": "text",
    "reason": "text",
    "from_zone_id": "bigint",
    "to_zone_id": "bigint",
    "offline": "boolean",
    "conflict_with": "bigint",
    "annulled_at": "timestamptz",
    "annulled_by": "bigint",
    "response": "text",  # cast to json where used: asyncpg takes JSON as text
}

#: The text of the error that rolls a statement back when its pieces disagree.
NOT_WHOLE = "muster-scan-not-applied-whole"


def by_key(table: str, columns: str, key: str) -> str:
    """``table``'s rows found by the condition ``key`` alone, behind the fence
    (see above): the event and anything else are checked outside it."""
    return f"(SELECT {columns}, event_id FROM {table} WHERE {key} OFFSET 0)"


def json_text(value: Any) -> str:
    """A value for a json column or parameter: asyncpg takes JSON as text."""
    return orjson.dumps(value).decode()


# --- one scan ---------------------------------------------------------------------------

_N = len(SCAN_FIELDS)
_T = ", ".join(f"t.{name}" for name in TICKET_FIELDS)
_READ = (
    f"SELECT (SELECT response FROM scans WHERE event_id = $1 AND nonce = $3) AS stored, {_T}"
    " FROM (SELECT 1) AS one LEFT JOIN tickets t ON t.event_id = $1 AND t.{key} = $2"
)
_READ_BY_SECRET = _READ.format(key="secret")
_READ_BY_ID = _READ.format(key="id")
_LOG = (
    f"INSERT INTO scans ({', '.join(SCAN_FIELDS)})"
    f" VALUES ({', '.join(f'${i + 1}' for i in range(_N))})"
    " ON CONFLICT (event_id, nonce) DO NOTHING RETURNING id"
)
_TOTAL = "SELECT coalesce(sum(inside), 0) FROM zone_shards WHERE zone_id = $1"

# The parameters after the scan's own: the ticket and what was seen of it,
# where it goes, and the two shard walks (zone, start, count).
_P = {
    name: f"${_N + i + 1}"
    for i, name in enumerate(
        (
            "ticket",
            "seen_zone",
            "seen_checked_in",
            "generation",
            "type",
            "zone_after",
            "first_in",
            "enter_zone",
            "enter_start",
            "enter_count",
            "leave_zone",
            "leave_start",
            "leave_count",
        )
    )
}


def _apply_sql(guarded: bool) -> str:
    p = _P
    seen = {
        "zone": f"{p['seen_zone']}::bigint",
        "checked_in": f"{p['seen_checked_in']}::timestamptz",
        "generation": f"{p['generation']}::integer",
        "type_id": f"{p['type']}::bigint",
    }
    # Unguarded (the race test), the parameters still need a type.
    condition = (
        ticket_guard("tickets", **seen)
        if guarded
        else f"num_nulls({', '.join(seen.values())}) >= 0"
    )
    return f"""
WITH candidate AS (
    -- a shard of the zone entered with room, the ticket's own shard first
    SELECT shard FROM zone_shards
    WHERE zone_id = {p["enter_zone"]} AND (cap IS NULL OR inside < cap)
    ORDER BY (shard + {p["enter_count"]} - {p["enter_start"]}) % {p["enter_count"]}
    LIMIT 1
), moved AS (
    UPDATE tickets
    SET zone_id = {p["zone_after"]}, checked_in_at = coalesce(checked_in_at, {p["first_in"]})
    WHERE id = {p["ticket"]} AND {condition}
      AND ({p["enter_zone"]}::bigint IS NULL OR EXISTS (SELECT 1 FROM candidate))
    RETURNING id
), entered AS (
    UPDATE zone_shards SET inside = inside + 1
    WHERE zone_id = {p["enter_zone"]} AND shard = (SELECT shard FROM candidate)
      AND (cap IS NULL OR inside < cap) AND EXISTS (SELECT 1 FROM moved)
    RETURNING inside, cap
), left_zone AS (
    UPDATE zone_shards SET inside = inside - 1
    WHERE zone_id = {p["leave_zone"]} AND inside > 0 AND EXISTS (SELECT 1 FROM moved)
      AND shard = (
        SELECT shard FROM zone_shards WHERE zone_id = {p["leave_zone"]} AND inside > 0
        ORDER BY (shard + {p["leave_count"]} - {p["leave_start"]}) % {p["leave_count"]}
        LIMIT 1)
    RETURNING inside
), logged AS (
    INSERT INTO scans ({", ".join(SCAN_FIELDS)})
    SELECT {", ".join(f"${i + 1}" for i in range(_N))} WHERE EXISTS (SELECT 1 FROM moved)
    ON CONFLICT (event_id, nonce) DO NOTHING
    RETURNING id
)
SELECT
    (SELECT id FROM logged) AS scan_id,
    EXISTS (SELECT 1 FROM candidate) AS had_room,
    (SELECT inside FROM entered) AS inside,
    (SELECT cap FROM entered) AS cap,
    -- CTEs cannot undo each other: when the ticket moved but its counter
    -- (a racing door took the shard's last place) or its log row (a twin
    -- request logged the nonce) did not follow, fail the cast, which rolls
    -- the whole statement back. Built from "moved" so that the planner
    -- cannot fold it into a constant and raise it every time.
    CASE WHEN EXISTS (SELECT 1 FROM moved) AND (
        NOT EXISTS (SELECT 1 FROM logged)
        OR ({p["enter_zone"]}::bigint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entered)))
    THEN CAST((SELECT '{NOT_WHOLE} ' || id FROM moved) AS integer) END AS whole
"""


_APPLY = {guarded: _apply_sql(guarded) for guarded in (True, False)}


def _walk_args(walk: ShardWalk | None) -> tuple[int | None, int, int]:
    return (None, 0, 1) if walk is None else (walk.zone_id, walk.start % walk.count, walk.count)


def _scan_args(values: Mapping[str, Any]) -> list[Any]:
    args = [values[name] for name in SCAN_FIELDS]
    args[-1] = json_text(args[-1])  # a json column: asyncpg takes text
    return args


# --- the door line's batch ----------------------------------------------------------------

#: The ticket columns a read returns, in ``TicketRow``'s order.
TICKET_LIST = ", ".join(TICKET_FIELDS)
_READ_BATCH = (
    "SELECT (SELECT s.response FROM "
    + by_key("scans", "response", "nonce = b.nonce")
    + " s WHERE s.event_id = $1) AS stored,"
    f" {_T}"
    " FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS b(secret, nonce, i)"
    f" LEFT JOIN LATERAL (SELECT {TICKET_LIST} FROM "
    + by_key("tickets", TICKET_LIST, "secret = b.secret")
    + " x WHERE x.event_id = $1 LIMIT 1) t ON true"
    " ORDER BY b.i"
)

#: The moves and the scan-log rows go as two JSON documents, not as an
#: array per column: asyncpg encodes arrays element by element (8–11 µs of
#: this process's CPU a scan over the 17 log columns), orjson a batch at once
#: (4–6 µs a scan, the statement's round trip included).
_MOVE_COLUMNS = (
    "id bigint, seen_zone bigint, seen_checked_in timestamptz, generation integer,"
    " type_id bigint, zone_after bigint, first_in timestamptz"
)
_SCAN_COLUMNS = ", ".join(
    f"{name} {'json' if name == 'response' else SCAN_TYPES[name]}" for name in SCAN_FIELDS
)


def _apply_batch_sql(guarded: bool) -> str:
    columns = ", ".join(SCAN_FIELDS)
    condition = ticket_guard(
        "t",
        zone="m.seen_zone",
        checked_in="m.seen_checked_in",
        generation="m.generation",
        type_id="m.type_id",
    )
    return f"""
WITH m AS (
    SELECT * FROM json_to_recordset($1::json) AS m({_MOVE_COLUMNS})
), moved AS (
    UPDATE tickets t
    SET zone_id = m.zone_after, checked_in_at = coalesce(t.checked_in_at, m.first_in)
    FROM m WHERE t.id = m.id{f" AND {condition}" if guarded else ""}
    RETURNING t.id
), z AS (
    SELECT * FROM unnest($3::bigint[], $4::integer[], $5::integer[], $6::integer[],
                         $7::integer[]) AS z(zone_id, enters, leaves, start, n)
), pick AS (
    -- per zone, one shard with room for all the batch's entries, the walk's first
    SELECT DISTINCT ON (z.zone_id) z.zone_id, s.shard, z.enters, z.enters - z.leaves AS delta
    FROM z JOIN zone_shards s ON s.zone_id = z.zone_id
        AND (s.cap IS NULL OR s.inside + z.enters <= s.cap) AND s.inside + z.enters >= z.leaves
    ORDER BY z.zone_id, (s.shard + z.n - z.start) % z.n
), counted AS (
    -- re-checked on the newest row version when a racing writer changed it
    UPDATE zone_shards s SET inside = s.inside + pick.delta
    FROM pick
    WHERE s.zone_id = pick.zone_id AND s.shard = pick.shard
      AND (s.cap IS NULL OR s.inside + pick.enters <= s.cap) AND s.inside + pick.delta >= 0
    RETURNING s.zone_id, s.inside, s.cap
), logged AS (
    INSERT INTO scans ({columns})
    SELECT {columns} FROM json_to_recordset($8::json) AS b({_SCAN_COLUMNS})
    ON CONFLICT (event_id, nonce) DO NOTHING
    RETURNING 1
), whole AS (
    -- all or nothing: when a ticket's guard, a zone's room or a nonce
    -- failed, fail the cast, which rolls the whole statement back (as in
    -- the single scan's: built from "moved", so that it is not folded).
    SELECT CASE WHEN (SELECT count(*) FROM moved) <> $2::integer
        OR (SELECT count(*) FROM counted) <> cardinality($3::bigint[])
        OR (SELECT count(*) FROM logged) <> $9::integer
    THEN CAST((SELECT '{NOT_WHOLE} ' || count(*) FROM moved) AS integer) END AS failed
)
SELECT whole.failed, counted.zone_id, counted.inside, counted.cap
FROM whole LEFT JOIN counted ON true
"""


_APPLY_BATCH = {guarded: _apply_batch_sql(guarded) for guarded in (True, False)}


class PgStore:
    """One pooled asyncpg connection in autocommit: every call is one round trip."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def read(
        self, event_id: int, nonce: str, *, secret: str | None = None, ticket_id: int | None = None
    ) -> Seen:
        sql, key = (_READ_BY_SECRET, secret) if secret is not None else (_READ_BY_ID, ticket_id)
        record = await self.conn.fetchrow(sql, event_id, key, nonce)
        assert record is not None  # the outer join always yields one row
        stored = record["stored"]
        ticket = None if record["id"] is None else TicketRow(*tuple(record)[1:])
        return Seen(ticket, None if stored is None else orjson.loads(stored))

    async def log(self, values: dict[str, Any]) -> int | None:
        scan_id = await self.conn.fetchval(_LOG, *_scan_args(values))
        return None if scan_id is None else int(scan_id)

    async def apply(self, values: dict[str, Any], move: Move) -> Applied:
        seen = move.seen
        try:
            record = await self.conn.fetchrow(
                _APPLY[guard.GUARD_TICKET_STATE],
                *_scan_args(values),
                seen.id,
                seen.zone_id,
                seen.checked_in_at,
                seen.generation,
                seen.type_id,
                move.zone_after,
                move.first_in,
                *_walk_args(move.enter),
                *_walk_args(move.leave),
            )
        except asyncpg.InvalidTextRepresentationError as exc:
            if NOT_WHOLE not in str(exc):
                raise
            return Applied(STALE)
        except asyncpg.DeadlockDetectedError:
            # Two people crossing between two zones in opposite directions
            # at once can lock the same two shards in opposite orders.
            return Applied(STALE)
        assert record is not None
        if record["scan_id"] is not None:
            taken = None if record["inside"] is None else (int(record["inside"]), record["cap"])
            return Applied(APPLIED, int(record["scan_id"]), taken)
        if move.enter is not None and not record["had_room"]:
            return Applied(FULL)
        return Applied(STALE)

    async def zone_total(self, zone_id: int) -> int:
        return int(await self.conn.fetchval(_TOTAL, zone_id))

    async def read_batch(self, event_id: int, secrets: list[str], nonces: list[str]) -> list[Seen]:
        """``read`` for many scans in one statement, in their order (by secret)."""
        records = await self.conn.fetch(_READ_BATCH, event_id, secrets, nonces)
        return [
            Seen(
                None if r["id"] is None else TicketRow(*tuple(r)[1:]),
                None if r["stored"] is None else orjson.loads(r["stored"]),
            )
            for r in records
        ]

    async def apply_batch(
        self, moves: BatchMoves, zones: list[ZoneStep], logged: list[dict[str, Any]]
    ) -> Counted | None:
        """Move the tickets (what was read, what it is after), count the zones
        and log the scans, whole: the entered shards' (zone, inside, cap), or
        None when it rolled itself back (a guard, a zone's room or a nonce failed)."""
        moved = [
            {
                "id": seen.id,
                "seen_zone": seen.zone_id,
                "seen_checked_in": seen.checked_in_at,
                "generation": seen.generation,
                "type_id": seen.type_id,
                "zone_after": after.zone_id,
                "first_in": after.checked_in_at,
            }
            for seen, after in sorted(moves, key=lambda pair: pair[0].id)  # lock order: id
        ]
        try:
            rows = await self.conn.fetch(
                _APPLY_BATCH[guard.GUARD_TICKET_STATE],
                json_text(moved),
                len(moved),
                [z.zone_id for z in zones],
                [z.enters for z in zones],
                [z.leaves for z in zones],
                [z.start % z.count for z in zones],
                [z.count for z in zones],
                json_text(logged),
                len(logged),
            )
        except asyncpg.InvalidTextRepresentationError as exc:
            if NOT_WHOLE not in str(exc):
                raise
            return None
        except asyncpg.DeadlockDetectedError:
            return None  # another process's batch locked the same rows in another order
        return [(r["zone_id"], r["inside"], r["cap"]) for r in rows if r["zone_id"] is not None]
