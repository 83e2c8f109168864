"""The shred and one person's export and erasure, end to end on both databases.

The seeded values (``retention_seed``) are searched for in every column of
every table afterwards, so a place the shred forgot is found whether or not
anyone listed it.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from typing import Any

from sqlalchemy import select

from server.auth import create_account
from server.features.retention import check_retention
from server.models import AuditEntry, IncidentPhoto, MailDelivery, Mailing
from tests.conftest import Api
from tests.server.retention_seed import (
    BROADCAST_TEXT,
    COMMENT_TEXT,
    DEVICE_NAME,
    HOLDERS,
    INCIDENT_TEXT,
    SEEDED,
    STAFF_NAME,
    STAFF_PHONE,
    find_in_database,
    past_retention,
    scan_body,
    seed_event,
)
from tests.server.test_photos import jpeg_with_gps

SMTP_REPLY = "550 5.1.1 <nana.ouyang@example.com>: no such user"


async def seeded(organiser: Api, ctx: Any) -> dict[str, Any]:
    async def post(path: str, body: Any, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = await organiser.post(path, body, headers=headers)
        assert answer.get("error") is None, (path, answer)
        return answer

    async def patch(path: str, body: Any) -> Any:
        return await organiser.patch(path, body)

    async def get(path: str) -> Any:
        return await organiser.get(path)

    async def with_photo(path: str, form: dict[str, str]) -> Any:
        response = await organiser.http.post(
            path,
            data=form,
            files={"photo": ("p.jpg", jpeg_with_gps((300, 200)), "image/jpeg")},
            headers=organiser.headers,
        )
        assert response.status_code == 201, response.text
        return response.json()

    seed = await seed_event(post, patch, get, with_photo)
    eid = seed["event"]["id"]
    # A staff phone named after its holder writes a comment; a mail that bounced.
    _account, token = await create_account(ctx.db, "staff", event_id=eid, name=DEVICE_NAME)
    staff = Api(organiser.http, token)
    incident = (await organiser.get(f"/api/v1/events/{eid}/incidents"))["incidents"][0]
    await staff.post(
        f"/api/v1/events/{eid}/incidents/{incident['id']}/comments",
        {"text": "on my way", "nonce": uuid.uuid4().hex},
        expect=201,
    )
    async with ctx.db.writing() as session:
        mailing = Mailing(event_id=eid, kind="unsent")
        session.add(mailing)
        await session.flush()
        session.add(
            MailDelivery(
                mailing_id=mailing.id,
                event_id=eid,
                ticket_id=seed["tickets"][0]["id"],
                status="failed",
                error_code="refused",
                smtp_reply=SMTP_REPLY,
            )
        )
    return seed


async def test_an_event_past_its_retention_is_shredded_and_its_review_kept(
    organiser, ctx, settings
):
    seed = await seeded(organiser, ctx)
    eid = seed["event"]["id"]
    url = str(settings.database_url)
    assert await find_in_database(url, SEEDED), "the seed wrote nothing to look for"
    await organiser.patch(f"/api/v1/events/{eid}", past_retention(seed["event"]))
    report_before = await organiser.get(f"/api/v1/events/{eid}/report")
    drill_before = await organiser.get(f"/api/v1/evacuations/{seed['drill']['id']}/report")
    policy = await organiser.get(f"/api/v1/events/{eid}/retention")
    assert policy["effective_days"] == 1 and policy["due_in_days"] < 0

    # An event not yet due is left alone; this one is shredded once.
    other = await organiser.post("/api/v1/events", {**seed["event"], "name": "明年"}, expect=201)
    assert await check_retention(ctx.db, 30) == [eid]
    assert await check_retention(ctx.db, 30) == []

    assert await find_in_database(url, [*SEEDED, SMTP_REPLY]) == []
    async with ctx.db.reading() as session:
        assert (await session.scalars(select(IncidentPhoto))).all() == []
        [entry] = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "shred"))
        ).all()
    # The 3 holders' tickets, the walk-in's and the 19 blanks its phone still held.
    assert entry.event_id == eid and entry.actor_id is None and entry.data["tickets"] == 3 + 20
    assert await organiser.get(f"/api/v1/events/{eid}/report") == report_before
    drill_after = await organiser.get(f"/api/v1/evacuations/{seed['drill']['id']}/report")
    assert drill_after == {**drill_before, "message": ""}
    shown = await organiser.get(f"/api/v1/events/{eid}")
    assert shown["shredded_at"] is not None
    assert (await organiser.get(f"/api/v1/events/{other['id']}"))["shredded_at"] is None


async def test_a_retired_secret_is_refused_with_its_reason(organiser, ctx):
    seed = await seeded(organiser, ctx)
    eid, gate = seed["event"]["id"], seed["gate"]["id"]
    await organiser.post(f"/api/v1/events/{eid}/shred", {"confirm": True}, expect=200)
    for ticket in seed["tickets"]:
        direction = "out" if ticket is not seed["tickets"][2] else "in"
        answer = await organiser.post(
            f"/api/v1/events/{eid}/scans", scan_body(ticket["secret"], gate, direction), expect=200
        )
        assert (answer["status"], answer["reason"]) == ("error", "retired")
    page = await organiser.http.get(f"/t/{seed['tickets'][2]['secret']}")
    assert page.status_code == 404


async def test_shred_now_needs_confirmation_and_runs_once(organiser, api_as, ctx):
    event = await organiser.post("/api/v1/events", seed_body(), expect=201)
    path = f"/api/v1/events/{event['id']}/shred"
    refused = await organiser.post(path, {}, expect=422)
    assert refused["error"]["code"] == "invalid_request"
    await organiser.post(path, {"confirm": False}, expect=422)
    command = await api_as("command", event["id"])
    await command.post(path, {"confirm": True}, expect=403)
    await organiser.post(path, {"confirm": True}, expect=200)
    again = await organiser.post(path, {"confirm": True}, expect=409)
    assert again["error"]["code"] == "already_shredded"
    trail = await organiser.get(f"/api/v1/events/{event['id']}/audit")
    assert [e["action"] for e in trail["entries"]] == ["shred"]


def seed_body() -> dict[str, Any]:
    from tests.conftest import event_body

    return event_body()


async def test_retention_days_is_a_field_of_the_event(organiser, settings):
    event = await organiser.post("/api/v1/events", seed_body(), expect=201)
    assert event["retention_days"] is None
    path = f"/api/v1/events/{event['id']}"
    assert (await organiser.patch(path, {"retention_days": 90}))["retention_days"] == 90
    assert (await organiser.get(f"{path}/retention"))["effective_days"] == 90
    await organiser.patch(path, {"retention_days": -1}, expect=422)
    await organiser.patch(path, {"retention_days": "soon"}, expect=422)
    assert (await organiser.patch(path, {"retention_days": None}))["retention_days"] is None
    policy = await organiser.get(f"{path}/retention")
    assert policy["effective_days"] == settings.retention_days == 30


async def test_one_attendee_export_holds_what_was_seeded_and_erasure_removes_it(
    organiser, ctx, settings
):
    seed = await seeded(organiser, ctx)
    eid = seed["event"]["id"]
    nana, margarethe = seed["tickets"][0], seed["tickets"][1]
    report_before = await organiser.get(f"/api/v1/events/{eid}/report")

    response = await organiser.http.get(
        f"/api/v1/tickets/{nana['id']}/personal-data", headers=organiser.headers
    )
    assert response.status_code == 200
    assert "no-store" in response.headers["cache-control"]
    record = response.json()
    assert record["ticket"]["holder_name"] == HOLDERS[0][0]
    assert record["ticket"]["holder_email"] == HOLDERS[0][1]
    assert "secret" not in record["ticket"]
    assert [(s["status"], s["reason"], s["gate_name"]) for s in record["scans"]] == [
        ("ok", None, "North door"),
        ("error", "already_inside", "North door"),
    ]
    assert all(s["scanned_at"] for s in record["scans"])
    assert [(m["status"], m["smtp_reply"]) for m in record["mails"]] == [("failed", SMTP_REPLY)]
    assert [i["description"] for i in record["incidents"]] == [INCIDENT_TEXT]
    assert [e["name"] for e in record["evacuations"]] == [HOLDERS[0][0]]

    as_csv = await organiser.http.get(
        f"/api/v1/tickets/{nana['id']}/personal-data",
        headers={**organiser.headers, "Accept": "text/csv"},
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "no-store" in as_csv.headers["cache-control"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text.lstrip("\ufeff"))))
    assert {
        "section": "ticket",
        "row": "1",
        "field": "holder_email",
        "value": HOLDERS[0][1],
    } in rows
    assert {r["section"] for r in rows} >= {"ticket", "scans", "mails", "incidents", "evacuations"}

    erased = await organiser.post(f"/api/v1/tickets/{nana['id']}/erase", expect=200)
    assert erased["changed"]["tickets"] == 1
    url = str(settings.database_url)
    assert await find_in_database(url, [*HOLDERS[0], SMTP_REPLY]) == []
    # The others keep theirs; the kept text keeps what does not name her.
    remaining = {n for _t, _c, n in await find_in_database(url, SEEDED)}
    assert HOLDERS[1][0] in remaining and COMMENT_TEXT in remaining
    assert "fainted near the stage" in remaining
    assert await organiser.get(f"/api/v1/events/{eid}/report") == report_before
    refused = await organiser.post(
        f"/api/v1/events/{eid}/scans", scan_body(nana["secret"], seed["gate"]["id"], "out")
    )
    assert refused["reason"] == "retired"
    still = await organiser.post(
        f"/api/v1/events/{eid}/scans", scan_body(margarethe["secret"], seed["gate"]["id"], "out")
    )
    assert still["status"] == "ok"

    trail = (await organiser.get(f"/api/v1/events/{eid}/audit"))["entries"]
    assert [(e["action"], e["ticket"]) for e in trail] == [
        ("erase", nana["id"]),
        ("personal_data_export", nana["id"]),
        ("personal_data_export", nana["id"]),
    ]
    assert all(e["actor"] is not None and e["at"] for e in trail)
    text = str(trail)
    assert HOLDERS[0][0] not in text and HOLDERS[0][1] not in text


async def test_personal_data_is_for_the_organiser_only(organiser, api_as, ctx):
    seed = await seeded(organiser, ctx)
    ticket = seed["tickets"][0]["id"]
    command = await api_as("command", seed["event"]["id"])
    await command.get(f"/api/v1/tickets/{ticket}/personal-data", expect=403)
    await command.post(f"/api/v1/tickets/{ticket}/erase", expect=403)
    await organiser.get("/api/v1/tickets/987654321/personal-data", expect=404)
    anonymous = await organiser.http.get(f"/api/v1/tickets/{ticket}/personal-data")
    assert anonymous.status_code == 401


async def test_the_archive_holds_every_csv_the_shred_empties(organiser, ctx):
    seed = await seeded(organiser, ctx)
    eid = seed["event"]["id"]
    response = await organiser.get(f"/api/v1/events/{eid}/exports/personal-data.zip")
    assert response.headers["content-type"] == "application/zip"
    assert "no-store" in response.headers["cache-control"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {
        "tickets.csv", "scans.csv", "incidents.csv", "incident_log.csv", "mail.csv", "staff.csv",
        "broadcasts.csv",
    } <= names  # fmt: skip
    everything = "".join(archive.read(n).decode("utf-8") for n in names)
    for value in (
        *HOLDERS[0],
        INCIDENT_TEXT,
        COMMENT_TEXT,
        SMTP_REPLY,
        DEVICE_NAME,
        STAFF_NAME,
        STAFF_PHONE,
        BROADCAST_TEXT,
    ):
        assert value in everything, value
    trail = (await organiser.get(f"/api/v1/events/{eid}/audit"))["entries"]
    assert [e["action"] for e in trail] == ["personal_data_archive"]


#: The export columns that name or describe a person: blanked by the shred.
#: Every other column of the review's exports is the same after it.
PERSONAL_COLUMNS = {
    # device: a phone's name (a supervisor's is named after them)
    "checkins": {"holder_name", "device"},
    "incidents": {"title", "location", "reporter", "assignee", "description", "resolution_note"},
    "stock": {"reason", "actor"},
}
REVOKED_HOLDER = "Ingrid Holm"


async def test_the_review_is_the_same_figure_by_figure_after_the_shred(organiser, api_as, ctx):
    """Every figure the issue lists is non-trivial before (so an equal report
    proves something): arrivals, per gate and zone, refusals by reason,
    peaks, incident times by category, stock used, drill times; and the
    review's exports keep every column that holds no personal data."""
    seed = await seeded(organiser, ctx)
    eid, base = seed["event"]["id"], f"/api/v1/events/{seed['event']['id']}"
    hall_a, door_gate = seed["zone"], seed["gate"]
    hall_b = await organiser.post(f"{base}/zones", {"name": "Hall B", "capacity": 50}, expect=201)
    inner = await organiser.post(
        f"{base}/gates",
        {"name": "Inner door", "from_zone": hall_a["id"], "to_zone": hall_b["id"]},
        expect=201,
    )
    secrets = [t["secret"] for t in seed["tickets"]]
    for secret, gate, direction, expected in [
        (secrets[0], inner["id"], "in", ("ok", None)),
        (secrets[1], door_gate["id"], "out", ("ok", None)),
        (secrets[2], door_gate["id"], "out", ("error", "not_inside")),
    ]:
        answer = await organiser.post(
            f"{base}/scans", scan_body(secret, gate, direction), expect=200
        )
        assert (answer["status"], answer["reason"]) == expected, answer
    revoked = await organiser.post(f"{base}/tickets", {"holder_name": REVOKED_HOLDER}, expect=201)
    await organiser.post(f"/api/v1/tickets/{revoked['id']}/revoke", {}, expect=200)
    medical = (await organiser.get(f"{base}/incidents"))["incidents"][0]
    await organiser.post(
        f"{base}/incidents/{medical['id']}/resolve", {"note": "欧阳娜娜 went home"}, expect=200
    )
    power = await organiser.post(
        f"{base}/incidents",
        {"category": "power", "severity": "P3", "title": "socket dead", "nonce": uuid.uuid4().hex},
        expect=201,
    )
    await organiser.post(f"{base}/incidents/{power['id']}/ack", {}, expect=200)
    point = await organiser.post(
        f"{base}/muster-points", {"name": "P1", "zones": [hall_a["id"], hall_b["id"]]}, expect=201
    )
    drill = await organiser.post(f"{base}/evacuations", {"kind": "drill"}, expect=201)
    door = await api_as("door", eid, door_gate["id"])
    await door.post(
        f"/api/v1/evacuations/{drill['id']}/accounts",
        {"nonce": uuid.uuid4().hex, "secret": secrets[0], "status": "safe", "point": point["id"]},
        expect=200,
    )
    await organiser.post(f"/api/v1/evacuations/{drill['id']}/all-clear", {}, expect=200)

    report = await organiser.get(f"{base}/report")
    drill_report = await organiser.get(f"/api/v1/evacuations/{drill['id']}/report")
    exports = {name: await _export(organiser, base, name) for name in PERSONAL_COLUMNS}
    # Non-trivial before.
    # Checked in: two holders and the walk-in the seed registered at the door.
    assert report["tickets"]["revoked"] == 1 and report["tickets"]["checked_in"] == 3
    assert report["scans"]["refused_by_reason"] == {"already_inside": 1, "not_inside": 1}
    assert sum(a["arrivals"] for a in report["scans"]["arrivals_per_15_minutes"]) >= 2
    assert {(g["name"], g["in"], g["out"]) for g in report["gates"]} == {
        ("North door", 3, 2),
        ("Inner door", 1, 0),
    }
    assert all(z["peak_inside"] >= 1 and z["peak_at"] for z in report["zones"])
    times = report["incidents"]["times_by_category"]
    assert times["medical"]["median_minutes_to_resolve"] is not None
    assert times["power"]["median_minutes_to_acknowledge"] is not None
    assert [s["issued"] for s in report["stock"]] == [2]
    assert drill_report["accounted"] == 1 and drill_report["seconds_to"]["100"] is not None
    assert all(len(rows) > 1 for rows in exports.values())

    await organiser.post(f"{base}/shred", {"confirm": True}, expect=200)

    assert await organiser.get(f"{base}/report") == report
    assert await organiser.get(f"/api/v1/evacuations/{drill['id']}/report") == drill_report
    revoked_after = await organiser.get(f"/api/v1/tickets/{revoked['id']}")
    assert revoked_after["status"] == "revoked" and revoked_after["holder_name"] == ""
    for name, personal in PERSONAL_COLUMNS.items():
        before, after = exports[name], await _export(organiser, base, name)
        assert len(after) == len(before), name
        header = before[0]
        kept = [i for i, column in enumerate(header) if column not in personal]
        assert [[r[i] for i in kept] for r in after] == [[r[i] for i in kept] for r in before]
        text = "\n".join(",".join(r) for r in after)
        assert [v for v in [*SEEDED, REVOKED_HOLDER] if v.casefold() in text.casefold()] == []


async def _export(organiser: Api, base: str, name: str) -> list[list[str]]:
    response = await organiser.get(f"{base}/exports/{name}.csv")
    return list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
