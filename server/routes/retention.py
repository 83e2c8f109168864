"""Retention: the event's policy, the shred by hand, one person's export and erasure.

Personal data is answered with ``Cache-Control: no-store`` and every export,
erasure and shred leaves an audit entry (who, when, which ticket or event).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth import ORGANISER, authenticate, authorize
from server.context import muster
from server.errors import Conflict, NotFound
from server.features.export_words import LANG, lang_of
from server.features.personal_data import event_archive, record_csv, ticket_record
from server.features.retention import audit, claim, erase_ticket, event_clock, shred
from server.features.retention_rules import reminder
from server.http import json_response, parse_body, path_int
from server.lookup import get_event
from server.models import AuditEntry, Ticket, utcnow
from server.openapi import accepts, answers, reads
from server.responses import JSONResponse
from server.serialize import iso

NO_STORE = {"Cache-Control": "private, no-store"}


class ShredIn(BaseModel):
    #: Must be true: the shred cannot be undone.
    confirm: Literal[True]


async def retention_policy(request: Request) -> JSONResponse:
    """The policy as the console shows it: the days, when the shred runs, how soon."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    ctx = muster(request)
    async with ctx.db.reading() as session:
        event = await get_event(session, event_id)
    shown = reminder(event_clock(event), utcnow(), ctx.settings.retention_days)
    shown["due_at"] = iso(shown["due_at"])
    shown["shredded_at"] = iso(shown["shredded_at"])
    return json_response(shown)


@accepts(ShredIn)
@answers(409)
async def shred_now(request: Request) -> JSONResponse:
    """Run the shred at once (the organiser confirmed); 409 when done or running."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, {ORGANISER})
    await parse_body(request, ShredIn)
    ctx = muster(request)
    async with ctx.db.reading() as session:
        event = await get_event(session, event_id)
    if event.shredded_at is not None:
        raise Conflict("This event was shredded already.", code="already_shredded")
    now = utcnow()
    if not await claim(ctx.db, event_id, now, force=True):
        raise Conflict("The shred of this event is running.", code="shred_running")
    counts = await shred(ctx.db, event_id, actor_id=principal.account_id, now=now)
    if counts is None:
        raise Conflict("This event was shredded already.", code="already_shredded")
    ctx.changed(event_id, "headcount", "alerts", "incidents")
    return json_response({"event": event_id, "shredded_at": iso(now), "changed": counts})


async def _ticket(request: Request) -> tuple[Ticket, int]:
    ticket_id = path_int(request, "ticket_id")
    await authenticate(request)  # before the lookup: a stranger learns nothing
    async with muster(request).db.reading() as session:
        ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"No ticket {ticket_id}.")
    principal = await authorize(request, ticket.event_id, {ORGANISER})
    return ticket, principal.account_id


def _wants_csv(request: Request) -> bool:
    fmt = request.query_params.get("format")
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


@answers(422, media_type=("application/json", "text/csv"))
@reads(format={"type": "string", "enum": ["json", "csv"]}, lang=LANG)
async def personal_data(request: Request) -> Response:
    """Everything held about one ticket's holder, as JSON or (``?format=csv``) CSV."""
    ticket, actor = await _ticket(request)
    words = lang_of(request.query_params)
    ctx = muster(request)
    record = await ticket_record(ctx.db, ticket.id)
    await audit(
        ctx.db,
        "personal_data_export",
        event_id=ticket.event_id,
        actor_id=actor,
        ticket_id=ticket.id,
    )
    if _wants_csv(request):
        return Response(
            record_csv(record, words),
            media_type="text/csv; charset=utf-8",
            headers={
                **NO_STORE,
                "Content-Disposition": f'attachment; filename="personal-data-{ticket.id}.csv"',
            },
        )
    return json_response(record, headers=NO_STORE)


async def erase(request: Request) -> JSONResponse:
    """Remove one holder's personal data (their ticket is retired)."""
    ticket, actor = await _ticket(request)
    ctx = muster(request)
    counts = await erase_ticket(ctx.db, ticket.id, actor_id=actor)
    ctx.changed(ticket.event_id, "headcount", "alerts", "incidents")
    return json_response({"ticket": ticket.id, "changed": counts}, headers=NO_STORE)


@answers(422, media_type="application/zip")
@reads(lang=LANG)
async def personal_data_archive(request: Request) -> Response:
    """A zip of the CSVs the shred would empty, to keep before it runs."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, {ORGANISER})
    ctx = muster(request)
    async with ctx.db.reading() as session:
        await get_event(session, event_id)
    body = await event_archive(ctx.db, event_id, lang_of(request.query_params))
    await audit(ctx.db, "personal_data_archive", event_id=event_id, actor_id=principal.account_id)
    return Response(
        body,
        media_type="application/zip",
        headers={
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="personal-data-{event_id}.zip"',
        },
    )


async def audit_trail(request: Request) -> JSONResponse:
    """The event's audit entries, newest first (ids and counts, no personal data)."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    async with muster(request).db.reading() as session:
        await get_event(session, event_id)
        rows = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.event_id == event_id)
                .order_by(AuditEntry.id.desc())
                .limit(500)
            )
        ).all()
    return json_response(
        {
            "entries": [
                {
                    "id": e.id,
                    "action": e.action,
                    "actor": e.actor_id,
                    "ticket": e.ticket_id,
                    "at": iso(e.at),
                    "data": e.data,
                }
                for e in rows
            ]
        }
    )


routes = [
    Route("/api/v1/events/{event_id}/retention", retention_policy, methods=["GET"]),
    Route("/api/v1/events/{event_id}/shred", shred_now, methods=["POST"]),
    Route("/api/v1/events/{event_id}/audit", audit_trail, methods=["GET"]),
    Route(
        "/api/v1/events/{event_id}/exports/personal-data.zip",
        personal_data_archive,
        methods=["GET"],
    ),
    Route("/api/v1/tickets/{ticket_id}/personal-data", personal_data, methods=["GET"]),
    Route("/api/v1/tickets/{ticket_id}/erase", erase, methods=["POST"]),
]
