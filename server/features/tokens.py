"""Every token of every kind: listed, revoked, and the organiser's rotated.

A revocation sets ``accounts.revoked_at`` and appends a ``token_revocations``
row in the same transaction. The row is what makes it immediate everywhere:
the hub of every process reads that log as a bus table
(``realtime.tables.TokenRevocations``), drops the account from its token cache
and closes the account's open websockets with 4401 (``realtime.hub``),
within the bus's wake-up delay (tens of milliseconds with NOTIFY, at most
``MUSTER_BUS_POLL_INTERVAL`` without). The process that revoked drops it
from its own cache before answering (``announce``), so its next request
with that token is refused.

Only the SHA-256 of a token is stored, and nothing here shows even that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import ORGANISER, hash_token, new_token
from server.context import Muster
from server.db import Database
from server.errors import NotFound
from server.models import Account, TokenRevocation, utcnow
from server.serialize import iso

#: The bus "topic" a revocation wakes (``Muster.changed``): no client watches
#: it; it wakes the hub's reader of ``token_revocations``.
TOKENS_TOPIC = "tokens"


def token_json(account: Account, caller: int | None = None) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "kind": account.kind,
        "role": account.role,
        "event": account.event_id,
        "gate": account.gate_id,
        "created_at": iso(account.created_at),
        "last_seen_at": iso(account.last_seen_at),
        "revoked_at": iso(account.revoked_at),
        #: The token that asked: the console offers no revoke for it.
        "yours": account.id == caller,
    }


async def list_tokens(db: Database) -> list[Account]:
    async with db.reading() as session:
        return list((await session.scalars(select(Account).order_by(Account.id))).all())


def log_revocations(session: AsyncSession, account_ids: Iterable[int]) -> None:
    """Append revoked accounts to the log the hubs read, in the caller's transaction."""
    now = utcnow()
    session.add_all(TokenRevocation(account_id=i, revoked_at=now) for i in account_ids)


def revoke_in(session: AsyncSession, account: Account) -> bool:
    """Revoke ``account`` in the caller's transaction; False if it already was."""
    if account.revoked_at is not None:
        return False
    account.revoked_at = utcnow()
    log_revocations(session, [account.id])
    return True


async def revoke_token(
    db: Database, account_id: int, *, event_id: int | None = None, kind: str | None = None
) -> Account:
    """Revoke one token (NotFound unless it exists, in ``event_id`` and of ``kind`` if given)."""
    async with db.writing() as session:
        account = await session.get(Account, account_id, with_for_update=True)
        if (
            account is None
            or (event_id is not None and account.event_id != event_id)
            or (kind is not None and account.kind != kind)
        ):
            raise NotFound(f"No {kind or 'token'} {account_id}.")
        revoke_in(session, account)
    return account


async def rotate_organiser(db: Database) -> tuple[Account, str, list[Account]]:
    """A new organiser token for every event; every other such token revoked.

    Tokens of organisers bound to one event, other roles and devices stay.
    Returns the new account, its token (shown once) and the ones revoked.
    """
    token = new_token()
    async with db.writing() as session:
        others = (
            await session.scalars(
                select(Account)
                .where(
                    Account.role == ORGANISER,
                    Account.event_id.is_(None),
                    Account.revoked_at.is_(None),
                )
                .with_for_update()
            )
        ).all()
        revoked = [account for account in others if revoke_in(session, account)]
        account = Account(
            role=ORGANISER, name="organiser (rotated)", kind="token", token_hash=hash_token(token)
        )
        session.add(account)
    return account, token, revoked


def announce(ctx: Muster, account_ids: Iterable[int], event_id: int | None) -> None:
    """After the revoking commit: refuse the tokens here at once, and wake the bus."""
    ctx.tokens.drop(account_ids)
    ctx.changed(event_id or 0, TOKENS_TOPIC)
