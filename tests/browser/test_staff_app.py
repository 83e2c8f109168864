"""The staff phone app in Chromium at phone size (390 × 844): pairing, the
door scanner with a keyboard-wedge scanner, undo, lookup, and the language
switch. Screenshots go to ``test-artifacts/staff-app-*.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.staff_app import (
    PHONE,
    answer,
    headcount_inside,
    open_paired_phone,
    pairing_url,
    set_up_venue,
    shot,
    wedge,
)
from tests.servers import LiveServer

pytestmark = pytest.mark.browser


def test_pairing_by_link(live_server: LiveServer, browser: Any, artifacts: Path) -> None:
    venue = set_up_venue(live_server, "新品发布会 · pairing", tickets=1)
    url = pairing_url(live_server, venue, "door")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function("() => window.musterApp && window.musterApp.book.ready")
    assert "pair=" not in page.url  # the code left the address bar
    device = page.evaluate("JSON.parse(localStorage.getItem('muster.device'))")
    assert device["role"] == "door"
    assert device["event"]["id"] == venue.event["id"]
    assert device["gate"]["id"] == venue.gate["id"]
    page.wait_for_selector("#view-scan", state="visible")
    assert page.inner_text("#gate-name").endswith("北门 North")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    shot(page, artifacts, "01-paired-door")

    # The organiser sees the phone; its token works.
    with live_server.api() as api:
        devices = api.get(f"{venue.base}/devices").json()["devices"]
    assert [(d["role"], d["gate"]) for d in devices] == [("door", venue.gate["id"])]

    # The same link on a second phone: the code was used (told apart from an
    # unknown code nowhere, so that guessing learns nothing: issue 13.3).
    other = browser.new_context(viewport=PHONE, locale="en-GB")
    second = other.new_page()
    second.goto(url)
    second.wait_for_selector("#pair-message.bad")
    assert "unknown, used or expired" in second.inner_text("#pair-message")
    assert second.evaluate("localStorage.getItem('muster.device')") is None
    shot(second, artifacts, "02-code-used")
    other.close()
    context.close()
    assert errors == []


def test_wedge_scan_undo_and_lookup(live_server: LiveServer, browser: Any, artifacts: Path) -> None:
    venue = set_up_venue(live_server, "新品发布会 · door", tickets=3)
    context, page = open_paired_phone(browser, live_server, venue, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    first, second = venue.tickets[0], venue.tickets[1]

    # The wedge field has the focus: a hardware scanner just types.
    assert page.evaluate("document.activeElement.id") == "wedge"
    page.keyboard.type(first["secret"])
    page.keyboard.press("Enter")
    ok = answer(page, artifacts, "03-admitted")
    assert ok["status"] == "ok" and ok["name"] == "王伟" and ok["word"] == "请进"
    assert headcount_inside(live_server, venue) == 1

    wedge(page, first["secret"])
    again = answer(page, artifacts, "04-already-inside")
    assert again["status"] == "error" and again["reason"] == "already_inside"
    assert again["why"].startswith("已在主会场 Hall A内（")  # where, since when, through which door
    assert page.evaluate("document.activeElement.id") == "wedge"  # still ready for the next

    wedge(page, "NOT-A-TICKET")
    assert answer(page)["reason"] == "invalid"

    # Undo the last accepted scan.
    wedge(page, second["secret"])
    assert answer(page)["status"] == "ok"
    assert headcount_inside(live_server, venue) == 2
    page.click("#undo")
    page.wait_for_function(
        "() => document.querySelector('#camera-message').textContent === '已撤销'"
    )
    assert headcount_inside(live_server, venue) == 1

    # Out, then in again (re-entry is allowed by the default ticket type).
    page.click("#direction [data-direction=out]")
    wedge(page, first["secret"])
    out = answer(page)
    assert out["status"] == "ok" and out["word"] == "已出场"
    assert headcount_inside(live_server, venue) == 0
    page.click("#direction [data-direction=in]")

    # Lookup by name, and admit from the result.
    page.fill("#lookup", "李娜")
    page.click("#lookup-form button[type=submit]")
    page.wait_for_selector("#lookup-results li button")
    shot(page, artifacts, "05-lookup")
    page.click("#lookup-results li button")
    assert answer(page)["name"] == "李娜"
    assert headcount_inside(live_server, venue) == 1

    # English, switched by hand.
    page.click("#lang")
    assert page.inner_text("#direction [data-direction=in]") == "In"
    wedge(page, second["secret"])
    assert answer(page)["why"].startswith("Already inside 主会场 Hall A since ")
    shot(page, artifacts, "06-english")
    context.close()
    assert errors == []
