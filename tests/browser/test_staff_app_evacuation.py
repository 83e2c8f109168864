"""An evacuation on the staff phone, in real Chromium against a real server: a drill
started on the server shows full-screen on a paired phone at once (point, map note,
plan); badges scanned in the muster mode (one while the phone is offline, queued
and sent later) and a name found in the list leave only the person never scanned
missing; the all-clear takes the screen away. Screenshots in zh-CN and en:
``test-artifacts/staff-app-evacuation-*.png`` (390×844)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.staff_app import (
    SYNC_TIMEOUT_MS,
    add_muster_point,
    admit_everyone,
    muster_scan,
    open_paired_phone,
    set_up_venue,
    shot,
)
from tests.servers import LiveServer

pytestmark = pytest.mark.browser


def wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the server never saw it"
        time.sleep(0.1)


def missing(live: LiveServer, evacuation_id: int) -> list[str]:
    with live.api() as api:
        found = api.get(f"/api/v1/evacuations/{evacuation_id}/missing").json()
    return [p["name"] for p in found["people"]]


@pytest.mark.parametrize("locale", ["zh-CN", "en-GB"])
def test_drill_on_the_phone(
    live_server: LiveServer, browser: Any, artifacts: Path, locale: str
) -> None:
    venue = set_up_venue(live_server, f"疏散演练 drill {locale}", tickets=4)
    add_muster_point(live_server, venue, "P1 停车场 car park", "东侧旗杆 by the flag")
    admit_everyone(live_server, venue)
    context, page = open_paired_phone(browser, live_server, venue, role="staff", locale=locale)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    assert page.locator("#evacuation").is_hidden()

    with live_server.api() as api:
        started = api.post(
            f"{venue.base}/evacuations",
            json={
                "kind": "drill",
                "message": "演练：请从北门撤离 / Drill: leave by the north door",
                "plan": "1. 保持冷静 Stay calm\n2. 前往 P1 Go to P1",
            },
        ).json()
    page.locator("#evacuation").wait_for(state="visible", timeout=10_000)
    assert "P1" in page.inner_text("#evac-point")
    assert "旗杆" in page.inner_text("#evac-point-note")
    assert "Stay calm" in page.inner_text("#evac-plan")
    page.wait_for_function("() => document.querySelectorAll('#evac-people li').length === 4")
    # The start reads in the event's zone (Shanghai), not the phone's (UTC here).
    shanghai = datetime.fromisoformat(started["started_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    page.wait_for_function(
        "(time) => document.querySelector('#evac-figures').textContent.includes(time)",
        arg=shanghai.strftime("%H:%M"),
    )
    tag = "zh" if locale == "zh-CN" else "en"
    shot(page, artifacts, f"evacuation-{tag}-start")

    a, b, c, d = venue.tickets
    # Each holder shows their printed code (two people of one name are told
    # apart), and a code typed in the search finds its holder.
    codes = page.eval_on_selector_all(
        "#evac-people .evac-code", "els => els.map(e => e.textContent)"
    )
    assert sorted(codes) == sorted(t["code"] for t in venue.tickets), codes
    page.fill("#evac-search", d["code"].lower())
    page.wait_for_function("() => document.querySelectorAll('#evac-people li').length === 1")
    assert d["holder_name"] in page.inner_text("#evac-people li")
    page.fill("#evac-search", "")
    muster_scan(page, a["secret"])
    # The first badge reaches the server before the network goes: a send still in
    # flight when the phone goes offline stays queued, and the queue would hold two.
    wait_until(lambda: a["holder_name"] not in missing(live_server, started["id"]))
    context.set_offline(True)
    muster_scan(page, b["secret"])  # queued on the phone
    page.wait_for_function("() => document.querySelector('#evac-queue').dataset.n === '1'")
    page.fill("#evac-search", c["holder_name"])  # found by name, marked safe
    page.wait_for_function("() => document.querySelectorAll('#evac-people li').length === 1")
    page.locator("#evac-people li .evac-safe").click()
    shot(page, artifacts, f"evacuation-{tag}-offline")
    context.set_offline(False)
    page.wait_for_function(
        "() => document.querySelector('#evac-queue').dataset.n === '0'", timeout=SYNC_TIMEOUT_MS
    )
    page.fill("#evac-search", "")
    remaining = missing(live_server, started["id"])
    assert remaining == [d["holder_name"]], remaining
    page.wait_for_function(
        "() => document.querySelector('#evac-figures').textContent.includes('3 / 4')",
        timeout=10_000,
    )
    shot(page, artifacts, f"evacuation-{tag}-accounted")

    with live_server.api() as api:
        api.post(f"/api/v1/evacuations/{started['id']}/all-clear").raise_for_status()
    page.locator("#evacuation").wait_for(state="hidden", timeout=10_000)
    assert errors == []
    context.close()
