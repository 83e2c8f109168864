"""The console's personal-data section in Chromium against a real ``muster
serve`` (issue 21): the reminder as the shred nears, the policy edited, one
attendee found, their data downloaded as JSON and CSV and erased after the
code is typed, the archive downloaded, the shred run by hand after the
event's name is typed (in Chinese), and the audit trail — each step checked
through the API and screenshotted at 1440 × 900.

On SQLite and PostgreSQL; the server's retention clock is off
(``MUSTER_RETENTION_CHECK_INTERVAL=0``) so that only the console shreds the
event.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import postgres_server
from tests.servers import LiveServer, start_server

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1440, "height": 900}
EVENT_NAME = "新品发布会 Launch"
HOLDERS = [
    ("欧阳娜娜", "nana.ouyang@example.com"),
    ("Margarethe Quist", "mquist@example.org"),
    ("司马光耀", "guangyao@example.cn"),
]
INCIDENT_TEXT = "欧阳娜娜 fainted near the stage"


#: The server's retention clock off: only the console shreds the event.
CLOCK_OFF = {"MUSTER_RETENTION_CHECK_INTERVAL": "0"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``muster serve`` with its clock off, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        server = start_server(tmp_path_factory.mktemp("live"), CLOCK_OFF)
        yield server
        server.stop()
        return
    yield from postgres_server(tmp_path_factory, CLOCK_OFF)


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> dict[str, Any]:
    """An event that ended two days ago, kept five days: the shred is 3 days away."""
    ended = datetime.now(UTC) - timedelta(days=2)
    with live_server.api() as api:
        event = api.post(
            "/api/v1/events",
            json={
                "name": EVENT_NAME,
                "starts_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                "ends_at": (datetime.now(UTC) + timedelta(hours=8)).isoformat(),
                "timezone": "Asia/Shanghai",
            },
        ).json()
        base = f"/api/v1/events/{event['id']}"
        zone = api.post(f"{base}/zones", json={"name": "Hall A", "capacity": 100}).json()
        gate = api.post(
            f"{base}/gates", json={"name": "North door", "from_zone": None, "to_zone": zone["id"]}
        ).json()
        tickets = api.post(
            f"{base}/tickets",
            json={"tickets": [{"holder_name": n, "holder_email": e} for n, e in HOLDERS]},
        ).json()["tickets"]
        for ticket in tickets[:2]:
            answer = api.post(
                f"{base}/scans",
                json={
                    "secret": ticket["secret"],
                    "gate": gate["id"],
                    "direction": "in",
                    "nonce": uuid.uuid4().hex,
                    "scanned_at": datetime.now(UTC).isoformat(),
                },
            ).json()
            assert answer["status"] == "ok", answer
        incident = api.post(
            f"{base}/incidents",
            json={
                "category": "medical",
                "severity": "P2",
                "title": "unwell",
                "description": INCIDENT_TEXT,
                "nonce": uuid.uuid4().hex,
            },
        )
        assert incident.status_code == 201, incident.text
        # Then the day is moved back: it ended two days ago.
        api.patch(
            base,
            json={
                "starts_at": (ended - timedelta(hours=9)).isoformat(),
                "ends_at": ended.isoformat(),
                "retention_days": 5,
            },
        ).raise_for_status()
    return {"event": event, "tickets": tickets, "gate": gate}


def open_console(live_server: LiveServer, browser: Any, locale: str) -> Any:
    context = browser.new_context(viewport=LAPTOP, locale=locale, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    page.wait_for_selector("#event-list")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"console-retention-{name}.png"), full_page=False)


def downloaded(page: Any, click: Any) -> bytes:
    with page.expect_download() as info:
        click()
    path = info.value.path()
    return Path(path).read_bytes()


def answer_dialog(page: Any, text: str) -> None:
    dialog = page.locator("dialog.ask")
    dialog.wait_for()
    dialog.locator("input[name=answer]").fill(text)
    dialog.locator("button[value=ok]").click()
    dialog.wait_for(state="detached")


def test_reminder_policy_one_attendee_archive_and_shred(
    live_server: LiveServer, browser: Any, seeded: dict[str, Any], artifacts: Path
) -> None:
    eid = seeded["event"]["id"]
    with live_server.api() as api:
        report_before = api.get(f"/api/v1/events/{eid}/report").json()
    page = open_console(live_server, browser, "en-GB")

    # Three days before the shred, the event list and every section of the event remind.
    page.goto(f"{live_server.base_url}/console/")
    pill = page.locator(f"#event-list tr[data-event='{eid}'] .retention-pill")
    pill.wait_for()
    assert (pill.get_attribute("data-retention"), pill.inner_text()) == (
        "soon",
        "personal data deleted in 3 days",
    )
    page.goto(f"{live_server.base_url}/console/#event={eid}")
    reminder = page.locator("#retention-reminder")
    reminder.wait_for()
    assert reminder.get_attribute("data-state") == "soon"
    assert "(in 3 days)" in reminder.inner_text()
    shot(page, artifacts, "reminder-en")
    page.goto(f"{live_server.base_url}/console/#event={eid}&tab=venue")
    page.locator("#retention-reminder").wait_for()
    page.locator("#retention-reminder a").click()
    page.wait_for_selector("#retention-policy")
    assert page.locator("#retention-reminder").count() == 0  # the section says it itself
    assert page.locator("#retention-due").get_attribute("data-state") == "soon"

    # The policy: one day after the end is already past, so the shred is due.
    page.fill("#retention-form input[name=retention_days]", "1")
    page.click("#retention-form button[type=submit]")
    page.wait_for_selector("#retention-due[data-state=due]")
    with live_server.api() as api:
        assert api.get(f"/api/v1/events/{eid}").json()["retention_days"] == 1
    shot(page, artifacts, "policy-due-en")

    # One attendee: found, their data downloaded as JSON and CSV.
    page.fill("#person-search input[name=q]", "Margarethe")
    page.click("#person-search button[type=submit]")
    row = page.locator("#person-table tbody tr")
    row.wait_for()
    assert row.count() == 1
    quist = seeded["tickets"][1]
    assert row.get_attribute("data-ticket") == str(quist["id"])
    record = json.loads(downloaded(page, lambda: row.locator("[data-action=json]").click()))
    assert record["ticket"]["holder_email"] == "mquist@example.org"
    assert [(s["gate_name"], s["status"]) for s in record["scans"]] == [("North door", "ok")]
    text = downloaded(page, lambda: row.locator("[data-action=csv]").click()).decode("utf-8-sig")
    cells = [r for r in csv.reader(io.StringIO(text))]
    assert ["Ticket", "1", "Holder", "Margarethe Quist"] in cells  # the page's language
    shot(page, artifacts, "person-en")

    # Erased only once the printed code is typed.
    row.locator("[data-action=erase]").click()
    answer_dialog(page, "WRONG")
    page.locator(".toast.bad").wait_for()
    with live_server.api() as api:
        assert (
            api.get(f"/api/v1/tickets/{quist['id']}/personal-data").json()["ticket"]["holder_name"]
            == "Margarethe Quist"
        )
    row.locator("[data-action=erase]").click()
    page.locator("dialog.ask").wait_for()
    shot(page, artifacts, "erase-dialog-en")
    answer_dialog(page, quist["code"].lower())
    row.locator(".pill.retired").wait_for()
    with live_server.api() as api:
        held = api.get(f"/api/v1/tickets/{quist['id']}/personal-data").json()["ticket"]
    assert (held["holder_name"], held["holder_email"], held["status"]) == ("", "", "retired")

    # The archive of everything the shred will remove.
    archive = downloaded(page, lambda: page.click("#retention-archive"))
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        names = zipped.namelist()
        everything = "".join(zipped.read(n).decode("utf-8-sig") for n in names)
    assert any(n.startswith("tickets") for n in names), names
    assert "欧阳娜娜" in everything and "司马光耀" in everything

    # The audit trail: who and when, no personal data.
    page.reload()
    audit = page.locator("#audit-table")
    audit.wait_for()
    actions = audit.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.action)")
    assert actions[:3] == ["personal_data_archive", "personal_data_export", "erase"]
    # The JSON, the CSV, and this test's two looks through the API.
    assert actions.count("personal_data_export") == 4
    audit_text = audit.inner_text()
    assert not any(v in audit_text for pair in HOLDERS for v in pair)
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()

    # In Chinese: the shred by hand, once the event's name is typed.
    page = open_console(live_server, browser, "zh-CN")
    page.goto(f"{live_server.base_url}/console/#event={eid}&tab=retention")
    page.wait_for_selector("#retention-shred")
    assert "删除" in page.locator("#retention-due").inner_text()
    shot(page, artifacts, "due-zh")
    page.click("#retention-shred")
    answer_dialog(page, "发布会")
    page.locator(".toast.bad").wait_for()
    with live_server.api() as api:
        assert api.get(f"/api/v1/events/{eid}").json()["shredded_at"] is None
    page.click("#retention-shred")
    page.locator("dialog.ask").wait_for()
    shot(page, artifacts, "shred-dialog-zh")
    answer_dialog(page, EVENT_NAME)
    page.wait_for_selector("#retention-due.done")
    assert page.locator("#retention-shred").count() == 0
    assert page.locator("#retention-form").count() == 0
    assert page.locator("#audit-table tbody tr").first.get_attribute("data-action") == "shred"
    shot(page, artifacts, "shredded-zh")

    with live_server.api() as api:
        assert api.get(f"/api/v1/events/{eid}").json()["shredded_at"] is not None
        assert api.get(f"/api/v1/events/{eid}/report").json() == report_before
        for name, _email in HOLDERS:
            found = api.get(f"/api/v1/events/{eid}/tickets", params={"q": name}).json()
            assert found["tickets"] == []
    # After the shred nobody is left to find, and no reminder is shown.
    page.fill("#person-search input[name=q]", "欧阳")
    page.click("#person-search button[type=submit]")
    page.locator("#person-results .empty").wait_for()
    page.goto(f"{live_server.base_url}/console/#event={eid}")
    page.wait_for_selector("#checkin-figures")
    assert page.locator("#retention-reminder").count() == 0
    page.goto(f"{live_server.base_url}/console/")
    pill = page.locator(f"#event-list tr[data-event='{eid}'] .retention-pill")
    pill.wait_for()
    assert (pill.get_attribute("data-retention"), pill.inner_text()) == ("done", "个人数据已删除")
    shot(page, artifacts, "event-list-zh")
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()
