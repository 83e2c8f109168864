"""A shift started on the phone brings the broadcasts of its zone, in real
Chromium against a real server: the hub reads a phone's zone at its socket's
hello, so after the tap the phone drops its socket and opens it again
(pwa/app/duty.js, a little after the hub's HELLO_FACTS_SECONDS); a broadcast
to the new zone then arrives on the new socket and takes the screen."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.staff_app import PHONE, SYNC_TIMEOUT_MS, set_up_venue
from tests.servers import LiveServer

pytestmark = pytest.mark.browser


def test_a_shift_started_on_the_phone_reopens_its_socket_for_its_new_zone(
    live_server: LiveServer, browser: Any
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · zone", tickets=0)
    with live_server.api() as api:
        hall_b = api.post(f"{venue.base}/zones", json={"name": "B 厅"}).json()
        member = api.post(
            f"{venue.base}/staff",
            json={"name": "周杰", "team": "物资", "role": "staff", "zone": venue.zone["id"]},
        ).json()
        made = api.post(f"/api/v1/staff/{member['id']}/pairing-codes", json={}).json()
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(made["pairing_url"])
    page.wait_for_selector("#online[data-state=online]")
    page.wait_for_function("() => window.musterApp.live && window.musterApp.live.live")
    page.evaluate("() => { window.helloSocket = window.musterApp.live.socket; }")

    # The organiser moves 周杰 to hall B after the phone's hello; he starts his shift there.
    with live_server.api() as api:
        moved = api.patch(f"/api/v1/staff/{member['id']}", json={"zone": hall_b["id"]})
        assert moved.status_code == 200, moved.text
    page.click("#tabs button[data-view=device]")
    page.click("#duty-toggle")
    page.wait_for_selector("#duty-state[data-on-duty=true]", timeout=SYNC_TIMEOUT_MS)
    with live_server.api() as api:
        [listed] = api.get(f"{venue.base}/staff").json()["staff"]
    assert listed["duty"]["zone"] == hall_b["id"]

    # The socket is opened again; a broadcast to hall B arrives on it.
    page.wait_for_function(
        "() => window.musterApp.live.live && window.musterApp.live.socket !== window.helloSocket",
        timeout=SYNC_TIMEOUT_MS,
    )
    with live_server.api() as api:
        sent = api.post(
            f"{venue.base}/broadcasts",
            json={
                "text_zh": "B 厅需要补水。",
                "text_en": "Hall B needs water.",
                "priority": "urgent",
                "audience": {"zones": [hall_b["id"]]},
            },
        )
        assert sent.status_code == 201, sent.text
    urgent = page.locator("#broadcast-urgent")
    urgent.wait_for(state="visible", timeout=SYNC_TIMEOUT_MS)
    expect(urgent).to_contain_text("B 厅需要补水。")
    assert errors == []
    context.close()
