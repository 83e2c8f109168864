"""Ticket mail jobs: start one, follow its progress, see each ticket's delivery."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.routing import Route

from server.auth import ORGANISER, authenticate, authorize
from server.context import muster
from server.errors import Conflict, InvalidRequest, NotFound
from server.features.mail_sender import MAIL
from server.features.mailings import (
    MAX_NAMED_TICKETS,
    STATUSES,
    MailingRequest,
    create_mailing,
    list_mailings,
    mailing_deliveries,
    mailing_json,
    read_mailing,
)
from server.http import json_response, parse_body, path_int
from server.openapi import TEXT, WHOLE, accepts, answers, reads
from server.responses import JSONResponse

TicketId = Annotated[int, Field(ge=1, le=2**53)]


class MailingIn(BaseModel):
    #: "unsent": every ticket not yet mailed; "tickets": the ones named.
    to: Literal["unsent", "tickets"] = "unsent"
    tickets: Annotated[list[TicketId], Field(max_length=MAX_NAMED_TICKETS)] = []
    #: "reissued": the mail says that the code sent before no longer works.
    note: Literal["", "reissued"] = ""


@accepts(MailingIn)
@answers(202, 409)
async def start_mailing(request: Request) -> JSONResponse:
    """Queue the mail and answer at once with the job; a background sender mails."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, {ORGANISER})
    ctx = muster(request)
    if ctx.settings.smtp is None:
        raise Conflict("No SMTP server is set (MUSTER_SMTP_URL).", code="mail_not_configured")
    body = await parse_body(request, MailingIn)
    mailing, queued = await create_mailing(
        ctx.db,
        event_id,
        MailingRequest(body.to, body.tickets, body.note),
        principal.account_id,
    )
    sender = ctx.part(MAIL)
    if sender is not None:
        sender.wake()
    counts = {"queued": queued, "sending": 0, "sent": 0, "failed": 0}
    return json_response(mailing_json(mailing, counts), status=202)


async def event_mailings(request: Request) -> JSONResponse:
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    mailings = await list_mailings(muster(request).db, event_id)
    return json_response({"mailings": mailings})


def _page(request: Request) -> tuple[str | None, int, int]:
    status = request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidRequest("Unknown delivery status.", {"status": status}, code="bad_status")
    try:
        limit = min(max(int(request.query_params.get("limit", "100")), 1), 500)
        offset = min(max(int(request.query_params.get("offset", "0")), 0), 10**9)
    except ValueError:
        raise InvalidRequest("limit and offset must be whole numbers.") from None
    return status, limit, offset


@answers(422)
@reads(status=TEXT, limit=WHOLE, offset=WHOLE)
async def read_mailing_route(request: Request) -> JSONResponse:
    """A mailing's progress (counts per state) and one page of its deliveries."""
    mailing_id = path_int(request, "mailing_id")
    await authenticate(request)
    status, limit, offset = _page(request)
    db = muster(request).db
    found = await read_mailing(db, mailing_id)
    if found is None:
        raise NotFound(f"No mailing {mailing_id}.")
    mailing, counts = found
    await authorize(request, mailing.event_id, {ORGANISER})
    out = mailing_json(mailing, counts)
    out["deliveries"] = await mailing_deliveries(db, mailing_id, status, limit, offset)
    return json_response(out)


routes = [
    Route("/api/v1/events/{event_id}/mailings", start_mailing, methods=["POST"]),
    Route("/api/v1/events/{event_id}/mailings", event_mailings, methods=["GET"]),
    Route("/api/v1/mailings/{mailing_id}", read_mailing_route, methods=["GET"]),
]
