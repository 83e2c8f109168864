"""The headcount snapshot: its shape, and that it follows the scans."""

from __future__ import annotations

from typing import Any

from server.context import Muster
from server.features.headcount import headcount_snapshot


async def test_snapshot_shape_before_any_scan(
    ctx: Muster,
    event: dict[str, Any],
    zone: dict[str, Any],
    gate: dict[str, Any],
    ticket: dict[str, Any],
) -> None:
    snap = await headcount_snapshot(ctx.db, event["id"])
    assert snap["event_id"] == event["id"]
    assert (snap["inside"], snap["checked_in"], snap["expected"], snap["not_yet_arrived"]) == (
        0,
        0,
        1,
        1,
    )
    assert snap["zones"] == [
        {
            "id": zone["id"],
            "name": "Hall A",
            "inside": 0,
            "capacity": 2000,
            "soft_warning": 0.9,
            "level": "ok",
        }
    ]
    [g] = snap["gates"]
    assert (g["id"], g["in"], g["out"], g["refused"], g["last_scan_at"]) == (
        gate["id"],
        0,
        0,
        0,
        None,
    )
    assert snap["arrivals_per_minute"]["counts"] == [0] * 60
