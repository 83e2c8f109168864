"""The rest of the console in Chromium, checked through the API: signing in
by pasting a token (a wrong one is refused in place), editing the event,
stock items and thresholds, incident categories and emergency plans, and
the post-event review with its exports.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.servers import LiveServer

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1440, "height": 900}
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: The event runs today in Shanghai, so its tickets are valid at the door now.
TODAY = datetime.now(SHANGHAI).date().isoformat()


@pytest.fixture(scope="module")
def event(live_server: LiveServer) -> dict[str, Any]:
    """An event where one guest has come in through the north door."""
    with live_server.api() as api:
        event = api.post(
            "/api/v1/events",
            json={
                "name": "渠道大会 Partner Summit",
                "starts_at": f"{TODAY}T00:00:00+08:00",
                "ends_at": f"{TODAY}T23:00:00+08:00",
                "timezone": "Asia/Shanghai",
            },
        ).json()
        base = f"/api/v1/events/{event['id']}"
        zone = api.post(f"{base}/zones", json={"name": "Main hall", "capacity": 300}).json()
        gate = api.post(f"{base}/gates", json={"name": "North door", "to_zone": zone["id"]}).json()
        ticket = api.post(f"{base}/tickets", json={"holder_name": "赵敏"}).json()
        scan = api.post(
            f"{base}/scans",
            json={
                "secret": ticket["secret"],
                "gate": gate["id"],
                "direction": "in",
                "nonce": uuid.uuid4().hex,
                "scanned_at": datetime.now(SHANGHAI).isoformat(),
            },
        )
        assert scan.json()["status"] == "ok", scan.text
    return dict(event)


def open_console(browser: Any, live_server: LiveServer, locale: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport=LAPTOP, locale=locale, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def test_sign_in_by_pasting_a_token(live_server: LiveServer, browser: Any, artifacts: Path) -> None:
    context, page, errors = open_console(browser, live_server, "zh-CN")
    # The landing page links to the three pages, in the browser's language.
    page.goto(f"{live_server.base_url}/")
    assert page.inner_text("#to-console h2") == "组织者控制台"
    hrefs = [page.get_attribute(f"#to-{name}", "href") for name in ("console", "command", "app")]
    assert hrefs == ["/console/", "/command/", "/app/"]
    page.click("#to-console")
    page.fill("#signin-form [name=token]", "mst_not-a-real-token")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-form .form-error:not(.hidden)")
    assert "令牌无效" in page.inner_text("#signin-form .form-error")
    assert page.evaluate("localStorage.getItem('muster.console.token')") is None
    page.screenshot(path=str(artifacts / "console-signin-refused.png"))

    page.fill("#signin-form [name=token]", live_server.token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#event-create")
    assert page.evaluate("localStorage.getItem('muster.console.token')") == live_server.token
    assert errors == []
    context.close()


def test_event_stock_categories_and_plans(
    live_server: LiveServer, browser: Any, event: dict[str, Any], artifacts: Path
) -> None:
    context, page, errors = open_console(browser, live_server, "en-GB")
    base = f"/api/v1/events/{event['id']}"
    api = live_server.api()
    page.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    page.click(f"#event-list tr[data-event='{event['id']}'] a")

    # Edit the event: a new name and a later end, read in the event's own zone.
    page.wait_for_selector("#event-edit")
    assert page.input_value("#event-edit [name=starts_at]") == f"{TODAY}T00:00"
    page.fill("#event-edit [name=name]", "渠道大会 2026")
    page.fill("#event-edit [name=ends_at]", f"{TODAY}T23:30")
    page.click("#event-edit button[type=submit]")
    page.wait_for_selector("h1:has-text('渠道大会 2026')")
    edited = api.get(base).json()
    assert edited["name"] == "渠道大会 2026"
    assert edited["ends_at"] == f"{TODAY}T15:30:00+00:00"

    # Stock: an item with thresholds; a critical level above the low one is refused beside the row.
    page.click("#sidebar a[data-tab=stock]")
    new_item = page.locator("#stock form.item.new")
    new_item.locator("[name=name]").fill("Gift bags 礼品袋")
    new_item.locator("[name=location]").fill("B1 store")
    new_item.locator("[name=quantity]").fill("120")
    new_item.locator("[name=low_threshold]").fill("10")
    new_item.locator("[name=critical_threshold]").fill("30")
    new_item.locator("button[type=submit]").click()
    new_item.locator(".form-error").wait_for()
    assert api.get(f"{base}/stock/items").json()["items"] == []
    new_item.locator("[name=low_threshold]").fill("40")
    new_item.locator("button[type=submit]").click()
    item_row = page.locator("#stock form.item[data-item]")
    item_row.wait_for()
    [item] = api.get(f"{base}/stock/items").json()["items"]
    assert (item["quantity"], item["low_threshold"], item["critical_threshold"]) == (120, 40, 30)

    # A delivery is booked as a movement.
    item_row.locator("button", has_text="Receive").click()
    page.fill("dialog.ask [name=answer]", "50")
    page.click("dialog.ask button.primary")
    page.wait_for_selector("#stock form.item[data-item] .qty:has-text('170')")
    assert api.get(f"{base}/stock/items").json()["items"][0]["quantity"] == 170
    page.screenshot(path=str(artifacts / "console-stock-en.png"))

    # Incident categories: each named in Chinese and English (the keys stay
    # internal); add one of our own.
    page.click("#sidebar a[data-tab=plans]")
    page.wait_for_selector("#categories-form")
    assert page.locator("#categories-form [name=label_zh]").count() == 8
    medical_row = page.locator("#categories-form .item.category[data-key=medical]")
    assert medical_row.locator("[name=label_zh]").input_value() == "医疗"
    assert medical_row.locator("[name=label_en]").input_value() == "Medical"
    page.click("#category-add")
    page.locator("#categories-form [name=label_zh]").last.fill("餐饮")
    page.locator("#categories-form [name=label_en]").last.fill("Catering")
    page.click("#categories-form button[type=submit]")
    page.wait_for_selector("#plans details[data-category=catering]")
    options = api.get(base).json()["options"]
    assert options["incident_categories"][0] == "equipment_failure"
    assert options["incident_categories"][-1] == "catering"
    assert options["category_labels"]["catering"] == {"zh": "餐饮", "en": "Catering"}
    assert page.inner_text("#plans details[data-category=catering] summary strong") == "Catering"
    page.screenshot(path=str(artifacts / "console-categories-en.png"))

    # An emergency plan for medical calls, in Markdown, both languages.
    medical = page.locator("#plans details[data-category=medical]")
    medical.locator("summary").click()
    medical.locator("[name=title_zh]").fill("医疗急救")
    medical.locator("[name=title_en]").fill("Medical emergency")
    medical.locator("[name=steps_zh]").fill("1. 呼叫现场医护\n2. 保持通道畅通")
    medical.locator("[name=steps_en]").fill("1. Call the **first-aid** team\n2. Keep the way clear")
    # Confirmed by security and tech only (none ticked: everyone).
    medical.get_by_label("Security").check()
    medical.get_by_label("Tech").check()
    assert medical.locator(".plan-preview ol li").count() == 2
    assert medical.locator(".plan-preview strong").inner_text() == "first-aid"
    page.screenshot(path=str(artifacts / "console-plans-en.png"))
    medical.locator("button[type=submit]").click()
    page.wait_for_selector("#plans details[data-category=medical] .pill.ok")
    [plan] = api.get(f"{base}/plans").json()["plans"]
    assert plan["category"] == "medical"
    assert plan["title"] == {"zh": "医疗急救", "en": "Medical emergency"}
    assert plan["steps"]["en"].startswith("1. Call the **first-aid** team")
    assert plan["teams"] == ["security", "tech"]

    # Editing it changes the same plan.
    medical = page.locator("#plans details[data-category=medical]")
    medical.locator("summary").click()
    medical.locator("[name=steps_zh]").fill("1. 呼叫现场医护 120\n2. 保持通道畅通")
    medical.locator("button[type=submit]").click()
    # "Saved" is already on the page from the first save: wait for the server.
    deadline = time.monotonic() + 10
    while True:
        [plan] = api.get(f"{base}/plans").json()["plans"]
        if "120" in plan["steps"]["zh"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "120" in plan["steps"]["zh"]

    assert errors == []
    context.close()


def test_post_event_review(
    live_server: LiveServer, browser: Any, event: dict[str, Any], artifacts: Path
) -> None:
    context, page, errors = open_console(browser, live_server, "zh-CN")
    page.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    page.wait_for_selector("#event-list")
    page.goto(f"{live_server.base_url}/console/#event={event['id']}")
    page.click("#link-review")
    page.wait_for_selector("#review-figures")
    figures = page.inner_text("#review-figures")
    assert "1\n已到场" in figures
    assert page.locator("svg.arrivals rect").count() >= 1
    page.screenshot(path=str(artifacts / "console-review-zh.png"), full_page=True)

    with page.expect_download() as info:
        page.click("#exports button >> nth=0")
    assert info.value.suggested_filename == f"checkins-{event['id']}.csv"
    text = Path(info.value.path()).read_text("utf-8-sig")
    assert "赵敏" in text
    assert errors == []
    context.close()
