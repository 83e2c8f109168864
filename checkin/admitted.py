"""The admitted set in a few bytes a ticket: what a door phone is sent to know
who is in, in the ``admissions`` snapshot and in the full offline bundle.

As JSON objects (``{"ticket", "generation", "zone"}`` each) 100,000 admitted
tickets were ~5 MB a phone, sent to every door phone at its worst moment (a
reconnect after the Wi-Fi dropped). Encoded here they are ~17 KB with one
zone and ~34-50 KB with up to eight places, because:

- **ids as runs, or a bitmap.** The sorted ticket ids are runs of
  consecutive ids, each two unsigned LEB128 varints: the gap from the end
  of the run before (the first: from 0) and the run's length less one.
  Tickets issued together get consecutive ids, so an event whose doors
  have admitted nearly everyone is a few long runs. When the runs are
  short (a random part of a block admitted) a bitmap from the first id is
  smaller, one bit an id of the range, and is sent instead; its size
  follows the range, not the set (ids are shared across events), which is
  why it is not always used.
- **where each holder is as a few bits.** The distinct places — a
  ``(zone, checked_in)`` pair, zone None meaning outside after leaving —
  are listed once; each admitted ticket, in id order, takes
  ``ceil(log2(places))`` bits of a little-endian bit stream (0 bits when
  every holder is in one place). A venue has a handful of zones.
- **generations as exceptions.** Nearly every ticket is at generation 1;
  only the others are listed.

The byte strings travel as base64 (a third more; JSON has no bytes). So the
size is ~``count * bits / 6`` bytes for the places plus the ids: at 100,000
admitted, ≤ 64 KB up to four places (2 bits) however the ids lie, and up to
eight (3 bits) when they are long runs. Deflate would shave more but needs
``DecompressionStream`` on every phone; this needs nothing.

The decoder the phone runs is ``pwa/app/admitted.js`` (keep the two in step;
``decode_admitted`` here is its Python copy, for tests and the bench).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import Ticket

FORMAT = "runs-1"


@dataclass(frozen=True, slots=True)
class Admitted:
    """One ticket a door must know about: where its holder is now."""

    ticket: int
    zone: int | None
    checked_in: bool
    generation: int = 1


def _varint(value: int, out: bytearray) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _runs(ids: list[int]) -> bytes:
    """Sorted distinct ids as (gap, length - 1) varint pairs."""
    out = bytearray()
    end = 0  # one past the last id of the run before
    i = 0
    while i < len(ids):
        start = ids[i]
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        _varint(start - end, out)
        _varint(j - i, out)
        end = ids[j] + 1
        i = j + 1
    return bytes(out)


def _pack(values: list[int], bits: int) -> bytes:
    """``values`` as a little-endian bit stream, ``bits`` bits each (linear:
    eight values at a time make ``bits`` whole bytes)."""
    if bits == 0:
        return b""
    out = bytearray()
    for start in range(0, len(values), 8):
        chunk = 0
        for k, value in enumerate(values[start : start + 8]):
            chunk |= value << (k * bits)
        out += chunk.to_bytes(bits, "little")
    used = (len(values) * bits + 7) // 8
    return bytes(out[:used])


def _unpack(data: bytes, bits: int, count: int) -> list[int]:
    if bits == 0:
        return [0] * count
    mask = (1 << bits) - 1
    values = []
    for start in range(0, count, 8):
        # Eight values are ``bits`` whole bytes, starting at byte ``start // 8 * bits``.
        at = start // 8 * bits
        chunk = int.from_bytes(data[at : at + bits], "little")
        for k in range(min(8, count - start)):
            values.append((chunk >> (k * bits)) & mask)
    return values


def _bitmap(ids: list[int]) -> bytes:
    """Sorted distinct ids as a bitmap from ``ids[0]``: bit ``i`` set when ``ids[0] + i`` is in."""
    out = bytearray((ids[-1] - ids[0]) // 8 + 1)
    first = ids[0]
    for t in ids:
        offset = t - first
        out[offset >> 3] |= 1 << (offset & 7)
    return bytes(out)


def encode_admitted(tickets: Iterable[Admitted]) -> dict[str, Any]:
    """The compact form of these tickets (any order; one entry per ticket)."""
    ordered = sorted(tickets, key=lambda a: a.ticket)
    return encode_rows([(a.ticket, a.zone, a.checked_in, a.generation) for a in ordered])


def encode_rows(rows: list[tuple[int, int | None, bool, int]]) -> dict[str, Any]:
    """``encode_admitted`` of (ticket, zone, checked_in, generation) rows in id order."""
    return encode_columns(
        [row[0] for row in rows],
        [row[1] for row in rows],
        [bool(row[2]) for row in rows],
        [row[3] for row in rows],
    )


def encode_columns(
    ids: list[int], zones: list[int | None], checked_in: list[bool], generations: list[int]
) -> dict[str, Any]:
    """``encode_admitted`` of columns in id order (what the database answers:
    no object per ticket on the way)."""
    keys = list(zip(zones, checked_in, strict=True))
    places = sorted(set(keys), key=lambda p: (p[0] is None, p[0] or 0, not p[1]))
    index = {place: i for i, place in enumerate(places)}
    bits = (len(places) - 1).bit_length()
    runs = _runs(ids)
    # Long runs (tickets issued together, most admitted) or scattered ids:
    # runs. Dense with holes everywhere (a random part of a block): a bitmap.
    bitmap = _bitmap(ids) if ids and (ids[-1] - ids[0]) // 8 < len(runs) else None
    return {
        "format": FORMAT,
        "count": len(ids),
        "places": [[zone, checked] for zone, checked in places],
        "bits": bits,
        "ids": base64.b64encode(runs if bitmap is None else bitmap).decode("ascii"),
        # For a bitmap: the id of its bit 0. None: the ids are runs.
        "bitmap_from": None if bitmap is None else ids[0],
        "where": base64.b64encode(_pack([index[key] for key in keys], bits)).decode("ascii"),
        "generations": [
            [ticket, generation]
            for ticket, generation in zip(ids, generations, strict=True)
            if generation != 1
        ],
    }


#: The set bits of each byte value, lowest first.
_SET_BITS = [tuple(bit for bit in range(8) if value >> bit & 1) for value in range(256)]


def _ids_of(data: dict[str, Any]) -> list[int]:
    raw = base64.b64decode(data["ids"])
    first = data.get("bitmap_from")
    if first is not None:
        found: list[int] = []
        for at, byte in enumerate(raw):
            if byte:
                base = first + (at << 3)
                found.extend(base + bit for bit in _SET_BITS[byte])
        return found
    ids: list[int] = []
    at = end = 0
    while at < len(raw):
        gap, at = _read_varint(raw, at)
        extra, at = _read_varint(raw, at)
        start = end + gap
        ids.extend(range(start, start + extra + 1))
        end = start + extra + 1
    return ids


def decode_admitted(data: dict[str, Any]) -> list[Admitted]:
    """The tickets of an ``encode_admitted`` answer, by id (the phone's copy:
    ``pwa/app/admitted.js``)."""
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown admitted-set format {data.get('format')!r}")
    count = int(data["count"])
    ids = _ids_of(data)
    if len(ids) != count:
        raise ValueError(f"admitted set says {count} tickets, its ids hold {len(ids)}")
    places = [(zone, bool(checked_in)) for zone, checked_in in data["places"]]
    where = _unpack(base64.b64decode(data["where"]), int(data["bits"]), count)
    generations = {int(t): int(g) for t, g in data.get("generations", [])}
    return [Admitted(t, *places[w], generations.get(t, 1)) for t, w in zip(ids, where, strict=True)]


#: PostgreSQL answers the set as one row of four arrays, which asyncpg decodes
#: in C: a row per ticket cost ~10 µs each on the way (1 s at 100,000).
_PG_ADMITTED = text(
    "SELECT array_agg(id ORDER BY id), array_agg(zone_id ORDER BY id),"
    " array_agg(checked_in_at IS NOT NULL ORDER BY id), array_agg(generation ORDER BY id)"
    " FROM tickets WHERE event_id = :event_id"
    " AND (zone_id IS NOT NULL OR checked_in_at IS NOT NULL)"
)


async def read_admitted(session: AsyncSession, event_id: int) -> dict[str, Any]:
    """The event's admitted set, encoded: every ticket checked in once or in a zone
    (an annulled first entry leaves a ticket neither, and out of the set).

    Whether checked in is asked of the database as a boolean: the times
    themselves are not sent, and parsing 100,000 of them was most of a read.
    """
    if session.get_bind().dialect.name == "postgresql":
        ids, zones, checked_in, generations = (
            await session.execute(_PG_ADMITTED, {"event_id": event_id})
        ).one()
        return encode_columns(ids or [], zones or [], checked_in or [], generations or [])
    rows = await session.execute(
        select(Ticket.id, Ticket.zone_id, Ticket.checked_in_at.is_not(None), Ticket.generation)
        .where(
            Ticket.event_id == event_id,
            or_(Ticket.zone_id.is_not(None), Ticket.checked_in_at.is_not(None)),
        )
        .order_by(Ticket.id)
    )
    return encode_rows([tuple(row) for row in rows])  # type: ignore[misc]
