"""GET …/exports/broadcasts.csv on SQLite and PostgreSQL: every broadcast with its
audience, confirmed / expected as the receipts count them and the seconds to
confirm; safe in Excel; command only where the organiser allows personal-data
exports."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.server.broadcast_world import ack, make_floor, urgent
from tests.server.test_csv_formulas import assert_safe
from tests.server.test_task_export import rows


async def test_broadcasts_export_counts_each_broadcasts_confirmations(
    client: Any, organiser: Api, api_as: Any
) -> None:
    floor = await make_floor(client, organiser)
    asked = await organiser.post(
        floor.url(), urgent({"teams": ["security", "tech"], "zones": [floor.hall_b]}), expect=201
    )
    told = await organiser.post(
        floor.url(),
        {
            "text_en": '=HYPERLINK("x")',
            "text_zh": "@午饭",
            "audience": {"everyone": True},
            "ack_required": False,
        },
        expect=201,
    )
    await ack(floor.phones["李娜"], asked["id"])
    await ack(floor.phones["李娜"], asked["id"])  # resent: counted once

    base = f"/api/v1/events/{floor.event_id}"
    answer = await organiser.get(f"{base}/exports/broadcasts.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert_safe(answer.text, '=HYPERLINK("x")', "@午饭")
    found = {r["broadcast_id"]: r for r in rows(answer.text)}
    first, second = found[str(asked["id"])], found[str(told["id"])]
    receipts = await organiser.get(f"/api/v1/broadcasts/{asked['id']}")
    assert (
        (first["expected"], first["acked"])
        == (
            str(receipts["receipts"]["expected"]),
            str(receipts["receipts"]["acked"]),
        )
        == ("3", "1")
    )  # 李娜 (security), Tom (tech), 王强 (in Hall B)
    assert first["audience"] == f"teams=security,tech; zones={floor.hall_b}"
    assert first["median_seconds"] == first["slowest_seconds"] != ""
    assert (first["priority"], first["ack_required"]) == ("urgent", "true")
    assert first["text_zh"] == "北门暂停入场，等待指挥。"
    assert (second["audience"], second["ack_required"], second["median_seconds"]) == (
        "everyone",
        "false",
        "",
    )
    assert "sent_at (Asia/Shanghai)" in answer.text.splitlines()[0]

    command = await api_as("command", floor.event_id)
    refused = await command.get(f"{base}/exports/broadcasts.csv", expect=403)
    assert refused["error"]["code"] == "export_not_allowed"
    await organiser.patch(base, {"options": {"command_exports": True}})
    await command.get(f"{base}/exports/broadcasts.csv", expect=200)
    await floor.phones["Tom"].get(f"{base}/exports/broadcasts.csv", expect=403)
