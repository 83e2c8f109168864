"""``checkin.sync.replay_offline`` on both databases: an offline queue merged once.

Each test reads back what the replay wrote (the scan log, the counters,
the alerts), not only its answer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from checkin.admission import admit_one
from checkin.answers import ScanRequest
from checkin.sync import replay_offline
from server.context import Muster
from server.models import Alert, Scan
from tests.checkin.test_admission import inside
from tests.checkin.test_admission_race import issue_many
from tests.conftest import Api

EARLY = datetime.now(UTC) - timedelta(minutes=5)


def offline(secret: str, gate_id: int, minutes: int, direction: str = "in") -> ScanRequest:
    return ScanRequest(
        secret, gate_id, direction, uuid.uuid4().hex, EARLY + timedelta(minutes=minutes), 7
    )


async def test_two_offline_doors_admitting_one_ticket_make_one_admission_and_a_conflict(
    ctx: Muster, organiser: Api, event: Any, zone: Any, gate: Any
) -> None:
    (ticket,) = await issue_many(organiser, event["id"], 1)
    later, first = (
        offline(ticket["secret"], gate["id"], 2),
        offline(ticket["secret"], gate["id"], 1),
    )
    replayed = await replay_offline(ctx, event["id"], [later, first])  # replayed in scan-time order
    by_nonce = {r["nonce"]: r for r in replayed["results"]}
    assert by_nonce[first.nonce]["status"] == "ok"
    assert (by_nonce[later.nonce]["reason"], by_nonce[later.nonce]["conflict"]) == (
        "already_inside",
        True,
    )
    assert replayed["counts"] == {"ok": 1, "error": 1, "conflict": 1, "repeated": 0}
    assert await inside(ctx, zone["id"]) == 1
    async with ctx.db.reading() as session:
        rows = (await session.execute(select(Scan.id, Scan.nonce, Scan.conflict_with))).all()
        conflicts = (
            await session.scalars(select(Alert.data).where(Alert.kind == "conflict"))
        ).all()
    ids = {nonce: scan_id for scan_id, nonce, _ in rows}
    assert {nonce: conflict for _, nonce, conflict in rows} == {
        first.nonce: None,
        later.nonce: ids[first.nonce],  # it points at the admission that came first
    }
    assert [c["divergence"] for c in conflicts] == ["admitted_twice"]


async def test_the_counters_follow_the_queue_and_a_replay_again_changes_nothing(
    ctx: Muster, organiser: Api, event: Any, zone: Any, gate: Any
) -> None:
    tickets = await issue_many(organiser, event["id"], 12)
    queue = [offline(t["secret"], gate["id"], 1) for t in tickets]
    queue += [offline(t["secret"], gate["id"], 2, "out") for t in tickets[:5]]
    replayed = await replay_offline(ctx, event["id"], queue)
    assert replayed["counts"]["ok"] == 17
    assert await inside(ctx, zone["id"]) == 7
    again = await replay_offline(ctx, event["id"], queue)
    assert again["counts"]["repeated"] == 17
    assert [r["repeated"] for r in again["results"]] == [True] * 17
    assert await inside(ctx, zone["id"]) == 7
    async with ctx.db.reading() as session:
        assert len((await session.scalars(select(Scan.id))).all()) == 17


async def test_an_online_answer_the_phone_never_showed_is_marked_a_divergence(
    ctx: Muster, organiser: Api, event: Any, zone: Any, gate: Any
) -> None:
    (ticket,) = await issue_many(organiser, event["id"], 1)
    scan = offline(ticket["secret"], gate["id"], 1)
    online = await admit_one(ctx, event["id"], scan)  # it reached the server; the phone timed out
    assert online["status"] == "ok"
    refused = ScanRequest(**{**scan.__dict__, "local_ok": False, "local_reason": "invalid"})
    replayed = await replay_offline(ctx, event["id"], [refused])
    (result,) = replayed["results"]
    assert (result["status"], result["conflict"], result["repeated"]) == ("ok", True, True)
    async with ctx.db.reading() as session:
        (marked,) = (await session.execute(select(Scan.id, Scan.conflict_with))).all()
        divergences = (
            await session.scalars(select(Alert.data).where(Alert.kind == "conflict"))
        ).all()
    assert marked.conflict_with == marked.id  # a conflict with itself
    assert [d["divergence"] for d in divergences] == ["door_refused"]
