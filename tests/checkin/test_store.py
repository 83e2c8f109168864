"""``checkin.store`` on both databases: the exactly-once guard, written once, holds on each form.

A scan read the ticket outside; before it applies, another door admits
the ticket. The store must then refuse to move it (``STALE``) and write
nothing: no second move, no second place in the zone, no log row. With
``GUARD_TICKET_STATE`` off the same apply goes through, so the test fails
when the guard is removed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from checkin.admission import admit_one
from checkin.answers import ScanRequest, answer, scan_row, ticket_state
from checkin.capacity import shard_walk
from checkin.rules import GateMove, decide
from checkin.store import APPLIED, STALE, Move, guard, hot_path
from checkin.venue import venues
from server.context import Muster
from server.models import utcnow
from tests.checkin.test_admission import inside, logged
from tests.checkin.test_admission_race import issue_many
from tests.conftest import Api


@pytest.mark.parametrize("guarded", [True, False])
async def test_a_ticket_moved_since_the_read_is_not_moved_again(
    ctx: Muster,
    organiser: Api,
    event: Any,
    zone: Any,
    gate: Any,
    monkeypatch: pytest.MonkeyPatch,
    guarded: bool,
) -> None:
    monkeypatch.setattr(guard, "GUARD_TICKET_STATE", guarded)
    (ticket,) = await issue_many(organiser, event["id"], 1)
    venue, door = await venues(ctx).gate(event["id"], gate["id"])
    scan = ScanRequest(ticket["secret"], door.id, "in", uuid.uuid4().hex, datetime.now(UTC), None)
    async with hot_path(ctx.db) as store:
        seen = await store.read(event["id"], scan.nonce, secret=ticket["secret"])
    row = seen.ticket
    assert row is not None and row.zone_id is None

    # Another door admits the ticket between this scan's read and its write.
    other = ScanRequest(ticket["secret"], door.id, "in", uuid.uuid4().hex, datetime.now(UTC), None)
    assert (await admit_one(ctx, event["id"], other))["status"] == "ok"

    now = utcnow()
    decision = decide(
        ticket_state(row, venue), row.generation, GateMove(None, zone["id"], "in"), now
    )
    response = answer(scan, venue, door, row, decision, now, now)
    move = Move(row, zone["id"], now, shard_walk(venue, zone["id"], row.id), None)
    async with hot_path(ctx.db) as store:
        applied = await store.apply(
            scan_row(event["id"], scan, row.id, decision, None, now, response), move
        )
    if guarded:
        assert applied.outcome == STALE
        assert await inside(ctx, zone["id"]) == 1
        assert await logged(ctx, event["id"]) == [("ok", None)]
    else:  # the protection removed: the ticket gets in twice
        assert applied.outcome == APPLIED
        assert await inside(ctx, zone["id"]) == 2
        assert await logged(ctx, event["id"]) == [("ok", None), ("ok", None)]
