"""Walk-ins at the door: a door supervisor's phone registers and admits a person
in one request, at once or from its offline queue (``server.features.walk_ins``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.routing import Route

from server.auth import DOOR, authorize
from server.context import muster
from server.errors import Forbidden, InvalidRequest
from server.features.mail_sender import MAIL
from server.features.staff import may_override_account
from server.features.walk_in_rules import contact_problem
from server.features.walk_ins import WalkInRequest, register_walk_in
from server.fields import DbInt, UtcDatetime
from server.http import json_response, parse_body, path_int
from server.models import utcnow
from server.openapi import accepts
from server.responses import JSONResponse


class WalkInIn(BaseModel):
    #: Made by the phone, once per registration: a repeat binds nothing more.
    nonce: Annotated[str, Field(min_length=1, max_length=64)]
    #: The blank ticket the phone bound (from its ``walk_in_blanks``).
    blank: DbInt
    holder_name: Annotated[str, Field(min_length=1, max_length=200)]
    holder_email: Annotated[str, Field(max_length=320)] = ""
    holder_phone: Annotated[str, Field(max_length=40)] = ""
    #: The language of their mail ("": the event's).
    language: Literal["", "zh", "en"] = ""
    gate: DbInt
    #: When the phone registered and admitted them (it may have been offline).
    registered_at: UtcDatetime | None = None
    #: From the offline queue: the admission replays as an offline scan.
    offline: bool = False
    #: Mail them the ticket (when an email is given and SMTP is set).
    mail: bool = False


@accepts(WalkInIn)
async def create_walk_in(request: Request) -> JSONResponse:
    """Bind one of this phone's blanks to a person and admit them, once per nonce."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, {DOOR})
    ctx = muster(request)
    if not await may_override_account(ctx.db, principal.account_id, principal.role):
        raise Forbidden(
            "Only a door supervisor's phone registers walk-ins.", code="not_a_supervisor"
        )
    body = await parse_body(request, WalkInIn)
    principal.require_gates([body.gate])
    problem = contact_problem(body.holder_name, body.holder_email, body.holder_phone)
    if problem is not None:
        raise InvalidRequest("The walk-in's name or contact is not usable.", code=problem)
    answer = await register_walk_in(
        ctx,
        event_id,
        principal.account_id,
        WalkInRequest(
            nonce=body.nonce,
            blank=body.blank,
            holder_name=body.holder_name,
            holder_email=body.holder_email,
            holder_phone=body.holder_phone,
            language=body.language,
            gate_id=body.gate,
            registered_at=body.registered_at or utcnow(),
            offline=body.offline,
            mail=body.mail,
        ),
    )
    sender = ctx.part(MAIL)
    if answer["walk_in"]["mailing"] is not None and sender is not None:
        sender.wake()
    return json_response(answer)


routes = [
    Route("/api/v1/events/{event_id}/walk-ins", create_walk_in, methods=["POST"]),
]
