"""Mailings: jobs that mail tickets, and each ticket's delivery state.

A mailing is created in one transaction with a delivery row per ticket
(``queued``); ``server.features.mail_sender`` then sends them in the background and
the API reads the progress from the rows. Who is mailed:

- ``unsent``: every valid ticket of the event with an address that has no
  delivery queued, being sent or sent — so failed ones are tried again;
- ``tickets``: the tickets named (one, or a selection), whatever was sent
  before — a resend. With the note ``reissued`` the mail says that the code
  sent before no longer works.

A ticket already queued or being sent (by any mailing) is never queued a
second time: two quick clicks, or two organisers, cannot mail anyone twice.
On PostgreSQL an advisory lock per event serialises the creation of
mailings (the "not yet queued" check and the insert must not interleave);
on SQLite the process's write lock does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, insert, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from server.db import Database, dialect_name
from server.errors import InvalidRequest
from server.features.mail import NOTES
from server.lookup import get_event
from server.models import MailDelivery, Mailing, Ticket, utcnow
from server.serialize import iso

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
STATUSES = (QUEUED, SENDING, SENT, FAILED)
#: A delivery in one of these keeps its ticket from being queued again.
PENDING = (QUEUED, SENDING)

KINDS = ("unsent", "tickets")
#: Most tickets named in one mailing (an "unsent" mailing has no limit).
MAX_NAMED_TICKETS = 10_000

#: Advisory lock space of mailing creation (the event id is the other key).
_LOCK_SPACE = 7230772


@dataclass(frozen=True)
class MailingRequest:
    kind: str
    ticket_ids: Sequence[int] = ()
    note: str = ""


def check_mailing_request(request: MailingRequest) -> None:
    """Raise InvalidRequest (with a stable code) for a request that makes no sense."""
    if request.kind not in KINDS:
        raise InvalidRequest("Unknown mailing kind.", {"kind": request.kind}, code="bad_kind")
    if request.note not in NOTES:
        raise InvalidRequest("Unknown mail note.", {"note": request.note}, code="bad_note")
    if request.kind == "tickets" and not request.ticket_ids:
        raise InvalidRequest("Name at least one ticket.", code="no_tickets")
    if len(request.ticket_ids) > MAX_NAMED_TICKETS:
        raise InvalidRequest(
            "Too many tickets named.", {"max": MAX_NAMED_TICKETS}, code="too_many_tickets"
        )


async def _lock_event(session: AsyncSession, event_id: int) -> None:
    if dialect_name(session) == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :event)"),
            {"space": _LOCK_SPACE, "event": event_id},
        )


async def create_mailing(
    db: Database, event_id: int, request: MailingRequest, account_id: int | None
) -> tuple[Mailing, int]:
    """Create the job and queue its deliveries; return it and how many were queued."""
    check_mailing_request(request)
    async with db.writing() as session:
        await get_event(session, event_id)
        await _lock_event(session, event_id)
        mailing = Mailing(
            event_id=event_id,
            kind=request.kind,
            note=request.note,
            created_by=account_id,
            created_at=utcnow(),
        )
        session.add(mailing)
        await session.flush()
        blocking = PENDING if request.kind == "tickets" else (*PENDING, SENT)
        not_queued = ~exists().where(
            MailDelivery.ticket_id == Ticket.id, MailDelivery.status.in_(blocking)
        )
        chosen = select(
            literal(mailing.id),
            literal(event_id),
            Ticket.id,
            literal(QUEUED),
            literal(0),
            literal(""),
            literal(""),
        ).where(Ticket.event_id == event_id, not_queued)
        if request.kind == "unsent":
            chosen = chosen.where(Ticket.status == "valid", Ticket.holder_email != "")
        else:
            ids = sorted(set(request.ticket_ids))
            found = set(
                (
                    await session.scalars(
                        select(Ticket.id).where(Ticket.event_id == event_id, Ticket.id.in_(ids))
                    )
                ).all()
            )
            missing = [i for i in ids if i not in found]
            if missing:
                raise InvalidRequest(
                    "No such ticket in this event.",
                    {"tickets": missing[:100]},
                    code="unknown_tickets",
                )
            chosen = chosen.where(Ticket.id.in_(ids))
        columns = [
            "mailing_id",
            "event_id",
            "ticket_id",
            "status",
            "attempts",
            "error_code",
            "smtp_reply",
        ]
        statement = insert(MailDelivery).from_select(columns, chosen.order_by(Ticket.id))
        result = await session.execute(statement)
        queued = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return mailing, queued


async def mailing_counts(session: AsyncSession, mailing_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(MailDelivery.status, func.count())
        .where(MailDelivery.mailing_id == mailing_id)
        .group_by(MailDelivery.status)
    )
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in rows:
        counts[status] = int(n)
    return counts


def mailing_json(mailing: Mailing, counts: dict[str, int]) -> dict[str, Any]:
    total = sum(counts.values())
    return {
        "id": mailing.id,
        "event_id": mailing.event_id,
        "kind": mailing.kind,
        "note": mailing.note,
        "created_at": iso(mailing.created_at),
        "total": total,
        "counts": counts,
        "done": counts[QUEUED] + counts[SENDING] == 0,
    }


async def read_mailing(db: Database, mailing_id: int) -> tuple[Mailing, dict[str, int]] | None:
    async with db.reading() as session:
        mailing = await session.get(Mailing, mailing_id)
        if mailing is None:
            return None
        return mailing, await mailing_counts(session, mailing_id)


async def list_mailings(db: Database, event_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The event's latest mailings, newest first, with their counts."""
    async with db.reading() as session:
        await get_event(session, event_id)
        mailings = (
            await session.scalars(
                select(Mailing)
                .where(Mailing.event_id == event_id)
                .order_by(Mailing.id.desc())
                .limit(limit)
            )
        ).all()
        return [mailing_json(m, await mailing_counts(session, m.id)) for m in mailings]


async def mailing_deliveries(
    db: Database, mailing_id: int, status: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """One page of a mailing's deliveries (failed first, then by ticket)."""
    query = (
        select(MailDelivery, Ticket.holder_name, Ticket.holder_email, Ticket.code)
        .join(Ticket, Ticket.id == MailDelivery.ticket_id)
        .where(MailDelivery.mailing_id == mailing_id)
    )
    if status is not None:
        query = query.where(MailDelivery.status == status)
    failed_first = and_(MailDelivery.status == FAILED).desc()
    query = query.order_by(failed_first, MailDelivery.id).limit(limit).offset(offset)
    async with db.reading() as session:
        rows = (await session.execute(query)).all()
    return [
        {
            "id": d.id,
            "ticket": d.ticket_id,
            "holder_name": name,
            "holder_email": email,
            "code": code,
            "status": d.status,
            "attempts": d.attempts,
            "sent_at": iso(d.sent_at),
            "error": d.error_code or None,
            "smtp_reply": d.smtp_reply or None,
        }
        for d, name, email, code in rows
    ]
