"""Walk-ins at the door: blank tickets for supervisor phones, and binding one
to a person exactly once (the rules are ``server/features/walk_in_rules.py``).

A door supervisor's phone is given ``MUSTER_WALK_IN_BLANKS`` signed blank
tickets of each live ticket type at pairing, topped up with each offline
bundle. A blank is a ticket of status ``blank``: every count of attendees
(headcount, report, look-ups, mail) reads valid tickets only, so an unused
blank counts nowhere, and a door refuses its QR (``invalid``) until bound.

``register_walk_in`` is one step: bind the blank to the person, then admit
it through the normal scan path with the registration's nonce (online
``checkin.admission.admit``; from an offline queue ``replay_offline``, so a
second admission elsewhere is a scan conflict as usual). Sent again, the same
nonce binds nothing more and the scan answers as the first time.

Exactly once, whichever process gets the request and however many times:

- the registration row is inserted with ``ON CONFLICT (nonce, event_id) DO
  NOTHING``: of concurrent twins one inserts, the others wait for it to
  commit, insert nothing, and answer from its row;
- the blank is bound by one conditional ``UPDATE tickets … WHERE status =
  'blank'``: of two registrations (two nonces) racing for one blank, the
  database lets one change the row; the other is a ``blank_taken`` conflict.

``tests/server/test_walk_in_race.py`` removes both (``GUARDED``) and fails.
Nothing here logs a person's name, phone or email.
"""

from __future__ import annotations

import base64
import functools
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.admission import admit
from checkin.answers import ScanRequest
from checkin.qr import qr_matrix
from checkin.sync import replay_offline
from checkin.venue import venues
from server.context import Muster
from server.db import Database, dialect_name
from server.features import walk_in_rules
from server.features.alerts import raise_alert
from server.features.issuance import BLANK_STATUS, insert_blanks
from server.features.keys import key_store
from server.features.mailings import MailingRequest, create_mailing
from server.features.walk_in_rules import BOUND, CONFLICT, BlankState
from server.lookup import get_event
from server.models import Account, Gate, Revocation, Ticket, TicketType, WalkIn, WalkInBlank, utcnow
from server.serialize import iso

#: The race test sets this False to show that the guards are what keep a
#: registration once and a blank bound once.
GUARDED = True


@dataclass(frozen=True)
class WalkInRequest:
    nonce: str
    blank: int
    holder_name: str
    holder_email: str
    holder_phone: str
    language: str
    gate_id: int
    registered_at: datetime
    offline: bool
    #: Mail them their ticket (when an email is given and SMTP is set).
    mail: bool = False


@functools.lru_cache(maxsize=4096)
def _qr_of(secret: str) -> dict[str, Any]:
    """A blank's QR modules as the phone draws them. Drawn once per secret
    (a signed secret never changes): 3-5 ms of the event loop each, and a
    supervisor's every sync sends all its blanks (20 per ticket type)."""
    matrix = qr_matrix(secret)
    return {
        "size": len(matrix),
        "bits": base64.b64encode(walk_in_rules.qr_bits(matrix)).decode("ascii"),
    }


def blank_json(row: Any) -> dict[str, Any]:
    """A blank as its phone holds it: the signed secret and its QR modules."""
    return {
        "ticket": row.id,
        "code": row.code,
        "type": row.type_id,
        "generation": row.generation,
        # The phone's own blank, nobody's ticket yet: a supervisor's phone
        # holds these and no other ticket's secret (server.features.rights).
        "blank_secret": row.secret,
        "valid_from": iso(row.valid_from),
        "valid_until": iso(row.valid_until),
        "qr": dict(_qr_of(row.secret)),
    }


async def _held(session: AsyncSession, device_id: int) -> list[Any]:
    return list(
        (
            await session.execute(
                select(
                    Ticket.id,
                    Ticket.code,
                    Ticket.type_id,
                    Ticket.generation,
                    Ticket.secret,
                    Ticket.valid_from,
                    Ticket.valid_until,
                )
                .join(WalkInBlank, WalkInBlank.ticket_id == Ticket.id)
                .where(
                    WalkInBlank.device_id == device_id,
                    WalkInBlank.bound_at.is_(None),
                    Ticket.status == BLANK_STATUS,
                )
                .order_by(Ticket.id)
            )
        ).all()
    )


async def give_blanks(ctx: Muster, event_id: int, device_id: int) -> list[dict[str, Any]]:
    """Top the phone's blanks up to the setting per live ticket type; all it holds."""
    per_type = ctx.settings.walk_in_blanks
    async with ctx.db.reading() as session:
        event = await get_event(session, event_id)
        types = {
            t.id: t
            for t in await session.scalars(
                select(TicketType).where(
                    TicketType.event_id == event_id, TicketType.archived_at.is_(None)
                )
            )
        }
        held = await _held(session, device_id)
    if not walk_in_rules.blanks_to_give(Counter(r.type_id for r in held), types, per_type):
        return [blank_json(row) for row in held]
    signer = await key_store(ctx).signer(event_id)
    async with ctx.db.writing() as session:
        if dialect_name(session) == "postgresql":
            # One top-up per phone at a time: two bundles fetched at once
            # would both see the block short and fill it twice.
            await session.execute(
                select(Account.id).where(Account.id == device_id).with_for_update()
            )
        counts = Counter(r.type_id for r in await _held(session, device_id))
        wanted = walk_in_rules.blanks_to_give(counts, types, per_type)
        ids = await insert_blanks(session, signer, event, [types[t] for t in wanted])
        now = utcnow()
        for ticket_id in ids:
            session.add(
                WalkInBlank(
                    ticket_id=ticket_id, event_id=event_id, device_id=device_id, given_at=now
                )
            )
        await session.flush()
        held = await _held(session, device_id)
    return [blank_json(row) for row in held]


async def revoke_device_blanks(db: Database, device_id: int) -> int:
    """Revoke the unbound blanks of an unpaired phone (doors get them on the
    revocation list): a lost phone's blanks admit nobody. How many (again: 0)."""
    async with db.writing() as session:
        rows = (
            await session.execute(
                select(Ticket.id, Ticket.event_id, Ticket.generation)
                .join(WalkInBlank, WalkInBlank.ticket_id == Ticket.id)
                .where(
                    WalkInBlank.device_id == device_id,
                    WalkInBlank.bound_at.is_(None),
                    Ticket.status == BLANK_STATUS,
                    ~Ticket.id.in_(select(Revocation.ticket_id)),
                )
            )
        ).all()
        if not rows:
            return 0
        # They stay blanks (counted nowhere, refused by the server as
        # ``invalid``); the revocation tells offline doors, and the binding
        # rule reads it (``blank_revoked``).
        now = utcnow()
        session.add_all(
            Revocation(
                event_id=r.event_id,
                ticket_id=r.id,
                generation=r.generation,
                reason="",
                revoked_at=now,
            )
            for r in rows
        )
    return len(rows)


async def _blank_state(session: AsyncSession, ticket_id: int) -> tuple[BlankState | None, Any]:
    row = (
        await session.execute(
            select(
                Ticket.event_id,
                Ticket.status,
                Ticket.code,
                Ticket.type_id,
                Ticket.secret,
                WalkInBlank.device_id,
            )
            .outerjoin(WalkInBlank, WalkInBlank.ticket_id == Ticket.id)
            .where(Ticket.id == ticket_id)
        )
    ).one_or_none()
    if row is None:
        return None, None
    bound_by = await session.scalar(
        select(func.min(WalkIn.id)).where(WalkIn.ticket_id == ticket_id, WalkIn.status == BOUND)
    )
    revoked = await session.scalar(
        select(func.count()).select_from(Revocation).where(Revocation.ticket_id == ticket_id)
    )
    status = "revoked" if revoked and row.status == BLANK_STATUS else row.status
    return BlankState(row.event_id, row.device_id, status, bound_by), row


async def _insert_once(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert the registration; None when its (nonce, event) is there already."""
    if not GUARDED:
        walk_in = WalkIn(**values)
        session.add(walk_in)
        await session.flush()
        return walk_in.id
    dialect_insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    statement = (
        dialect_insert(WalkIn)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["nonce", "event_id"])
        .returning(WalkIn.id)
    )
    return await session.scalar(statement)


async def _bind(session: AsyncSession, request: WalkInRequest) -> bool:
    """THE exactly-once binding: the blank changes only while still blank."""
    statement = update(Ticket).where(Ticket.id == request.blank)
    if GUARDED:
        statement = statement.where(Ticket.status == BLANK_STATUS)
    bound = await session.execute(
        statement.values(
            holder_name=request.holder_name.strip(),
            holder_email=request.holder_email.strip(),
            language=request.language,
            status="valid",
        ).execution_options(synchronize_session=False)
    )
    if not bound.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(
        update(WalkInBlank)
        .where(WalkInBlank.ticket_id == request.blank)
        .values(bound_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return True


def walk_in_json(walk_in: WalkIn, code: str | None, type_id: int | None) -> dict[str, Any]:
    """A registration as its phone is told (no email or phone number: a door's view)."""
    return {
        "id": walk_in.id,
        "nonce": walk_in.nonce,
        "ticket": walk_in.ticket_id,
        "code": code,
        "type": type_id,
        "holder_name": walk_in.holder_name if walk_in.status == BOUND else "",
        "status": walk_in.status,
        "reason": walk_in.reason,
        "conflict_with": walk_in.conflict_with,
        "offline": walk_in.offline,
        "registered_at": iso(walk_in.registered_at),
        "mailing": walk_in.mailing_id,
    }


async def _conflict_alert(
    session: AsyncSession, event_id: int, walk_in: WalkIn, code: str | None
) -> None:
    gate_name = await session.scalar(select(Gate.name).where(Gate.id == walk_in.gate_id))
    await raise_alert(
        session,
        event_id,
        "walk_in_conflict",
        data={
            "walk_in": walk_in.id,
            "ticket": walk_in.ticket_id,
            "code": code,
            "reason": walk_in.reason,
            "conflict_with": walk_in.conflict_with,
            "gate": walk_in.gate_id,
            "gate_name": gate_name,
            "device": walk_in.device_id,
            "nonce": walk_in.nonce,
            "scanned_at": iso(walk_in.registered_at),
        },
        dedupe_key=f"walk_in:{walk_in.id}",
    )


async def _record(
    ctx: Muster, event_id: int, device_id: int, request: WalkInRequest
) -> tuple[WalkIn, Any, bool]:
    """Bind once, or find the registration this nonce made: (row, ticket, repeated)."""
    async with ctx.db.writing() as session:
        existing = await session.scalar(
            select(WalkIn).where(WalkIn.event_id == event_id, WalkIn.nonce == request.nonce)
        )
        if existing is not None:
            _state, ticket = await _blank_state(session, existing.ticket_id)
            return existing, ticket, True
        state, ticket = await _blank_state(session, request.blank)
        reason = walk_in_rules.judge_binding(state, event_id, device_id)
        values = {
            "event_id": event_id,
            "nonce": request.nonce,
            "ticket_id": request.blank,
            "device_id": device_id,
            "gate_id": request.gate_id,
            "holder_name": request.holder_name.strip(),
            "holder_email": request.holder_email.strip(),
            "holder_phone": request.holder_phone.strip(),
            "language": request.language,
            "registered_at": request.registered_at,
            "received_at": utcnow(),
            "offline": request.offline,
            "status": BOUND if reason is None else CONFLICT,
            "reason": reason,
            "conflict_with": state.bound_by if state is not None else None,
        }
        walk_in_id = await _insert_once(session, values)
        if walk_in_id is None:
            # A twin of this request committed first: answer as it did.
            twin = await session.scalar(
                select(WalkIn).where(WalkIn.event_id == event_id, WalkIn.nonce == request.nonce)
            )
            assert twin is not None
            return twin, ticket, True
        walk_in = await session.get(WalkIn, walk_in_id)
        assert walk_in is not None
        if reason is None and not await _bind(session, request):
            # Another registration bound it between our read and our write.
            walk_in.status, walk_in.reason = CONFLICT, walk_in_rules.BLANK_TAKEN
            walk_in.conflict_with = await session.scalar(
                select(func.min(WalkIn.id)).where(
                    WalkIn.ticket_id == request.blank, WalkIn.status == BOUND
                )
            )
        if walk_in.status == CONFLICT:
            code = (
                ticket.code if ticket is not None and state and state.event_id == event_id else None
            )
            await _conflict_alert(session, event_id, walk_in, code)
        await session.flush()
    return walk_in, ticket, False


async def register_walk_in(
    ctx: Muster, event_id: int, device_id: int, request: WalkInRequest
) -> dict[str, Any]:
    """Bind the blank to the person and admit them, exactly once per nonce.

    ``{"walk_in": …, "repeated": bool, "scan": admission answer | None}``:
    ``scan`` is None for a conflict (nothing was bound, nobody admitted by
    this request: the alert says so).
    """
    await venues(ctx).gate(event_id, request.gate_id)  # unknown_gate before binding
    walk_in, ticket, repeated = await _record(ctx, event_id, device_id, request)
    own = ticket is not None and walk_in.status == BOUND
    if own and not repeated and request.mail and walk_in.holder_email and ctx.settings.smtp:
        mailing, _queued = await create_mailing(
            ctx.db, event_id, MailingRequest("tickets", [walk_in.ticket_id]), device_id
        )
        async with ctx.db.writing() as session:
            await session.execute(
                update(WalkIn).where(WalkIn.id == walk_in.id).values(mailing_id=mailing.id)
            )
        walk_in.mailing_id = mailing.id
    scan = None
    if own:
        admission = ScanRequest(
            secret=ticket.secret,
            gate_id=walk_in.gate_id if walk_in.gate_id is not None else request.gate_id,
            direction="in",
            nonce=walk_in.nonce,
            scanned_at=walk_in.registered_at,
            device_id=device_id,
        )
        if walk_in.offline:
            scan = (await replay_offline(ctx, event_id, [admission]))["results"][0]
        else:
            scan = await admit(ctx, event_id, admission)
    if walk_in.status == CONFLICT:
        ctx.changed(event_id, "alerts")
    return {
        "walk_in": walk_in_json(
            walk_in, ticket.code if own else None, ticket.type_id if own else None
        ),
        "repeated": repeated,
        "scan": scan,
    }
