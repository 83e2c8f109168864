"""Check-in over HTTP: scans, offline sync, annul, the offline bundle, the headcount.

A refused scan is an answer, not an error: HTTP 200 with ``"status":
"error"`` and a stable reason. 4xx is for malformed requests (422), missing
rights (401/403: a door token bound to a gate may scan only there) and an
unknown event (404). The work is in ``checkin.admission``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, or_, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from checkin.admission import admit
from checkin.admitted import read_admitted
from checkin.annul import annul
from checkin.answers import ScanRequest
from checkin.display import ticket_box
from checkin.rules import REASONS
from checkin.secrets import secret_text
from checkin.sync import replay_offline
from checkin.venue import load_venue
from server.auth import COMMAND, EVERYONE, ORGANISER, SCANNERS, authorize
from server.context import Muster, muster
from server.errors import InvalidRequest, NotFound
from server.features.headcount import headcount_snapshot
from server.features.issuance import is_printed_code, secrets_of_codes
from server.features.keys import key_store
from server.features.staff import may_override_account
from server.features.walk_ins import give_blanks
from server.fields import DbInt, UtcDatetime, storable
from server.http import json_response, parse_body, path_int
from server.models import Event, Revocation, Scan, Ticket, WalkIn, utcnow
from server.openapi import TEXT, accepts, answers, reads
from server.responses import JSONResponse, large_json_response
from server.serialize import iso

#: Most scans in one offline batch.
SYNC_MAX_SCANS = 5000
#: A full offline batch: SYNC_MAX_SCANS scans of at most ~1 KB each (a secret
#: of 512, a nonce of 64, times and ids), above the JSON default.
SYNC_MAX_BYTES = SYNC_MAX_SCANS * 1024

NONCE_MAX_LENGTH = 64

#: An incremental bundle re-sends changes stamped this long before its
#: cursor, so a transaction that commits a little after its rows were
#: stamped (a big offline batch takes a second or two) is never missed.
CURSOR_OVERLAP = timedelta(seconds=60)

#: A secret or a nonce that holds a NUL byte passes here: it is the scan's
#: own text, answered ``invalid`` (see ``checkin.admission.admit``), while
#: the body around it is bounded to what the database can hold.
Secret = Annotated[str, Field(min_length=1, max_length=512)]
Nonce = Annotated[str, Field(min_length=1, max_length=NONCE_MAX_LENGTH)]


class ScanIn(BaseModel):
    secret: Secret
    gate: DbInt
    direction: Literal["in", "out"]
    #: Made by the client, unique per scan: a repeat answers as the first.
    nonce: Nonce
    #: When the phone scanned (logged); the server's clock judges validity.
    scanned_at: UtcDatetime | None = None


class OfflineScanIn(BaseModel):
    secret: Secret
    gate: DbInt
    direction: Literal["in", "out"]
    nonce: Nonce
    scanned_at: UtcDatetime
    #: What the phone decided on its own when it scanned.
    local_status: Literal["ok", "error"] = "ok"
    #: Why, when the phone refused (a reason code): a refused scan is logged
    #: with it should the server have let the holder in (checkin.reconcile).
    local_reason: Annotated[str, Field(max_length=32)] | None = None

    @field_validator("local_reason")
    @classmethod
    def _known_reason(cls, value: str | None) -> str | None:
        if value is not None and value not in REASONS:
            raise ValueError(f"not a reason code: {value!r}")
        return value


class SyncIn(BaseModel):
    scans: Annotated[list[OfflineScanIn], Field(max_length=SYNC_MAX_SCANS)]


async def _typed_codes(ctx: Muster, event_id: int, texts: list[str]) -> dict[str, str]:
    """For each text that is a printed code of the event, as typed: the ticket's secret."""
    if not any(is_printed_code(text) for text in texts if storable(text)):
        return {}
    async with ctx.db.reading() as session:
        found = await secrets_of_codes(session, event_id, (t for t in texts if storable(t)))
    return {text: found[secret_text(text)] for text in texts if secret_text(text) in found}


@accepts(ScanIn)
async def scan(request: Request) -> JSONResponse:
    """Scan a ticket at a gate, in or out; a refusal is a 200 answer with its reason."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, SCANNERS)
    body = await parse_body(request, ScanIn, screen_unstorable=False)
    principal.require_gates([body.gate])
    ctx = muster(request)
    secret = (await _typed_codes(ctx, event_id, [body.secret])).get(body.secret, body.secret)
    answer = await admit(
        ctx,
        event_id,
        ScanRequest(
            secret=secret,
            gate_id=body.gate,
            direction=body.direction,
            nonce=body.nonce,
            scanned_at=body.scanned_at or utcnow(),
            device_id=principal.account_id,
        ),
    )
    return json_response(answer)


@accepts(SyncIn)
async def sync_scans(request: Request) -> JSONResponse:
    """Replay an offline queue (≤ 5,000 scans) in scan-time order; conflicts are marked."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, SCANNERS)
    body = await parse_body(request, SyncIn, max_bytes=SYNC_MAX_BYTES, screen_unstorable=False)
    principal.require_gates(s.gate for s in body.scans)
    ctx = muster(request)
    typed = await _typed_codes(ctx, event_id, [s.secret for s in body.scans])
    scans = [
        ScanRequest(
            secret=typed.get(s.secret, s.secret),
            gate_id=s.gate,
            direction=s.direction,
            nonce=s.nonce,
            scanned_at=s.scanned_at,
            device_id=principal.account_id,
            local_ok=s.local_status == "ok",
            local_reason=s.local_reason,
        )
        for s in body.scans
    ]
    return json_response(await replay_offline(ctx, event_id, scans))


async def annul_scan(request: Request) -> JSONResponse:
    """Undo a recent scan: the same device, or a command/organiser token."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, SCANNERS)
    nonce = request.path_params["nonce"]
    if len(nonce) > NONCE_MAX_LENGTH or not storable(nonce):
        raise NotFound(f"No scan with nonce {nonce!r} in this event.")
    answer = await annul(
        muster(request),
        event_id,
        nonce,
        principal.account_id,
        may_annul_any=principal.role in (ORGANISER, COMMAND),
    )
    return json_response(answer)


async def headcount(request: Request) -> JSONResponse:
    """Inside per zone against capacity, per gate in/out, totals, arrivals per minute."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, EVERYONE)
    return json_response(await headcount_snapshot(muster(request).db, event_id))


# --- the offline bundle ---------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a bundle left off: its time, and the highest ticket id it sealed."""

    at: datetime
    ticket: int | None = None


def encode_cursor(at: datetime, ticket: int | None = None) -> str:
    stamp = f"t{int(at.timestamp() * 1000)}"
    return stamp if ticket is None else f"{stamp}.{ticket}"


def decode_cursor(cursor: str) -> Cursor:
    try:
        if not cursor.startswith("t"):
            raise ValueError(cursor)
        stamp, _, ticket = cursor[1:].partition(".")
        at = datetime.fromtimestamp(int(stamp) / 1000, utcnow().tzinfo)
        return Cursor(at, int(ticket) if ticket else None)
    except (ValueError, OverflowError, OSError):
        raise InvalidRequest(
            f"{cursor!r} is not a cursor from an earlier bundle.", code="bad_cursor"
        ) from None


async def offline_bundle(
    ctx: Muster, event_id: int, since: Cursor | None, *, with_names: bool = False
) -> dict[str, Any]:
    """What a door phone needs to admit people with no network.

    The full bundle (no ``since``) has every key, revocation and admitted
    ticket (``admitted_set``: the compact form of ``checkin.admitted``, as the
    ``admissions`` snapshot sends it); an incremental one only what changed
    since the cursor (``admitted``: one object per ticket, with
    ``CURSOR_OVERLAP`` of slack, so an item can come twice — each is the
    ticket's current state, so applying it twice is harmless). Holds no
    names or emails in the clear: ``display`` has each valid ticket's name
    sealed under its own secret (``checkin.display``), so only a scanned QR
    code opens its line — every ticket in a full bundle, then those issued
    or re-issued since.

    ``with_names`` (a door supervisor's phone: ``roster_rules.may_override``)
    adds ``people``: each valid ticket's holder name, printed code, type,
    generation and validity in the clear, for looking people up and
    admitting them by hand with no network. Only those phones get it, and
    they drop it when unpaired or when a full bundle comes without it. Their
    bundle also has ``walk_in_blanks`` (``server.features.walk_ins.give_blanks``),
    and a walk-in bound since the cursor comes like a ticket issued since.
    """
    now = utcnow()
    venue = await load_venue(ctx.db, event_id)
    keys = await key_store(ctx).public_keys(event_id)
    window = timedelta(seconds=ctx.settings.annul_window_seconds)
    async with ctx.db.reading() as session:
        event = await session.get(Event, event_id)
        assert event is not None  # load_venue raised NotFound otherwise
        revoked = select(Revocation.ticket_id, Revocation.generation, Revocation.revoked_at).where(
            Revocation.event_id == event_id
        )
        tickets = select(Ticket.id, Ticket.zone_id, Ticket.checked_in_at).where(
            Ticket.event_id == event_id
        )
        valid = (Ticket.event_id == event_id, Ticket.status == "valid")
        shown = select(Ticket.id, Ticket.generation, Ticket.secret, Ticket.holder_name).where(
            *valid
        )
        named = select(
            Ticket.id,
            Ticket.generation,
            Ticket.holder_name,
            Ticket.code,
            Ticket.type_id,
            Ticket.valid_from,
            Ticket.valid_until,
        ).where(*valid)
        admitted_set = None
        if since is None:
            admitted_set = await read_admitted(session, event_id)
        else:
            start = since.at - CURSOR_OVERLAP
            reissued = select(Revocation.ticket_id).where(
                Revocation.event_id == event_id, Revocation.revoked_at >= start
            )
            issued = (
                Ticket.id > since.ticket if since.ticket is not None else Ticket.created_at >= start
            )
            # A walk-in bound since: a blank given earlier, a person now.
            walked_in = select(WalkIn.ticket_id).where(
                WalkIn.event_id == event_id, WalkIn.received_at >= start
            )
            fresh = or_(issued, Ticket.id.in_(reissued), Ticket.id.in_(walked_in))
            shown = shown.where(fresh)
            named = named.where(fresh)
            revoked = revoked.where(Revocation.revoked_at >= start)
            # An annul happens within the annul window of the scan's
            # receipt, so the (event, received_at) index bounds both.
            touched = select(Scan.ticket_id).where(
                Scan.event_id == event_id,
                Scan.received_at >= start - window,
                Scan.ticket_id.is_not(None),
                or_(Scan.received_at >= start, Scan.annulled_at >= start),
            )
            tickets = tickets.where(Ticket.id.in_(touched))
        revocations = (await session.execute(revoked.order_by(Revocation.id))).all()
        admitted = (
            [] if since is None else (await session.execute(tickets.order_by(Ticket.id))).all()
        )
        sealed = (await session.execute(shown.order_by(Ticket.id))).all()
        people = (await session.execute(named.order_by(Ticket.id))).all() if with_names else []
        last = await session.scalar(select(func.max(Ticket.id)).where(Ticket.event_id == event_id))
    if since is not None and since.ticket is not None:
        last = max(last or 0, since.ticket)
    bundle = {
        "event": {
            "id": event.id,
            "name": event.name,
            "starts_at": iso(event.starts_at),
            "ends_at": iso(event.ends_at),
            "timezone": event.timezone,
        },
        "server_time": iso(now),
        "cursor": encode_cursor(now, last),
        "incremental": since is not None,
        "keys": [
            {
                "kid": kid,
                "alg": "Ed25519",
                "public_key": base64.b64encode(raw).decode("ascii"),
                "public_key_hex": raw.hex(),
            }
            for kid, raw in sorted(keys.items())
        ],
        "revocations": [
            {"ticket": t, "generation": g, "revoked_at": iso(at)} for t, g, at in revocations
        ],
        # Full: the whole admitted set, compact. Incremental: each ticket changed since.
        **(
            {"admitted_set": admitted_set}
            if admitted_set is not None
            else {
                "admitted": [
                    {
                        "ticket": t,
                        "zone": z,
                        "checked_in": at is not None,
                        "checked_in_at": iso(at),
                    }
                    for t, z, at in admitted
                ]
            }
        ),
        "display": [
            {"ticket": t, "generation": g, "box": ticket_box(t, g, secret, name)}
            for t, g, secret, name in sealed
        ],
        "gates": [
            {"id": g.id, "name": g.name, "from_zone": g.from_zone, "to_zone": g.to_zone}
            for g in sorted(venue.gates.values(), key=lambda g: g.id)
        ],
        "zones": [
            {
                "id": z.id,
                "name": z.name,
                "capacity": z.capacity,
                "soft_warning": z.soft_warning,
            }
            for z in sorted(venue.zones.values(), key=lambda z: z.id)
        ],
        "ticket_types": [
            {
                "id": t.id,
                "name": t.name,
                "zones": None if t.zones is None else sorted(t.zones),
                "reentry": t.reentry,
            }
            for t in sorted(venue.types.values(), key=lambda t: t.id)
        ],
    }
    if with_names:
        bundle["people"] = [
            {
                "ticket": t,
                "generation": g,
                "name": name,
                "code": code,
                "type": type_id,
                "valid_from": iso(start),
                "valid_until": iso(end),
            }
            for t, g, name, code, type_id, start, end in people
        ]
    return bundle


@answers(422)
@reads(since=TEXT)
async def read_offline_bundle(request: Request) -> Response:
    """Keys, revocations, admitted set, gates, zones, ticket types; ``?since=CURSOR`` for changes."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, SCANNERS)
    since = request.query_params.get("since")
    cursor = decode_cursor(since) if since else None
    ctx = muster(request)
    with_names = await may_override_account(ctx.db, principal.account_id, principal.role)
    bundle = await offline_bundle(ctx, event_id, cursor, with_names=with_names)
    if with_names:
        # A supervisor's phone registers walk-ins offline: its blanks, topped up.
        bundle["walk_in_blanks"] = await give_blanks(ctx, event_id, principal.account_id)
    return await large_json_response(request, bundle)


routes = [
    Route("/api/v1/events/{event_id}/scans", scan, methods=["POST"]),
    Route("/api/v1/events/{event_id}/scans/sync", sync_scans, methods=["POST"]),
    Route("/api/v1/events/{event_id}/scans/{nonce}/annul", annul_scan, methods=["POST"]),
    Route("/api/v1/events/{event_id}/offline-bundle", read_offline_bundle, methods=["GET"]),
    Route("/api/v1/events/{event_id}/headcount", headcount, methods=["GET"]),
]
