"""Issuing, finding, revoking tickets; their QR images and the attendee's page."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from checkin.qr import render_png, render_svg
from checkin.secrets import TicketClaims, secret_text
from server.auth import (
    DOOR,
    ORGANISER,
    READERS,
    SCANNERS,
    Principal,
    authenticate,
    authorize,
)
from server.context import muster
from server.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from server.features.issuance import (
    BLANK_STATUS,
    EXISTING_EMAILS,
    MAX_REPORTED_ERRORS,
    TicketRequest,
    already_issued,
    decode_csv,
    issue_tickets,
    parse_csv,
    tickets_by_email,
)
from server.features.keys import key_store
from server.features.rights import may_export_personal_data, ticket_view
from server.fields import MAX_INT, storable
from server.http import json_response, path_int, read_json, read_limited, validate
from server.lookup import get_event
from server.models import Event, Revocation, Ticket, utcnow
from server.openapi import CSV_FILE, TEXT, WHOLE, accepts, answers, file_form, reads
from server.responses import JSONResponse
from server.security_headers import page_policy
from server.serialize import ticket_json


class TicketIn(BaseModel):
    holder_name: Annotated[str, Field(max_length=200)]
    holder_email: Annotated[str, Field(max_length=320)] = ""
    ticket_type: int | str | None = None
    #: "zh" or "en": the language of their mail; "" for the event's.
    language: Literal["", "zh", "en"] = ""


class TicketBatchIn(BaseModel):
    tickets: Annotated[list[TicketIn], Field(min_length=1, max_length=100_000)]


class RevokeIn(BaseModel):
    reissue: bool = False
    reason: Annotated[str, Field(max_length=200)] = ""


async def csv_upload_text(request: Request, limit: int) -> str:
    """A CSV upload (the body, or a form's ``file``), at most ``limit`` bytes, as text."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_part_size=limit) as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InvalidRequest(
                    "The form has no 'file' field with the CSV file.", code="no_file"
                )
            raw = await upload.read(limit + 1)
            if len(raw) > limit:
                raise PayloadTooLarge(f"The upload is over {limit} bytes.", {"max_bytes": limit})
            return decode_csv(raw)
    return decode_csv(await read_limited(request, limit))


@accepts(
    TicketIn | TicketBatchIn,
    uploads={"text/csv": CSV_FILE, "multipart/form-data": file_form("file")},
)
@answers(201, 400, 409)
@reads(existing_emails={"type": "string", "enum": ["refuse", "skip", "issue"]})
async def create_tickets(request: Request) -> JSONResponse:
    """Issue one ticket (JSON object), many (``{"tickets": [...]}``) or a CSV file."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    ctx = muster(request)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("text/csv", "multipart/form-data", "application/csv")):
        mode = request.query_params.get("existing_emails", "refuse")
        if mode not in EXISTING_EMAILS:
            raise InvalidRequest(
                "existing_emails is refuse, skip or issue.",
                {"existing_emails": mode[:16]},
                code="bad_existing_emails",
            )
        text = await csv_upload_text(request, ctx.settings.upload_max_bytes)
        rows = list(parse_csv(text, ctx.settings.csv_max_rows))
        skipped: list[dict[str, Any]] = []
        if mode != "issue":
            emails = [r.holder_email for r in rows if isinstance(r, TicketRequest)]
            rows, skipped = already_issued(rows, await tickets_by_email(ctx.db, event_id, emails))
            if skipped and mode == "refuse":
                # Importing the same list twice must not double everyone's
                # ticket: the console asks whether to leave these rows out.
                raise Conflict(
                    f"{len(skipped)} row(s) name an email that holds a ticket already.",
                    {"count": len(skipped), "rows": skipped[:MAX_REPORTED_ERRORS]},
                    code="emails_hold_tickets",
                )
        issued = await issue_tickets(ctx, event_id, rows) if rows or not skipped else []
        answer = {"tickets": issued, "count": len(issued), "skipped": skipped[:MAX_REPORTED_ERRORS]}
        return json_response({**answer, "skipped_count": len(skipped)}, status=201)
    # A JSON batch is an import too: it has the import's cap, not the JSON default.
    data = await read_json(request, max_bytes=ctx.settings.upload_max_bytes)
    if isinstance(data, dict) and "tickets" in data:
        batch = validate(TicketBatchIn, data)
        requests = [
            TicketRequest(t.holder_name, t.holder_email, t.ticket_type, t.language, line=i + 1)
            for i, t in enumerate(batch.tickets)
        ]
        issued = await issue_tickets(ctx, event_id, requests)
        return json_response({"tickets": issued, "count": len(issued)}, status=201)
    one = validate(TicketIn, data)
    [issued_one] = await issue_tickets(
        ctx,
        event_id,
        [TicketRequest(one.holder_name, one.holder_email, one.ticket_type, one.language)],
    )
    issued_one.pop("line", None)
    return json_response(issued_one, status=201)


#: The longest search term: a ticket secret (512) is the longest thing one finds.
SEARCH_MAX_LENGTH = 512
#: The most a look-up answers (a door's; command's unless the organiser lets
#: it export): a person at the gate or on the phone, not a list to page.
LOOKUP_LIMIT = 20


@answers(422)
@reads(q=TEXT, limit=WHOLE, offset=WHOLE)
async def search_tickets(request: Request) -> JSONResponse:
    """Find tickets by name, email, code or secret (``q``), newest first.

    A door looks a person up by name or printed code only, and gets no email
    or secret (server.features.rights.ticket_view), at most
    ``MUSTER_DOOR_LOOKUPS_PER_MINUTE`` times a minute (429 past it). A door,
    and command unless the organiser lets it export personal data
    (server.features.rights), get a look-up, not a listing: at most ``LOOKUP_LIMIT``
    answers, no paging, nothing without a search term."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, SCANNERS)
    door = principal.role == DOOR
    q = request.query_params.get("q", "").strip()
    if len(q) > SEARCH_MAX_LENGTH or not storable(q):
        raise InvalidRequest(
            f"q must be at most {SEARCH_MAX_LENGTH} characters, without NUL.",
            {"max_length": SEARCH_MAX_LENGTH},
            code="search_too_long",
        )
    try:
        limit = min(max(int(request.query_params.get("limit", "50")), 1), 500)
        offset = min(max(int(request.query_params.get("offset", "0")), 0), MAX_INT)
    except ValueError:
        raise InvalidRequest("limit and offset must be whole numbers.") from None
    if door:
        # Per token: a stolen door phone cannot walk the attendee list.
        limits = muster(request).limits
        await limits.count(limits.door_lookups, f"token {principal.account_id}")
    # A walk-in blank on a supervisor's phone is nobody's ticket yet.
    query = select(Ticket).where(Ticket.event_id == event_id, Ticket.status != BLANK_STATUS)
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        # A door finds by name or printed code; an email or a secret that
        # matches would tell it whose they are.
        found_by = [Ticket.holder_name.ilike(like), Ticket.code == q.upper()]
        if not door:
            found_by += [Ticket.holder_email.ilike(like), Ticket.secret == q.upper()]
        query = query.where(or_(*found_by))
    async with muster(request).db.reading() as session:
        event = await get_event(session, event_id)
        listing = may_export_personal_data(principal.role, event.options)
        if not listing:
            limit, offset = min(limit, LOOKUP_LIMIT), 0
        query = query.order_by(Ticket.id.desc()).limit(limit).offset(offset)
        tickets = (await session.scalars(query)).all() if q or listing else []
    return json_response({"tickets": [ticket_view(t, principal.role) for t in tickets]})


async def _ticket_for(
    request: Request, roles: frozenset[str] | set[str]
) -> tuple[Ticket, Principal]:
    """The ticket in the path, once the caller has ``roles`` on its event.

    The token is checked before the lookup, so an unauthenticated caller
    learns nothing (not even whether the ticket exists).
    """
    ticket_id = path_int(request, "ticket_id")
    await authenticate(request)
    async with muster(request).db.reading() as session:
        ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"No ticket {ticket_id}.")
    principal = await authorize(request, ticket.event_id, roles)
    return ticket, principal


async def read_ticket(request: Request) -> JSONResponse:
    """One ticket (organiser; command without its secret). Doors look up by
    name instead: the phone never reads a ticket by id."""
    ticket, principal = await _ticket_for(request, READERS)
    return json_response(ticket_view(ticket, principal.role))


@answers(422, media_type="image/png")
@reads(scale=WHOLE)
async def ticket_qr_png(request: Request) -> Response:
    ticket, _principal = await _ticket_for(request, {ORGANISER})
    scale = _scale(request)
    return Response(render_png(ticket.secret, scale), media_type="image/png", headers=_NO_STORE)


@answers(422, media_type="image/svg+xml")
@reads(scale=WHOLE)
async def ticket_qr_svg(request: Request) -> Response:
    ticket, _principal = await _ticket_for(request, {ORGANISER})
    return Response(
        render_svg(ticket.secret, _scale(request)), media_type="image/svg+xml", headers=_NO_STORE
    )


_NO_STORE = {"Cache-Control": "private, no-store"}


def _scale(request: Request) -> int:
    try:
        return min(max(int(request.query_params.get("scale", "8")), 1), 32)
    except ValueError:
        raise InvalidRequest("scale must be a whole number from 1 to 32.") from None


@accepts(RevokeIn, required=False)
@answers(409)
async def revoke_ticket(request: Request) -> JSONResponse:
    """Revoke a ticket; with ``reissue`` it gets a new secret and stays valid."""
    ticket, _principal = await _ticket_for(request, {ORGANISER})
    data: dict[str, Any] = await read_json(request, optional=True)
    body = validate(RevokeIn, data)
    ctx = muster(request)
    signer = await key_store(ctx).signer(ticket.event_id)
    async with ctx.db.writing() as session:
        locked = await session.get(Ticket, ticket.id, with_for_update=True)
        assert locked is not None
        if locked.status == "revoked" and not body.reissue:
            raise InvalidRequest("This ticket is already revoked.", code="already_revoked")
        session.add(
            Revocation(
                event_id=locked.event_id,
                ticket_id=locked.id,
                generation=locked.generation,
                reason=body.reason,
                revoked_at=utcnow(),
            )
        )
        if body.reissue:
            locked.generation += 1
            locked.status = "valid"
            locked.secret = signer.sign(
                TicketClaims(
                    locked.event_id,
                    locked.id,
                    locked.type_id,
                    locked.generation,
                    locked.valid_from,
                    locked.valid_until,
                    signer.kid,
                )
            )
        else:
            locked.status = "revoked"
    ctx.changed(locked.event_id, "revocations", "headcount")
    return json_response(ticket_json(locked))


#: The attendee page's whole style, inline (the page needs no other file):
#: allowed by its hash in the page's Content-Security-Policy.
TICKET_STYLE = """
body{margin:0;font:16px/1.4 system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC",sans-serif;
background:#f4f5f7;color:#111;display:flex;justify-content:center}
main{max-width:420px;width:100%;padding:24px 16px;box-sizing:border-box;text-align:center}
.card{background:#fff;border-radius:16px;padding:20px;box-shadow:0 2px 12px #0001}
h1{font-size:20px;margin:0 0 4px} .when{color:#555;margin:0 0 16px} .zone{font-size:13px;color:#777}
.qr svg{width:100%;height:auto;max-width:360px}
.name{font-size:24px;font-weight:600;margin:12px 0 0} .code{font-family:monospace;color:#555;letter-spacing:2px}
.void{color:#b00020;font-weight:600;font-size:20px} .hint{color:#555;font-size:14px;margin-top:16px}
.lang{display:block;margin-top:12px;font-size:14px;color:#1f5fd6}
"""
TICKET_POLICY = page_policy(style=TICKET_STYLE)

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>{style}</style></head>
<body><main><div class="card">
{body}
</div><p class="hint">{hint}</p><a class="lang" href="?lang={other}" hreflang="{other}">{switch}</a></main></body></html>"""

TEXT = {
    "zh": {
        "title": "电子票",
        "hint": "入场时请出示此二维码，调高屏幕亮度。",
        "void": "此票已作废",
        "missing_title": "找不到这张电子票",
        "missing": "链接可能不完整或已失效（门票重新出票后，旧链接会失效）。请检查链接，或联系主办方。",
        "missing_hint": "如果是从邮件或短信打开的，请复制完整的链接再试一次。",
        "next_day": "（次日）",
        "switch": "English",
    },
    "en": {
        "title": "Your ticket",
        "hint": "Show this code at the door; turn your screen brightness up.",
        "void": "This ticket is no longer valid",
        "missing_title": "This ticket cannot be found",
        "missing": "The link may be incomplete or out of date (a re-issued ticket gets a new link). Check the link or ask the organiser.",
        "missing_hint": "If you opened it from a mail or a message, copy the whole link and try again.",
        "next_day": " (next day)",
        "switch": "中文",
    },
}


def page_language(request: Request) -> str:
    chosen = request.query_params.get("lang")
    if chosen in TEXT:
        return chosen
    accept = request.headers.get("accept-language", "").lower()
    return "zh" if accept.startswith("zh") else "en"


def event_span(starts: datetime, ends: datetime, tz: ZoneInfo, lang: str) -> str:
    """When the event is, on the venue's clock: "2026-12-01 18:00 – 02:00（次日）";
    the end in full when it is more than a day later."""
    start, end = starts.astimezone(tz), ends.astimezone(tz)
    days = (end.date() - start.date()).days
    if days == 0:
        return f"{start:%Y-%m-%d %H:%M} – {end:%H:%M}"
    if days == 1:
        return f"{start:%Y-%m-%d %H:%M} – {end:%H:%M}{TEXT[lang]['next_day']}"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"


def _page(lang: str, title: str, body: str, hint: str, status: int = 200) -> HTMLResponse:
    other = "en" if lang == "zh" else "zh"
    page = PAGE.format(
        lang="zh-CN" if lang == "zh" else "en",
        title=html.escape(title),
        body=body,
        hint=html.escape(hint),
        other=other,
        switch=html.escape(TEXT[lang]["switch"]),
        style=TICKET_STYLE,
    )
    headers = {
        "Cache-Control": "private, no-store",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": TICKET_POLICY,
        "Content-Language": "zh-CN" if lang == "zh" else "en",
    }
    return HTMLResponse(page, status_code=status, headers=headers)


async def ticket_page(request: Request) -> HTMLResponse:
    """The attendee's ticket: phone-sized, the QR large. The secret is the key.

    An attendee reads this page, not a developer: an unknown secret is a
    friendly page in their language (404), never the API's JSON error.
    """
    secret = secret_text(request.path_params["secret"])
    lang = page_language(request)
    words = TEXT[lang]
    ticket = event = None
    if len(secret) <= 512 and "\x00" not in secret:
        async with muster(request).db.reading() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.secret == secret))
            event = await session.get(Event, ticket.event_id) if ticket else None
    if ticket is None or event is None:
        body = (
            f"<h1>{html.escape(words['missing_title'])}</h1>"
            f'<p class="void">{html.escape(words["missing"])}</p>'
        )
        return _page(lang, words["missing_title"], body, words["missing_hint"], status=404)
    tz = ZoneInfo(event.timezone)
    head = (
        f"<h1>{html.escape(event.name)}</h1>"
        f'<p class="when">{html.escape(event_span(event.starts_at, event.ends_at, tz, lang))}'
        f'<br><span class="zone">{html.escape(event.timezone)}</span></p>'
    )
    if ticket.status != "valid":  # revoked, or retired by the shred
        body = head + f'<p class="void">{html.escape(words["void"])}</p>'
    else:
        body = head + (
            f'<div class="qr">{render_svg(ticket.secret)}</div>'
            f'<p class="name">{html.escape(ticket.holder_name)}</p>'
            f'<p class="code">{html.escape(ticket.code)}</p>'
        )
    return _page(lang, f"{words['title']} · {event.name}", body, words["hint"])


routes = [
    Route("/api/v1/events/{event_id}/tickets", create_tickets, methods=["POST"]),
    Route("/api/v1/events/{event_id}/tickets", search_tickets, methods=["GET"]),
    Route("/api/v1/tickets/{ticket_id}", read_ticket, methods=["GET"]),
    Route("/api/v1/tickets/{ticket_id}/qr.png", ticket_qr_png, methods=["GET"]),
    Route("/api/v1/tickets/{ticket_id}/qr.svg", ticket_qr_svg, methods=["GET"]),
    Route("/api/v1/tickets/{ticket_id}/revoke", revoke_ticket, methods=["POST"]),
    Route("/t/{secret}", ticket_page, methods=["GET"]),
]
