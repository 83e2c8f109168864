"""Issuing tickets: one, a JSON list, or a CSV import of up to 100,000 rows.

An import is all or nothing: every row is checked first, and a single bad row
fails the whole import with each bad row's line number and reason, writing
nothing. Valid imports are signed and inserted in one transaction.

Reasons are stable codes with parameters (``RowError``), never sentences:
the console words them in its reader's language (``import.row.<code>``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as default
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.secrets import Signer, TicketClaims
from server.context import Muster
from server.db import Database, dialect_name
from server.errors import InvalidRequest
from server.features.keys import key_store
from server.lookup import get_event
from server.models import Event, Ticket, TicketType, utcnow

#: Doors may open this long before the event starts…
VALID_BEFORE_START = timedelta(hours=24)
#: …and tickets still work this long after it ends, unless the ticket type
#: sets its own window.
VALID_AFTER_END = timedelta(hours=6)

#: Most bad rows listed in one failed import (the count is always exact).
MAX_REPORTED_ERRORS = 1000

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

HEADER_ALIASES = {
    "holder_name": "holder_name",
    "name": "holder_name",
    "姓名": "holder_name",
    "holder_email": "holder_email",
    "email": "holder_email",
    "邮箱": "holder_email",
    "电子邮件": "holder_email",
    "ticket_type": "ticket_type",
    "type": "ticket_type",
    "票种": "ticket_type",
    "language": "language",
    "lang": "language",
    "语言": "language",
}

#: Values of the language column, as written in a sheet, to the stored code
#: ("" = the event's language).
LANGUAGE_ALIASES = {
    "": "",
    "zh": "zh",
    "zh-cn": "zh",
    "zh_cn": "zh",
    "chinese": "zh",
    "中文": "zh",
    "简体中文": "zh",
    "en": "en",
    "en-us": "en",
    "en-gb": "en",
    "english": "en",
    "英文": "en",
    "英语": "en",
}


def ticket_code(ticket_id: int) -> str:
    """A short code for a ticket id (Crockford base32, at least 6 characters).

    ``pwa/app/display.js`` (ticketCode) computes the same on the phone.
    """
    digits = []
    value = ticket_id
    while value:
        value, rem = divmod(value, 32)
        digits.append(_CROCKFORD[rem])
    return "".join(reversed(digits)).rjust(6, "0")


#: What a typed printed code looks like (Crockford base32; a secret is 141 characters).
PRINTED_CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{6,13}")


def is_printed_code(text: str) -> bool:
    return PRINTED_CODE.fullmatch(text.strip().upper()) is not None


async def secrets_of_codes(
    session: AsyncSession, event_id: int, codes: Iterable[str]
) -> dict[str, str]:
    """The current secret of each printed code of the event (codes upper case).

    The code printed under a badge's QR admits wherever the secret does: a
    door that types it scans the ticket's current secret. A code is the
    ticket id in base32, so it proves nothing by itself — typing one says the
    steward holds the badge, and the answer names the holder to compare.
    """
    wanted = sorted({c.strip().upper() for c in codes if is_printed_code(c)})
    if not wanted:
        return {}
    rows = await session.execute(
        select(Ticket.code, Ticket.secret).where(
            Ticket.event_id == event_id, Ticket.code.in_(wanted)
        )
    )
    return {code: secret for code, secret in rows}


@dataclass(frozen=True)
class TicketRequest:
    holder_name: str
    holder_email: str = ""
    #: A ticket type id, a ticket type name, or None for the event's default.
    ticket_type: int | str | None = None
    #: "zh", "en", or "" for the event's language (the language of their mail).
    language: str = ""
    line: int | None = None


#: Longest holder name and email address a row may have.
MAX_NAME = 200
MAX_EMAIL = 320


@dataclass(frozen=True)
class RowError:
    """Why one row cannot be imported: a stable ``code`` and its ``params``.

    Codes: ``name_empty``, ``name_too_long`` (max), ``email_invalid``
    (value), ``language_invalid`` (value), ``unknown_ticket_type`` (value),
    ``csv_malformed``,
    ``too_many_cells`` (cells, columns).
    """

    line: int | None
    field: str
    code: str
    params: dict[str, Any] = default(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "code": self.code, "params": self.params}


def check_request(request: TicketRequest) -> list[RowError]:
    errors = []
    name = request.holder_name.strip()
    if not name:
        errors.append(RowError(request.line, "holder_name", "name_empty"))
    elif len(name) > MAX_NAME:
        errors.append(RowError(request.line, "holder_name", "name_too_long", {"max": MAX_NAME}))
    if request.language.strip().lower() not in LANGUAGE_ALIASES:
        errors.append(
            RowError(request.line, "language", "language_invalid", {"value": request.language[:16]})
        )
    email = request.holder_email.strip()
    if email and ("@" not in email or len(email) > MAX_EMAIL or " " in email):
        errors.append(
            RowError(request.line, "holder_email", "email_invalid", {"value": email[:MAX_EMAIL]})
        )
    return errors


def decode_csv(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        # Excel in Chinese locales saves CSV as GB18030 (GBK) by default.
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidRequest("The CSV file is neither UTF-8 nor GB18030 text.", code="csv_not_text")


def csv_records(
    text: str, max_rows: int, aliases: dict[str, str], required: str
) -> Iterator[tuple[int, dict[str, str]] | RowError]:
    """The rows of a CSV file as (line, {column: stripped cell}), or errors.

    The header names the columns through ``aliases`` (lower-cased header →
    column; unknown headers are ignored); ``required`` is the name column
    every import needs. Blank rows are skipped; more than ``max_rows`` is
    refused whole. The one reader of the ticket and the roster imports.
    """
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidRequest("The CSV file is empty.", code="csv_empty") from None
    except csv.Error as exc:
        raise InvalidRequest(f"Line 1: {exc}", {"line": 1}, code="csv_malformed") from None
    columns = [aliases.get(h.strip().lstrip("\ufeff").lower()) for h in header]
    if required not in columns:
        raise InvalidRequest(
            f"The CSV header has no {required} (or name, 姓名) column.",
            {"header": header},
            code="csv_no_name_column",
        )
    count = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield RowError(reader.line_num, "", "csv_malformed")
            return
        if not any(cell.strip() for cell in row):
            continue
        count += 1
        if count > max_rows:
            raise InvalidRequest(
                f"The CSV file has more than {max_rows} rows.",
                {"max": max_rows},
                code="csv_too_many_rows",
            )
        if len(row) > len(columns):
            yield RowError(
                reader.line_num,
                "",
                "too_many_cells",
                {"cells": len(row), "columns": len(columns)},
            )
            continue
        yield (
            reader.line_num,
            {col: cell.strip() for col, cell in zip(columns, row, strict=False) if col},
        )


def parse_csv(text: str, max_rows: int) -> Iterator[TicketRequest | RowError]:
    """Rows of a ticket CSV as requests, or errors, with their line numbers.

    The header names the columns: ``holder_name`` (or ``name``, ``姓名``),
    ``holder_email`` (``email``, ``邮箱``), ``ticket_type`` (``type``, ``票种``).
    """
    for record in csv_records(text, max_rows, HEADER_ALIASES, "holder_name"):
        if isinstance(record, RowError):
            yield record
            continue
        line, values = record
        yield TicketRequest(
            holder_name=values.get("holder_name", ""),
            holder_email=values.get("holder_email", ""),
            ticket_type=values.get("ticket_type") or None,
            language=values.get("language", ""),
            line=line,
        )


def _resolve_type(
    request: TicketRequest,
    by_id: dict[int, TicketType],
    by_name: dict[str, TicketType],
    default: TicketType,
) -> TicketType | RowError:
    ref = request.ticket_type
    if ref is None or ref == "":
        return default
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        found = by_id.get(int(ref))
    else:
        found = by_name.get(ref.strip().casefold())
    if found is None:
        return RowError(request.line, "ticket_type", "unknown_ticket_type", {"value": str(ref)})
    return found


def validity(event: Event, ticket_type: TicketType) -> tuple[datetime, datetime]:
    start = ticket_type.valid_from or event.starts_at - VALID_BEFORE_START
    end = ticket_type.valid_until or event.ends_at + VALID_AFTER_END
    return start, end


async def _allocate_ids(session: AsyncSession, count: int) -> list[int]:
    """Ticket ids for ``count`` new tickets: the ids are signed into the secrets,
    so they must be known before the rows are inserted."""
    if dialect_name(session) == "postgresql":
        rows = await session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('tickets', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return [r[0] for r in rows]
    # SQLite: writes are serialised by Database.write_lock, so max(id) is stable.
    top = await session.scalar(select(func.coalesce(func.max(Ticket.id), 0)))
    return list(range(int(top or 0) + 1, int(top or 0) + 1 + count))


Progress = Callable[[str, int, int], None]

_COPY_COLUMNS = (
    "id",
    "event_id",
    "type_id",
    "holder_name",
    "holder_email",
    "language",
    "code",
    "secret",
    "generation",
    "status",
    "valid_from",
    "valid_until",
    "created_at",
)
_CHUNK = 5000


async def _insert_tickets(
    session: AsyncSession, rows: list[dict[str, Any]], progress: Progress
) -> None:
    """Insert the new rows in the session's transaction.

    On PostgreSQL through COPY: for 100,000 tickets it takes a fraction of a
    second where multi-row INSERTs take several.
    """
    if dialect_name(session) == "postgresql":
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        now = utcnow()
        for start_at in range(0, len(rows), _CHUNK):
            chunk = rows[start_at : start_at + _CHUNK]
            records = [tuple(r.get(c, now) for c in _COPY_COLUMNS) for r in chunk]
            await driver.copy_records_to_table("tickets", records=records, columns=_COPY_COLUMNS)
            progress("write", start_at + len(chunk), len(rows))
        return
    for start_at in range(0, len(rows), _CHUNK):
        await session.execute(insert(Ticket), rows[start_at : start_at + _CHUNK])
        progress("write", min(start_at + _CHUNK, len(rows)), len(rows))


#: What an import does with a row whose email already holds a ticket of the
#: event: stop and say so (the default for CSV), leave it out, or issue anyway.
EXISTING_EMAILS = ("refuse", "skip", "issue")


async def tickets_by_email(db: Database, event_id: int, emails: Iterable[str]) -> dict[str, str]:
    """The code of a valid ticket each of ``emails`` holds already (case-insensitive)."""
    wanted = sorted({e.strip().lower() for e in emails if e and e.strip()})
    found: dict[str, str] = {}
    async with db.reading() as session:
        for start in range(0, len(wanted), 1000):
            rows = await session.execute(
                select(func.lower(Ticket.holder_email), Ticket.code).where(
                    Ticket.event_id == event_id,
                    Ticket.status != "revoked",
                    func.lower(Ticket.holder_email).in_(wanted[start : start + 1000]),
                )
            )
            for email, code in rows:
                found.setdefault(email, code)
    return found


def already_issued(
    requests: Iterable[TicketRequest | RowError], existing: dict[str, str]
) -> tuple[list[TicketRequest | RowError], list[dict[str, Any]]]:
    """Split rows into those to import and those whose email holds a ticket
    (``{"line", "email", "code"}`` of the ticket it holds)."""
    kept: list[TicketRequest | RowError] = []
    held: list[dict[str, Any]] = []
    for item in requests:
        email = item.holder_email.strip() if isinstance(item, TicketRequest) else ""
        if email and email.lower() in existing:
            held.append({"line": item.line, "email": email, "code": existing[email.lower()]})
        else:
            kept.append(item)
    return kept, held


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


async def issue_tickets(
    ctx: Muster,
    event_id: int,
    requests: Iterable[TicketRequest | RowError],
    progress: Progress = _no_progress,
) -> list[dict[str, Any]]:
    """Check every request, then issue all of them in one transaction, or none.

    Raises InvalidRequest (``bad_rows``) with every bad row (line, field,
    code, params) when any row is bad.
    """
    async with ctx.db.reading() as session:
        event = await get_event(session, event_id)
        types = (
            await session.scalars(select(TicketType).where(TicketType.event_id == event_id))
        ).all()
    by_id = {t.id: t for t in types}
    # A live type wins over an archived one of the same name.
    by_name = {t.name.casefold(): t for t in sorted(types, key=lambda t: t.archived_at is None)}
    default = next((t for t in types if t.is_default), types[0] if types else None)
    if default is None:
        raise InvalidRequest("This event has no ticket type.", code="no_ticket_type")

    accepted: list[tuple[TicketRequest, TicketType]] = []
    errors: list[RowError] = []
    for item in requests:
        if isinstance(item, RowError):
            errors.append(item)
            continue
        problems = check_request(item)
        resolved = _resolve_type(item, by_id, by_name, default)
        if isinstance(resolved, RowError):
            problems.append(resolved)
        elif resolved.archived_at is not None:
            problems.append(
                RowError(item.line, "ticket_type", "ticket_type_archived", {"value": resolved.name})
            )
        if problems:
            errors.extend(problems)
        else:
            assert isinstance(resolved, TicketType)
            accepted.append((item, resolved))
        if (len(accepted) + len(errors)) % 5000 == 0:
            progress("check", len(accepted), 0)
    if errors:
        raise InvalidRequest(
            f"{len(errors)} bad row(s); nothing was imported.",
            {
                "errors": [e.as_dict() for e in errors[:MAX_REPORTED_ERRORS]],
                "error_count": len(errors),
            },
            code="bad_rows",
        )
    if not accepted:
        raise InvalidRequest("No tickets to issue.", code="nothing_to_issue")

    signer = await key_store(ctx).signer(event_id)
    windows = {t.id: validity(event, t) for t in types}
    async with ctx.db.writing() as session:
        ids = await _allocate_ids(session, len(accepted))
        rows = []
        for ticket_id, (req, ticket_type) in zip(ids, accepted, strict=True):
            start, end = windows[ticket_type.id]
            secret = signer.sign(
                TicketClaims(event_id, ticket_id, ticket_type.id, 1, start, end, signer.kid)
            )
            rows.append(
                {
                    "id": ticket_id,
                    "event_id": event_id,
                    "type_id": ticket_type.id,
                    "holder_name": req.holder_name.strip(),
                    "holder_email": req.holder_email.strip(),
                    "language": LANGUAGE_ALIASES[req.language.strip().lower()],
                    "code": ticket_code(ticket_id),
                    "secret": secret,
                    "generation": 1,
                    "status": "valid",
                    "valid_from": start,
                    "valid_until": end,
                }
            )
            if len(rows) % 5000 == 0:
                progress("sign", len(rows), len(accepted))
        await _insert_tickets(session, rows, progress)
    return [
        {
            "id": r["id"],
            "secret": r["secret"],
            "code": r["code"],
            "holder_name": r["holder_name"],
            "holder_email": r["holder_email"],
            "ticket_type": r["type_id"],
            "line": req.line,
        }
        for r, (req, _t) in zip(rows, accepted, strict=True)
    ]


#: The status of a walk-in blank: signed and held by a supervisor's phone,
#: nobody's ticket yet (``server.features.walk_ins``). Counts of tickets read
#: ``status = 'valid'``, so a blank counts nowhere until it is bound.
BLANK_STATUS = "blank"


async def insert_blanks(
    session: AsyncSession, signer: Signer, event: Event, types: Iterable[TicketType]
) -> list[int]:
    """Sign and insert one blank ticket per item of ``types`` (repeat a type for
    more) in the caller's transaction; their ids. The secrets are signed like
    any ticket's, so a door verifies a walk-in's QR offline."""
    wanted = list(types)
    if not wanted:
        return []
    ids = await _allocate_ids(session, len(wanted))
    rows = []
    for ticket_id, ticket_type in zip(ids, wanted, strict=True):
        start, end = validity(event, ticket_type)
        rows.append(
            {
                "id": ticket_id,
                "event_id": event.id,
                "type_id": ticket_type.id,
                "holder_name": "",
                "holder_email": "",
                "language": "",
                "code": ticket_code(ticket_id),
                "secret": signer.sign(
                    TicketClaims(event.id, ticket_id, ticket_type.id, 1, start, end, signer.kid)
                ),
                "generation": 1,
                "status": BLANK_STATUS,
                "valid_from": start,
                "valid_until": end,
                "created_at": utcnow(),
            }
        )
    await session.execute(insert(Ticket), rows)
    return ids
