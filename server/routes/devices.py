"""Pairing staff phones, and the organiser's list of paired devices.

The organiser asks for a pairing code (a role, optionally a gate and a name);
the console shows it as a QR code of a link to the staff app,
``{public url}/app/#pair=CODE&event=E``. The phone opens the link (or scans
the QR in the app) and trades the code for a device token of its own.

A code is 8 characters from a 32-letter alphabet without look-alikes
(40 bits), valid for ``MUSTER_PAIRING_CODE_TTL_SECONDS`` and usable once.
Only its SHA-256 is stored, like a token's, so the server cannot draw its QR
again later: the creation answer carries the QR (``qr_svg``), and
``…/pairing-codes/{id}/qr.svg`` (or ``.png``) draws it again only for an
organiser who gives the code back (``?code=``). In the link the code sits in
the fragment, which browsers never send to a server.

Claiming is one conditional ``UPDATE … WHERE used_at IS NULL AND expires_at
> now``: two phones racing for one code both run it, the database lets one
row change, and only that phone gets a token (``test_devices.py`` races
them on PostgreSQL). A code that is unknown, used or expired gets the same
404 ``unknown_pairing_code``, and claims are rate-limited per client
address (``MUSTER_PAIRING_CLAIMS_PER_MINUTE``, ``server.rate_limits``).
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from checkin.qr import render_png, render_svg
from server.auth import ORGANISER, READERS, authenticate, authorize, hash_token, new_token
from server.context import Muster, muster
from server.errors import InvalidRequest, NotFound
from server.features.staff import lock_member, may_override_account, own_staff, unpair_phones
from server.features.tokens import announce, revoke_token
from server.features.walk_ins import give_blanks, revoke_device_blanks
from server.http import json_response, parse_body, path_int
from server.lookup import get_event
from server.models import Account, Event, Gate, PairingCode, utcnow
from server.openapi import TEXT, accepts, answers, public, reads
from server.rate_limits import client_address
from server.responses import JSONResponse
from server.serialize import event_json, gate_json, iso

#: No 0/O, 1/I: a code read out over a radio or typed from a screen survives.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8

DeviceName = Annotated[str, Field(max_length=200)]


class PairingCodeIn(BaseModel):
    role: Literal["door", "staff", "command"]
    gate: int | None = None
    device_name: DeviceName = ""


class PairIn(BaseModel):
    code: Annotated[str, Field(min_length=1, max_length=64)]
    device_name: DeviceName = ""


def new_pairing_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str:
    """Upper case, without the spaces and dashes people type or we print."""
    return "".join(ch for ch in raw.upper() if ch not in " -\t")


def display_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def public_base(request: Request) -> str:
    configured = muster(request).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine only (a phone cannot reach it)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def lan_base(url: str) -> str | None:
    """``url``'s scheme and port on this machine's address in the local
    network, for a console opened on loopback: where a phone could reach
    it. The UDP "connect" sends nothing; it only picks the outgoing
    interface. None when there is no such address."""
    parts = urlsplit(url)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    if ipaddress.ip_address(address).is_loopback:
        return None
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{address}{port}"


def pairing_url(base: str, code: str, event_id: int) -> str:
    return f"{base}/app/#pair={code}&event={event_id}"


async def _gate_of(session: AsyncSession, event_id: int, gate_id: int | None) -> Gate | None:
    if gate_id is None:
        return None
    gate = await session.get(Gate, gate_id)
    if gate is None or gate.event_id != event_id:
        raise InvalidRequest(
            f"No gate {gate_id} in this event.", {"gate": gate_id}, code="unknown_gate"
        )
    if gate.archived_at is not None:
        raise InvalidRequest(
            f"Gate {gate_id} is archived.", {"gate": gate_id}, code="gate_archived"
        )
    return gate


def device_json(account: Account, gate: Gate | None) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "role": account.role,
        "event": account.event_id,
        "gate": account.gate_id,
        "gate_name": gate.name if gate else None,
        "staff": account.staff_id,
        "paired_at": iso(account.created_at),
        "last_seen_at": iso(account.last_seen_at),
        "revoked_at": iso(account.revoked_at),
    }


@accepts(PairingCodeIn)
@answers(201)
async def create_pairing_code(request: Request) -> JSONResponse:
    """Create a single-use code that pairs one phone with a role (and a gate)."""
    event_id = path_int(request, "event_id")
    principal = await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, PairingCodeIn)
    return await issue_pairing_code(
        request,
        event_id,
        role=body.role,
        gate_id=body.gate,
        device_name=body.device_name,
        created_by=principal.account_id,
    )


async def issue_pairing_code(
    request: Request,
    event_id: int,
    *,
    role: str,
    gate_id: int | None,
    device_name: str,
    created_by: int,
    staff_id: int | None = None,
    keep_other_phones: bool = False,
) -> JSONResponse:
    """Make a pairing code (the caller has checked the rights) and answer with it and its QR;
    ``staff_id``: the phone paired with it is that roster member's, and replaces
    their earlier phones unless ``keep_other_phones``."""
    ctx = muster(request)
    code = new_pairing_code()
    async with ctx.db.writing() as session:
        await get_event(session, event_id)
        gate = await _gate_of(session, event_id, gate_id)
        now = utcnow()
        pairing = PairingCode(
            event_id=event_id,
            code_hash=hash_token(code),
            role=role,
            gate_id=gate_id,
            device_name=device_name,
            staff_id=staff_id,
            keep_other_phones=keep_other_phones,
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.pairing_code_ttl_seconds),
        )
        session.add(pairing)
        await session.flush()
    url = pairing_url(public_base(request), code, event_id)
    qr_path = f"/api/v1/events/{event_id}/pairing-codes/{pairing.id}/qr.svg"
    return json_response(
        {
            "id": pairing.id,
            "event": event_id,
            "code": code,
            "display_code": display_code(code),
            "role": pairing.role,
            "gate": pairing.gate_id,
            "gate_name": gate.name if gate else None,
            "device_name": pairing.device_name,
            "staff": pairing.staff_id,
            "keep_other_phones": pairing.keep_other_phones,
            "expires_at": iso(pairing.expires_at),
            "pairing_url": url,
            # A QR code a phone cannot open: the console warns (and suggests
            # the machine's network address, or MUSTER_PUBLIC_URL).
            "loopback": is_loopback(url),
            "lan_base": lan_base(url) if is_loopback(url) else None,
            "qr_svg": render_svg(url, scale=6),
            "qr_svg_url": f"{qr_path}?code={code}",
            "qr_png_url": f"{qr_path.removesuffix('.svg')}.png?code={code}",
        },
        status=201,
    )


async def _pairing_link(request: Request) -> str:
    """The pairing link of the code in the path, once the caller proves it knows the code."""
    event_id, pairing_id = path_int(request, "event_id"), path_int(request, "pairing_id")
    await authorize(request, event_id, {ORGANISER})
    code = normalise_code(request.query_params.get("code", ""))
    async with muster(request).db.reading() as session:
        pairing = await session.get(PairingCode, pairing_id)
    if pairing is None or pairing.event_id != event_id:
        raise NotFound(f"No pairing code {pairing_id}.")
    if not code or not secrets.compare_digest(hash_token(code), pairing.code_hash):
        # Only the hash is stored: the picture needs the code it shows.
        raise InvalidRequest("Give the pairing code as ?code= to draw it.", code="code_mismatch")
    return pairing_url(public_base(request), code, event_id)


@answers(422, media_type="image/svg+xml")
@reads(code=TEXT)
async def pairing_qr_svg(request: Request) -> Response:
    """The pairing link as a QR code (SVG)."""
    url = await _pairing_link(request)
    return Response(render_svg(url, scale=8), media_type="image/svg+xml", headers=_NO_STORE)


@answers(422, media_type="image/png")
@reads(code=TEXT)
async def pairing_qr_png(request: Request) -> Response:
    """The pairing link as a QR code (PNG)."""
    url = await _pairing_link(request)
    return Response(render_png(url, scale=8), media_type="image/png", headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


@public
@accepts(PairIn)
@answers(201, 404)
async def pair_device(request: Request) -> JSONResponse:
    """Trade a pairing code for a device token (no token needed; each code works once)."""
    body = await parse_body(request, PairIn)
    code_hash = hash_token(normalise_code(body.code))
    token = new_token()
    limits = muster(request).limits
    # Counted before the code is looked at: past the limit a right guess is
    # refused like a wrong one, so 40 bits cannot be walked at request speed.
    attempt = await limits.count(limits.pairing_claims, client_address(request))
    async with muster(request).db.writing() as session:
        now = utcnow()
        # The claim: one statement, so of two phones racing for a code the
        # database lets exactly one change the row.
        claimed = (
            await session.execute(
                update(PairingCode)
                .where(
                    PairingCode.code_hash == code_hash,
                    PairingCode.used_at.is_(None),
                    PairingCode.expires_at > now,
                )
                .values(used_at=now)
                .returning(
                    PairingCode.id,
                    PairingCode.event_id,
                    PairingCode.role,
                    PairingCode.gate_id,
                    PairingCode.device_name,
                    PairingCode.staff_id,
                    PairingCode.keep_other_phones,
                )
            )
        ).one_or_none()
        if claimed is None:
            # Unknown, used and expired codes get one answer: a guesser
            # learns nothing of which codes exist or existed.
            raise NotFound(
                "No such pairing code, or used or expired; ask for a new one.",
                code="unknown_pairing_code",
            )
        pairing_id, event_id, role, gate_id, preset_name, staff_id, keep_others = claimed
        if staff_id is not None:
            # Before the new token: a claim for the same member running now
            # waits here, then sees this phone and revokes it (or this one
            # waits and revokes that one).
            await lock_member(session, staff_id)
        account = Account(
            name=body.device_name.strip() or preset_name or f"{role} phone",
            kind="device",
            role=role,
            event_id=event_id,
            gate_id=gate_id,
            staff_id=staff_id,
            token_hash=hash_token(token),
            created_at=now,
            last_seen_at=now,
        )
        session.add(account)
        await session.flush()
        await session.execute(
            update(PairingCode).where(PairingCode.id == pairing_id).values(account_id=account.id)
        )
        # A member re-paired: the new phone replaces the earlier ones (a lost
        # phone is the usual reason), as if each were revoked by hand.
        replaced = (
            await unpair_phones(session, staff_id, but=account.id)
            if staff_id is not None and not keep_others
            else []
        )
        event = await session.get(Event, event_id)
        gate = await session.get(Gate, gate_id) if gate_id is not None else None
    assert event is not None
    await limits.take_back(attempt)
    if replaced:
        await cut_off_phones(muster(request), replaced, event_id)
    paired: dict[str, Any] = {
        "token": token,
        "role": role,
        "device": device_json(account, gate),
        "event": event_json(event),
        "gate": gate_json(gate) if gate else None,
    }
    if await may_override_account(muster(request).db, account.id, role):
        # A door supervisor's phone registers walk-ins: its first blanks.
        paired["walk_in_blanks"] = await give_blanks(muster(request), event_id, account.id)
    return json_response(paired, status=201)


async def read_own_device(request: Request) -> JSONResponse:
    """The calling token's own account, role, event and gate (is this phone still paired?)."""
    principal = await authenticate(request)
    async with muster(request).db.reading() as session:
        account = await session.get(Account, principal.account_id)
        event = await session.get(Event, principal.event_id) if principal.event_id else None
        gate = await session.get(Gate, principal.gate_id) if principal.gate_id else None
        member = await own_staff(session, principal.account_id, principal.role)
    if account is None:
        raise NotFound("This token's account is gone.")
    return json_response(
        {
            "device": device_json(account, gate),
            "role": principal.role,
            # The roster member holding the phone, and what a supervisor may do.
            "staff": member,
            "event": event_json(event) if event else None,
            "gate": gate_json(gate) if gate else None,
        }
    )


async def list_devices(request: Request) -> JSONResponse:
    """The event's paired phones: role, gate, paired and last seen, revoked."""
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, READERS)
    async with muster(request).db.reading() as session:
        await get_event(session, event_id)
        accounts = (
            await session.scalars(
                select(Account)
                .where(Account.event_id == event_id, Account.kind == "device")
                .order_by(Account.id)
            )
        ).all()
        gates = {
            g.id: g for g in await session.scalars(select(Gate).where(Gate.event_id == event_id))
        }
    return json_response(
        {"devices": [device_json(a, gates.get(a.gate_id) if a.gate_id else None) for a in accounts]}
    )


async def cut_off_phones(ctx: Muster, device_ids: list[int], event_id: int) -> None:
    """After the commit that revoked phones: refused here at once, their sockets
    closed everywhere, their unused walk-in blanks revoked (a lost phone's
    admit nobody), the gates panel told."""
    if device_ids:
        announce(ctx, device_ids, event_id)
    for device_id in device_ids:
        await revoke_device_blanks(ctx.db, device_id)
    ctx.changed(event_id, "gates")


async def revoke_device(request: Request) -> JSONResponse:
    """Unpair a phone: its token is refused and its websocket closed (4401) on every process."""
    event_id, device_id = path_int(request, "event_id"), path_int(request, "device_id")
    await authorize(request, event_id, {ORGANISER})
    ctx = muster(request)
    account = await revoke_token(ctx.db, device_id, event_id=event_id, kind="device")
    await cut_off_phones(ctx, [account.id], event_id)
    async with ctx.db.reading() as session:
        gate = await session.get(Gate, account.gate_id) if account.gate_id is not None else None
    return json_response(device_json(account, gate))


routes = [
    Route("/api/v1/events/{event_id}/pairing-codes", create_pairing_code, methods=["POST"]),
    Route(
        "/api/v1/events/{event_id}/pairing-codes/{pairing_id}/qr.svg",
        pairing_qr_svg,
        methods=["GET"],
    ),
    Route(
        "/api/v1/events/{event_id}/pairing-codes/{pairing_id}/qr.png",
        pairing_qr_png,
        methods=["GET"],
    ),
    Route("/api/v1/devices/pair", pair_device, methods=["POST"]),
    Route("/api/v1/devices/me", read_own_device, methods=["GET"]),
    Route("/api/v1/events/{event_id}/devices", list_devices, methods=["GET"]),
    Route("/api/v1/events/{event_id}/devices/{device_id}/revoke", revoke_device, methods=["POST"]),
]
