"""The post-event review: pure summaries, then the report and exports end to end."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.features.report import IncidentRow, ScanRow, summarise_incidents, summarise_scans

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def scan(minutes: float, direction: str = "in", frm=None, to=1, status="ok", **kw) -> ScanRow:
    base = dict(
        scanned_at=T0 + timedelta(minutes=minutes),
        status=status,
        reason=kw.pop("reason", None),
        direction=direction,
        gate_id=kw.pop("gate_id", 10),
        from_zone_id=frm,
        to_zone_id=to,
        offline=False,
        conflict=False,
        annulled=False,
    )
    base.update(kw)
    return ScanRow(**base)


def test_peak_occupancy_is_replayed_in_scan_time_order():
    rows = [
        scan(5, "out", frm=1, to=None),  # listed first, happens after the entries
        scan(1),
        scan(2),
        scan(3),
        scan(4, "in", frm=1, to=2, gate_id=11),  # into the VIP room
        scan(6, status="error", reason="already_inside"),
        scan(7, annulled=True),
    ]
    summary = summarise_scans(rows, [1, 2], ZoneInfo("Asia/Shanghai"))
    assert summary["accepted"] == 5 and summary["refused"] == 1 and summary["annulled"] == 1
    assert summary["refused_by_reason"] == {"already_inside": 1}
    assert summary["peak_inside"][1]["inside"] == 3
    assert summary["peak_inside"][1]["at"] == (T0 + timedelta(minutes=3)).isoformat()
    assert summary["peak_inside"][2]["inside"] == 1
    assert summary["gates"] == {10: {"in": 3, "out": 1}, 11: {"in": 1, "out": 0}}
    [bucket] = summary["arrivals_per_15_minutes"]
    assert bucket == {"from": "2026-12-01T09:00:00+08:00", "arrivals": 3}


def test_incident_times():
    rows = [
        IncidentRow(
            "power",
            "P1",
            "resolved",
            T0,
            T0 + timedelta(minutes=2),
            T0 + timedelta(minutes=30),
            False,
        ),
        IncidentRow("power", "P2", "acknowledged", T0, T0 + timedelta(minutes=4), None, True),
        IncidentRow("medical", "P1", "open", T0, None, None, True),
    ]
    summary = summarise_incidents(rows)
    assert summary["total"] == 3 and summary["unresolved"] == 2 and summary["escalated"] == 2
    assert summary["by_category"] == {"power": 2, "medical": 1}
    assert summary["median_minutes_to_acknowledge"] == 3.0
    assert summary["median_minutes_to_resolve"] == 30.0
    assert summary["times_by_category"] == {
        "power": {"median_minutes_to_acknowledge": 3.0, "median_minutes_to_resolve": 30.0},
        "medical": {"median_minutes_to_acknowledge": None, "median_minutes_to_resolve": None},
    }


def test_empty_event():
    summary = summarise_scans([], [1], UTC)
    assert summary["scans"] == 0 and summary["busiest_15_minutes"] is None
    assert summarise_incidents([])["median_minutes_to_acknowledge"] is None


async def scan_via_api(api, event_id: int, secret: str, gate_id: int, direction: str = "in"):
    return await api.post(
        f"/api/v1/events/{event_id}/scans",
        {
            "secret": secret,
            "gate": gate_id,
            "direction": direction,
            "nonce": uuid.uuid4().hex,
            "scanned_at": datetime.now(UTC).isoformat(),
        },
        expect=200,
    )


async def test_report_and_exports(organiser, api_as, event, zone, gate):
    base = f"/api/v1/events/{event['id']}"
    issued = await organiser.post(
        f"{base}/tickets",
        {"tickets": [{"holder_name": n} for n in ("王伟", "李娜", "Zhang")]},
        expect=201,
    )
    door = await api_as("door", event["id"], gate["id"])
    secrets = [t["secret"] for t in issued["tickets"]]
    assert (await scan_via_api(door, event["id"], secrets[0], gate["id"]))["status"] == "ok"
    assert (await scan_via_api(door, event["id"], secrets[1], gate["id"]))["status"] == "ok"
    refused = await scan_via_api(door, event["id"], secrets[0], gate["id"])
    assert refused["reason"] == "already_inside"
    await organiser.post(f"/api/v1/tickets/{issued['tickets'][2]['id']}/revoke", {}, expect=200)
    item = await organiser.post(
        f"{base}/stock/items", {"name": "矿泉水", "unit": "瓶", "quantity": 10}, expect=201
    )
    await organiser.post(
        f"{base}/stock/movements",
        {"kind": "issue", "item": item["id"], "quantity": 4, "nonce": "n1"},
        expect=201,
    )

    command = await api_as("command", event["id"])
    report = await command.get(f"{base}/report")
    assert report["tickets"] == {
        "issued": 3,
        "revoked": 1,
        "checked_in": 2,
        "no_shows": 0,
        "by_type": [
            {
                "ticket_type": issued["tickets"][0]["ticket_type"],
                "name": "Standard",
                "issued": 3,
                "checked_in": 2,
            }
        ],
    }
    assert report["scans"]["accepted"] == 2 and report["scans"]["refused_by_reason"] == {
        "already_inside": 1
    }
    assert report["gates"] == [{"id": gate["id"], "name": "North door", "in": 2, "out": 0}]
    assert report["zones"][0]["peak_inside"] == 2
    assert report["stock"][0]["issued"] == 4 and report["stock"][0]["on_hand"] == 6
    assert report["incidents"]["total"] == 0

    # The logs name people: command exports them once the organiser allows it.
    for name in ("checkins", "stock", "incidents"):
        refused = await command.get(f"{base}/exports/{name}.csv", expect=403)
        assert refused["error"]["code"] == "export_not_allowed"
    await organiser.patch(base, {"options": {"command_exports": True}})
    checkins = await command.get(f"{base}/exports/checkins.csv")
    assert checkins.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(checkins.text.lstrip("\ufeff"))))
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]
    assert rows[0]["holder_name"] == "王伟" and rows[0]["gate"] == "North door"
    ledger = list(
        csv.DictReader(
            io.StringIO((await command.get(f"{base}/exports/stock.csv")).text.lstrip("\ufeff"))
        )
    )
    # The opening quantity enters the ledger as a receive.
    assert [(r["kind"], r["delta"], r["item"]) for r in ledger] == [
        ("receive", "10", "矿泉水"),
        ("issue", "-4", "矿泉水"),
    ]
    # Each time also as the venue's wall clock, the zone named in the header.
    scanned = datetime.fromisoformat(rows[0]["scanned_at"])
    shanghai = scanned.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[0]["scanned_at (Asia/Shanghai)"] == shanghai
    assert ledger[0]["occurred_at (Asia/Shanghai)"]

    # The incidents export carries the resolution note (and none once reopened).
    staff = await api_as("staff", event["id"])
    first = await staff.post(
        f"{base}/incidents",
        {"category": "power", "title": "配电箱跳闸", "nonce": "r1", "description": "B1"},
        expect=201,
    )
    second = await staff.post(
        f"{base}/incidents",
        {"category": "network", "title": "Wi-Fi down", "nonce": "r2"},
        expect=201,
    )
    await command.post(f"{base}/incidents/{first['id']}/resolve", {"note": "first try"}, expect=200)
    await command.post(f"{base}/incidents/{first['id']}/reopen", {}, expect=200)
    await command.post(
        f"{base}/incidents/{first['id']}/resolve", {"note": "换了保险丝"}, expect=200
    )
    await command.post(
        f"{base}/incidents/{second['id']}/resolve", {"note": "restarted"}, expect=200
    )
    await command.post(f"{base}/incidents/{second['id']}/reopen", {}, expect=200)
    text = (await command.get(f"{base}/exports/incidents.csv")).text.lstrip("\ufeff")
    exported = {int(r["incident_id"]): r for r in csv.DictReader(io.StringIO(text))}
    assert exported[first["id"]]["resolution_note"] == "换了保险丝"
    assert exported[first["id"]]["resolved_at (Asia/Shanghai)"]
    assert exported[second["id"]]["resolution_note"] == ""
    assert exported[second["id"]]["status"] == "open"


@pytest.mark.parametrize("role", ["door", "staff"])
async def test_report_is_for_organiser_and_command(api_as, event, role):
    caller = await api_as(role, event["id"])
    await caller.get(f"/api/v1/events/{event['id']}/report", expect=403)
    await caller.get(f"/api/v1/events/{event['id']}/exports/checkins.csv", expect=403)
