"""Two real ``muster serve`` processes on one PostgreSQL database agree on an
evacuation: started on one (a second start on the other is refused), people
accounted on both, an offline phone's batch sent to both (repeated, merged
once), a door's late offline admission synced to the other; both answer the
same figures, the same missing list and the same report."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import event_body
from tests.servers import LiveServer, start_server


def ok(answer: httpx.Response) -> Any:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def door_token(api: httpx.Client, event_id: int, gate_id: int) -> str:
    code = ok(
        api.post(
            f"/api/v1/events/{event_id}/pairing-codes",
            json={"role": "door", "gate": gate_id, "device_name": "North-1"},
        )
    )
    return str(ok(api.post("/api/v1/devices/pair", json={"code": code["code"]}))["token"])


def scan_in(door: httpx.Client, event_id: int, gate_id: int, secret: str, at: datetime) -> Any:
    return ok(
        door.post(
            f"/api/v1/events/{event_id}/scans",
            json={
                "secret": secret,
                "gate": gate_id,
                "direction": "in",
                "nonce": uuid.uuid4().hex,
                "scanned_at": at.isoformat(),
            },
        )
    )


def both_say(servers: list[LiveServer], path: str) -> list[Any]:
    answers = []
    for server in servers:
        with server.api() as api:
            answers.append(ok(api.get(path)))
    return answers


def test_two_processes_agree_on_an_evacuation(pg_url: str, tmp_path: Any) -> None:
    env = {"MUSTER_DATABASE_URL": pg_url}
    first = start_server(tmp_path / "a", env)
    try:
        second = start_server(tmp_path / "b", env)
        second.token = first.token
        try:
            agree(first, second)
        finally:
            second.stop()
    finally:
        first.stop()


def agree(first: LiveServer, second: LiveServer) -> None:
    with first.api() as api:
        e = ok(api.post("/api/v1/events", json=event_body()))["id"]
        zone = ok(api.post(f"/api/v1/events/{e}/zones", json={"name": "主会场 Hall"}))["id"]
        gate = ok(api.post(f"/api/v1/events/{e}/gates", json={"name": "北门", "to_zone": zone}))
        point = ok(
            api.post(f"/api/v1/events/{e}/muster-points", json={"name": "P1", "zones": [zone]})
        )["id"]
        names = ["王伟", "李娜", "Chen Jie", "张敏", "刘洋", "Sarah Lee"]
        tickets = ok(
            api.post(
                f"/api/v1/events/{e}/tickets",
                json={"tickets": [{"holder_name": n} for n in names]},
            )
        )["tickets"]
        token = door_token(api, e, gate["id"])
    offline_at = datetime.now(UTC) - timedelta(seconds=30)
    with first.api(token) as door:
        for ticket in tickets[:5]:
            scan_in(door, e, gate["id"], ticket["secret"], datetime.now(UTC))

    with first.api() as api:
        started = ok(api.post(f"/api/v1/events/{e}/evacuations", json={"kind": "drill"}))
    with second.api() as api:
        again = api.post(f"/api/v1/events/{e}/evacuations", json={"kind": "drill"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "evacuation_running"
    evac = f"/api/v1/evacuations/{started['id']}"

    def account(ticket: dict[str, Any], nonce: str | None = None) -> dict[str, Any]:
        return {
            "nonce": nonce or uuid.uuid4().hex,
            "secret": ticket["secret"],
            "status": "safe",
            "point": point,
        }

    with first.api(token) as phone_a, second.api(token) as phone_b:
        assert ok(phone_a.post(f"{evac}/accounts", json=account(tickets[0])))["status"] == "ok"
        assert ok(phone_b.post(f"{evac}/accounts", json=account(tickets[1])))["status"] == "ok"
        # An offline phone's queue, sent to one process and again to the other.
        batch = {"accounts": [account(tickets[2]), account(tickets[3])]}
        sent = ok(phone_b.post(f"{evac}/accounts", json=batch))
        resent = ok(phone_a.post(f"{evac}/accounts", json=batch))
        resent_again = ok(phone_b.post(f"{evac}/accounts", json=batch))
        assert [r["status"] for r in sent["results"]] == ["ok", "ok"]
        assert all(r.get("repeated") for r in resent["results"] + resent_again["results"])
        # The door offline at the alarm syncs to the other process: the
        # sixth holder was inside at the start and joins the roll.
        synced = ok(
            phone_b.post(
                f"/api/v1/events/{e}/scans/sync",
                json={
                    "scans": [
                        {
                            "secret": tickets[5]["secret"],
                            "gate": gate["id"],
                            "direction": "in",
                            "nonce": uuid.uuid4().hex,
                            "scanned_at": offline_at.isoformat(),
                        }
                    ]
                },
            )
        )
        assert synced["results"][0]["status"] == "ok"

    servers = [first, second]
    summaries = both_say(servers, evac)
    figures = [(s["total"], s["accounted"], s["missing"], s["statuses"]) for s in summaries]
    assert figures[0] == figures[1] == (6, 4, 2, figures[0][3])
    assert figures[0][3] == {"missing": 2, "safe": 4, "left_earlier": 0, "needs_help": 0}
    assert [p["accounted"] for p in summaries[0]["points"]] == [4]
    missing = [[p["name"] for p in m["people"]] for m in both_say(servers, f"{evac}/missing")]
    assert missing[0] == missing[1]
    assert sorted(missing[0]) == sorted([names[4], names[5]])
    reasons = {p["name"]: p["reason"] for p in both_say(servers, f"{evac}/missing")[1]["people"]}
    assert reasons == {names[4]: "inside", names[5]: "offline_scan"}

    with second.api() as api:
        ok(api.post(f"{evac}/all-clear"))
    reports = both_say(servers, f"{evac}/report")
    keys = ("total", "accounted", "missing", "seconds_to", "statuses", "points", "active")
    first_says, second_says = ({k: r[k] for k in keys} for r in reports)
    assert first_says == second_says
    assert reports[0]["active"] is False and reports[0]["missing"] == 2
