"""``muster token list | revoke ID | rotate-organiser`` (``server.cli`` adds them).

A revocation made here reaches every running ``muster serve`` through the
``token_revocations`` log its hubs read (``server.features.tokens``): at once on
PostgreSQL, whose servers this wakes with a NOTIFY, else at their next
poll (``MUSTER_BUS_POLL_INTERVAL``, 1 s by default).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from realtime.bus import CHANNEL, encode_hint
from server.db import Database
from server.errors import MusterError
from server.features.tokens import TOKENS_TOPIC, list_tokens, revoke_token, rotate_organiser
from server.migrate import upgrade
from server.settings import load_settings

T = TypeVar("T")


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    settings = load_settings()

    async def run() -> T:
        await upgrade(str(settings.database_url))
        db = Database(str(settings.database_url))
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


async def _wake_servers(db: Database) -> None:
    """Tell running servers on PostgreSQL to read their bus tables now."""
    if not db.is_sqlite:
        async with db.raw_connection() as conn:
            await conn.execute(
                "SELECT pg_notify($1, $2)", CHANNEL, encode_hint("cli", {0: {TOKENS_TOPIC}})
            )


def cmd_token_list(_args: argparse.Namespace) -> int:
    accounts = _run(list_tokens)
    print(f"{'id':>6}  {'kind':<6}  {'role':<9}  {'event':>5}  {'gate':>5}  state    name")
    for a in accounts:
        state = "revoked" if a.revoked_at else "active"
        event = "" if a.event_id is None else str(a.event_id)
        gate = "" if a.gate_id is None else str(a.gate_id)
        print(f"{a.id:>6}  {a.kind:<6}  {a.role:<9}  {event:>5}  {gate:>5}  {state:<7}  {a.name}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    async def work(db: Database) -> bool:
        account = await revoke_token(db, args.id)
        await _wake_servers(db)
        return account.revoked_at is not None

    try:
        _run(work)
    except MusterError as exc:
        print(f"muster: {exc.message}", file=sys.stderr)
        return 2
    print(f"Revoked token {args.id}: refused everywhere, its websockets closed.")
    return 0


def cmd_token_rotate_organiser(_args: argparse.Namespace) -> int:
    async def work(db: Database) -> tuple[str, list[int]]:
        _account, token, revoked = await rotate_organiser(db)
        await _wake_servers(db)
        return token, [a.id for a in revoked]

    token, revoked = _run(work)
    ids = ", ".join(map(str, revoked)) or "none"
    print(f"Revoked the organiser tokens for every event ({ids}). The new one (shown once):")
    print(token)
    return 0


def add_token_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = commands.add_parser("list", help="every token: id, kind, role, event, gate, state")
    listing.set_defaults(run=cmd_token_list)
    revoke = commands.add_parser("revoke", help="revoke a token (by its id) on every server")
    revoke.add_argument("id", type=int, help="the token's id (muster token list)")
    revoke.set_defaults(run=cmd_token_revoke)
    rotate = commands.add_parser(
        "rotate-organiser",
        help="a new organiser token for every event, the old ones revoked; it is the last line",
    )
    rotate.set_defaults(run=cmd_token_rotate_organiser)
