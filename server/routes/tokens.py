"""``/api/v1/tokens``: every token of every kind, for the organiser to see and revoke.

People's tokens (``muster token create``) and paired phones alike; never a
secret (only its hash is stored, and not even that is shown). Revoking cuts
the token off on every process at once, its open websockets included
(``server.features.tokens``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from server.auth import ORGANISER, authorize
from server.context import muster
from server.errors import Conflict
from server.features.tokens import announce, list_tokens, revoke_token, token_json
from server.http import json_response, path_int
from server.openapi import answers
from server.responses import JSONResponse
from server.routes.devices import cut_off_phones


async def read_tokens(request: Request) -> JSONResponse:
    """Every token: kind (token or device), role, event, gate, created, last seen, revoked."""
    principal = await authorize(request, None, {ORGANISER})
    accounts = await list_tokens(muster(request).db)
    return json_response({"tokens": [token_json(a, principal.account_id) for a in accounts]})


@answers(409)
async def revoke_token_by_id(request: Request) -> JSONResponse:
    """Revoke one token: refused at once everywhere, its websockets closed with 4401."""
    token_id = path_int(request, "token_id")
    principal = await authorize(request, None, {ORGANISER})
    if token_id == principal.account_id:
        # The console would cut itself off; `muster token rotate-organiser` replaces it.
        raise Conflict("A token cannot revoke itself.", code="own_token")
    ctx = muster(request)
    account = await revoke_token(ctx.db, token_id)
    if account.kind == "device" and account.event_id is not None:
        # A phone, as if unpaired from its event (its walk-in blanks too).
        await cut_off_phones(ctx, [account.id], account.event_id)
    else:
        announce(ctx, [account.id], account.event_id)
    return json_response(token_json(account, principal.account_id))


routes = [
    Route("/api/v1/tokens", read_tokens, methods=["GET"]),
    Route("/api/v1/tokens/{token_id}/revoke", revoke_token_by_id, methods=["POST"]),
]
