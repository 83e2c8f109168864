"""A drill end to end in real Chromium against a real ``muster serve``: started
from the command centre (1920×1080) → a paired staff phone shows it full-screen
→ badges scanned at the assembly point in the phone's muster mode, one while the
phone is offline → the command centre's missing list shrinks to the one person
never scanned (with the last gate and the contact) → the all-clear from the
command centre takes both screens back → the report (times, points) and its CSV.

Screenshots in zh-CN and en: ``test-artifacts/command-evacuation-*.png``.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from server.features.export_words import catalogue
from tests.browser.staff_app import (
    SYNC_TIMEOUT_MS,
    add_muster_point,
    admit_everyone,
    device_token,
    muster_scan,
    open_paired_phone,
    set_up_venue,
)
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

SCREEN = {"width": 1920, "height": 1080}
#: How long a change may take to reach a screen on a shared, busy machine.
SHOWN_MS = 10_000


def missing_names(page: Any) -> list[str]:
    names: list[str] = page.eval_on_selector_all(
        "#evac-missing-list tr[data-person] .evac-person-name",
        "cells => cells.map(c => c.textContent)",
    )
    return names


@pytest.mark.parametrize("locale", ["zh-CN", "en-GB"])
def test_drill_from_the_command_centre(
    live_server: LiveServer, browser: Any, artifacts: Path, locale: str
) -> None:
    tag = "zh" if locale == "zh-CN" else "en"
    venue = set_up_venue(live_server, f"春季展会 Spring fair {tag}", tickets=4)
    add_muster_point(live_server, venue, "P1 东停车场 East car park", "旗杆下 under the flagpole")
    admit_everyone(live_server, venue)
    a, b, c, d = venue.tickets

    screen_context = browser.new_context(viewport=SCREEN, locale=locale)
    screen = screen_context.new_page()
    errors: list[str] = []
    screen.on("pageerror", lambda exc: errors.append(str(exc)))
    token = device_token(live_server, venue, "command")
    screen.goto(f"{live_server.base_url}/command/#token={token}&event={venue.event['id']}")
    expect(screen.locator("#connection")).to_have_attribute("data-state", "live", timeout=SHOWN_MS)
    expect(screen.locator("#dashboard")).to_be_visible()
    expect(screen.locator("#evac-view")).to_be_hidden()

    phone_context, phone = open_paired_phone(
        browser, live_server, venue, role="staff", locale=locale
    )
    phone.on("pageerror", lambda exc: errors.append(f"phone: {exc}"))

    # Started on the command centre.
    screen.click("#evac-start")
    screen.fill("#evac-message-input", "演练：请从东门撤离 / Drill: leave by the east door")
    screen.click("#evac-start-ok")
    expect(screen.locator("#evac-view")).to_be_visible(timeout=SHOWN_MS)
    expect(screen.locator("#dashboard")).to_be_hidden()
    expect(screen.locator("#evac-total")).to_have_text("4")
    expect(screen.locator("#evac-missing")).to_have_text("4")
    expect(screen.locator("#evac-missing-list tr[data-person]")).to_have_count(4, timeout=SHOWN_MS)
    assert "east door" in screen.inner_text("#evac-text")
    # Its times read in the event's zone (Shanghai), like the page's clock,
    # whatever the screen's own zone (UTC here).
    [running] = (
        live_server.api()
        .get(f"/api/v1/events/{venue.event['id']}/evacuations")
        .json()["evacuations"]
    )
    shanghai = datetime.fromisoformat(running["started_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert shanghai.strftime("%H:%M") in screen.inner_text("#evac-since")
    # Last seen: at their admission, just before the start (the minute may have turned).
    seen = screen.inner_text("#evac-missing-list")
    assert any((shanghai - timedelta(minutes=m)).strftime("%H:%M") in seen for m in (0, 1)), seen

    # A phone shows it.
    phone.locator("#evacuation").wait_for(state="visible", timeout=SHOWN_MS)
    assert "P1" in phone.inner_text("#evac-point")
    phone.wait_for_function("() => document.querySelectorAll('#evac-people li').length === 4")

    # Badges scanned at the point, one while the phone is offline.
    muster_scan(phone, a["secret"])
    expect(screen.locator("#evac-accounted")).to_have_text("1", timeout=SHOWN_MS)
    expect(screen.locator("#evac-points li[data-point] .evac-point-count")).to_have_text("1")
    phone_context.set_offline(True)
    muster_scan(phone, b["secret"])
    phone.wait_for_function("() => document.querySelector('#evac-queue').dataset.n === '1'")
    expect(screen.locator("#evac-missing-list tr[data-person]")).to_have_count(3, timeout=SHOWN_MS)
    screen.screenshot(path=str(artifacts / f"command-evacuation-{tag}-running.png"))
    phone_context.set_offline(False)
    muster_scan(phone, c["secret"])
    phone.wait_for_function(
        "() => document.querySelector('#evac-queue').dataset.n === '0'", timeout=SYNC_TIMEOUT_MS
    )

    # The missing list shrinks to the one never scanned, with where and how to reach them.
    # (the list is read again within MISSING_REFRESH_MS even if an update is missed)
    expect(screen.locator("#evac-missing-list tr[data-person]")).to_have_count(
        1, timeout=2 * SHOWN_MS
    )
    assert missing_names(screen) == [d["holder_name"]]
    row = screen.inner_text("#evac-missing-list tr[data-person]")
    assert venue.gate["name"] in row
    assert d["holder_email"] in row
    expect(screen.locator("#evac-accounted")).to_have_text("3")
    expect(screen.locator("#evac-missing")).to_have_text("1")
    expect(screen.locator("#evac-share")).to_have_text("75%")
    screen.screenshot(path=str(artifacts / f"command-evacuation-{tag}-one-missing.png"))

    # All-clear from the command centre: both screens go back.
    screen.click("#evac-clear")
    screen.click("#evac-clear-ok")
    expect(screen.locator("#evac-view")).to_be_hidden(timeout=SHOWN_MS)
    phone.locator("#evacuation").wait_for(state="hidden", timeout=SHOWN_MS)

    # The report: figures, times, the point; the CSV of the roll.
    report = screen.locator("#evac-report")
    expect(report).to_be_visible(timeout=SHOWN_MS)
    figures = screen.inner_text("#evac-report-figures")
    assert "3" in figures and "4" in figures and "1" in figures, figures
    body = screen.inner_text("#evac-report-body")
    assert "P1" in body and d["holder_name"] in body and "null" not in body, body
    assert screen.inner_text(".evac-report-missing") == d["holder_name"]
    screen.screenshot(path=str(artifacts / f"command-evacuation-{tag}-report.png"))
    with screen.expect_download() as download:
        screen.click("#evac-report-csv")
    rows = list(
        csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig")))
    )
    # In the page's language (?lang=): its headers and the states' words.
    words = catalogue("zh" if locale == "zh-CN" else "en")
    name, status = words.header("name"), words.header("status")
    safe, missing = (words.value("roll_status", s) for s in ("safe", "missing"))
    assert {r[name]: r[status] for r in rows} == {
        a["holder_name"]: safe,
        b["holder_name"]: safe,
        c["holder_name"]: safe,
        d["holder_name"]: missing,
    }
    screen.click("#evac-report .dialog-header button")
    expect(screen.locator("#dashboard")).to_be_visible()
    expect(screen.locator("#evac-start")).to_be_visible()
    assert errors == []
    phone_context.close()
    screen_context.close()
