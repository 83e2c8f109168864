"""The organiser console, driven in Chromium from an empty server: sign in
through the link ``muster serve`` prints, create the event, its zones, gates
and a ticket type, import attendees from a CSV with one bad row, fix the row
and upload again, show a phone pairing QR code and pair a phone with it.
Each step is checked through the API, and screenshotted at 1440 × 900.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.servers import LiveServer

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1440, "height": 900}

CSV_WITH_BAD_ROW = (
    "姓名,邮箱,票种\n"
    "王伟,wang.wei@example.com,\n"
    "李娜,li.na-at-example.com,VIP\n"
    "Chen Jie,chen.jie@example.com,VIP\n"
)


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"console-{name}.png"), full_page=False)


def drop_file(page: Any, selector: str, name: str, text: str) -> None:
    """Drop a file on ``selector`` as a user dragging it from the desktop would."""
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: "text/csv" }));
            return transfer;
        }""",
        [name, text],
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_set_up_an_event_from_an_empty_server(
    live_server: LiveServer, browser: Any, artifacts: Path
) -> None:
    context = browser.new_context(viewport=LAPTOP, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    api = live_server.api()

    # Sign in with the link `muster serve` printed; the token leaves the address bar.
    page.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    page.wait_for_selector("#event-create")
    assert "token" not in page.url
    assert page.evaluate("localStorage.getItem('muster.console.token')") == live_server.token
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    shot(page, artifacts, "01-signed-in")

    # The event.
    page.fill("#event-create [name=name]", "新品发布会 2026")
    page.fill("#event-create [name=starts_at]", "2026-12-01T09:00")
    page.fill("#event-create [name=ends_at]", "2026-12-01T18:00")
    assert page.input_value("#event-create [name=timezone]") == "Asia/Shanghai"
    page.click("#event-create button[type=submit]")
    page.wait_for_selector("#zones")
    [event] = api.get("/api/v1/events").json()["events"]
    assert event["name"] == "新品发布会 2026"
    assert event["timezone"] == "Asia/Shanghai"
    assert event["starts_at"].startswith("2026-12-01T01:00:00")  # 09:00 in Shanghai is 01:00 UTC
    base = f"/api/v1/events/{event['id']}"
    shot(page, artifacts, "02-event-created")

    # Zones.
    add_zone(page, "Hall A", "2000", "85")
    add_zone(page, "VIP", "200", "")
    zones = {z["name"]: z for z in api.get(f"{base}/zones").json()["zones"]}
    assert zones["Hall A"]["capacity"] == 2000
    assert zones["Hall A"]["soft_warning"] == pytest.approx(0.85)
    assert zones["VIP"]["capacity"] == 200

    # Gates: outside into Hall A, and Hall A into VIP.
    add_gate(page, "North door", None, "Hall A")
    add_gate(page, "VIP door", "Hall A", "VIP")
    # A gate from a zone into itself is refused; the error shows beside that row.
    new_gate = page.locator("#gates form.item.new")
    new_gate.locator("[name=name]").fill("Loop")
    new_gate.locator("[name=from_zone]").select_option(label="VIP")
    new_gate.locator("[name=to_zone]").select_option(label="VIP")
    new_gate.locator("button[type=submit]").click()
    new_gate.locator(".form-error").wait_for()
    assert "另一个区域" in new_gate.locator(".form-error").inner_text()
    assert new_gate.locator(".form-error").get_attribute("data-code") == "gate_loop"
    gates = {g["name"]: g for g in api.get(f"{base}/gates").json()["gates"]}
    assert set(gates) == {"North door", "VIP door"}
    assert gates["North door"]["from_zone"] is None
    assert gates["North door"]["to_zone"] == zones["Hall A"]["id"]
    assert gates["VIP door"]["from_zone"] == zones["Hall A"]["id"]
    assert gates["VIP door"]["to_zone"] == zones["VIP"]["id"]

    # The flow of people: outside → North door → Hall A → VIP door → VIP.
    flow = page.locator("#flow")
    assert flow.locator("svg.flow .node").count() == 3
    assert "场外 → North door → Hall A" in flow.inner_text()
    assert "Hall A → VIP door → VIP" in flow.inner_text()

    # A ticket type for VIP guests: Hall A and VIP, no re-entry.
    new_type = page.locator("#ticket-types form.item.new")
    new_type.locator("[name=name]").fill("VIP")
    new_type.locator("[name=all_zones]").uncheck()
    new_type.locator(f"[name=zones][value='{zones['Hall A']['id']}']").check()
    new_type.locator(f"[name=zones][value='{zones['VIP']['id']}']").check()
    new_type.locator("[name=reentry]").uncheck()
    new_type.locator("button[type=submit]").click()
    page.wait_for_selector("#ticket-types form.item[data-type]:nth-of-type(2)")
    types = {t["name"]: t for t in api.get(f"{base}/ticket-types").json()["ticket_types"]}
    assert sorted(types["VIP"]["zones"]) == sorted([zones["Hall A"]["id"], zones["VIP"]["id"]])
    assert types["VIP"]["reentry"] is False
    page.locator("#flow").scroll_into_view_if_needed()
    shot(page, artifacts, "03-venue")

    # Import attendees: one bad email fails the whole file, and nothing is written.
    page.click("#sidebar a[data-tab=tickets]")
    page.wait_for_selector("#dropzone")
    drop_file(page, "#dropzone", "attendees.csv", CSV_WITH_BAD_ROW)
    page.wait_for_selector("#import-errors")
    report = page.locator("#import-errors tbody tr")
    assert report.count() == 1
    assert report.first.get_attribute("data-line") == "3"
    # In the page's language, from the server's code and parameters.
    assert "「li.na-at-example.com」不是有效的邮箱" in report.first.inner_text()
    assert api.get(f"{base}/tickets").json()["tickets"] == []
    shot(page, artifacts, "04-import-refused")

    # Fix the email in the report and upload again.
    bad_cell = report.first.locator("input[aria-invalid=true]")
    assert bad_cell.input_value() == "li.na-at-example.com"
    bad_cell.fill("li.na@example.com")
    page.click("#import-reupload")
    page.wait_for_selector("#import-ok")
    assert "3" in page.inner_text("#import-ok")
    page.wait_for_selector("#ticket-list tbody tr[data-ticket] >> nth=2")
    shot(page, artifacts, "05-imported")
    tickets = {t["holder_name"]: t for t in api.get(f"{base}/tickets").json()["tickets"]}
    assert set(tickets) == {"王伟", "李娜", "Chen Jie"}
    assert tickets["李娜"]["holder_email"] == "li.na@example.com"
    assert tickets["李娜"]["ticket_type"] == types["VIP"]["id"]
    # The event was made in Chinese: its first ticket type is named in Chinese.
    assert tickets["王伟"]["ticket_type"] == types["标准票"]["id"]

    # Pair a door phone at the North door: a large QR code with its countdown.
    page.click("#sidebar a[data-tab=phones]")
    page.wait_for_selector("#pair-form")
    page.select_option("#pair-form [name=role]", "door")
    page.select_option("#pair-form [name=gate]", label="North door")
    page.fill("#pair-form [name=device_name]", "北门 1 号机")
    page.click("#pair-form button[type=submit]")
    page.wait_for_selector("#pair-qr svg")
    box = page.locator("#pair-qr").bounding_box()
    assert box is not None and box["width"] >= 300 and box["height"] >= 300
    countdown = page.inner_text("#pair-countdown")
    assert countdown.count(":") == 1 and countdown != "0:00"
    shot(page, artifacts, "06-pairing-qr")

    # The code on screen pairs a phone, and the phone appears in the list.
    code = page.inner_text("#pair-code")
    paired = api.post("/api/v1/devices/pair", json={"code": code})
    assert paired.status_code == 201, paired.text
    assert paired.json()["role"] == "door"
    assert paired.json()["gate"]["id"] == gates["North door"]["id"]
    page.wait_for_selector("#devices tr[data-device]", timeout=15_000)
    assert "北门 1 号机" in page.inner_text("#devices")
    assert "North door" in page.inner_text("#devices")
    [device] = api.get(f"{base}/devices").json()["devices"]
    assert device["name"] == "北门 1 号机"

    # The same pages in English.
    page.click(".lang-switch [data-lang=en]")
    page.wait_for_selector("text=Paired phones")
    shot(page, artifacts, "07-phones-en")
    page.click("#sidebar a[data-tab=venue]")
    page.wait_for_selector("#flow svg")
    assert "Outside → North door → Hall A" in page.inner_text("#flow")
    shot(page, artifacts, "08-venue-en")
    page.click("#sidebar a[data-tab=overview]")
    page.wait_for_selector("#checklist")
    assert page.locator("#checklist li.done").count() == 5
    assert page.get_attribute("#link-command", "href") == f"/command/#event={event['id']}"
    shot(page, artifacts, "09-overview-en")

    assert errors == []
    context.close()


def add_zone(page: Any, name: str, capacity: str, warning: str) -> None:
    row = page.locator("#zones form.item.new")
    row.locator("[name=name]").fill(name)
    row.locator("[name=capacity]").fill(capacity)
    row.locator("[name=soft_warning]").fill(warning)
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f"#zones form.item[data-zone] input[value='{name}']")


def add_gate(page: Any, name: str, from_zone: str | None, to_zone: str) -> None:
    row = page.locator("#gates form.item.new")
    row.locator("[name=name]").fill(name)
    if from_zone is None:
        row.locator("[name=from_zone]").select_option(value="")
    else:
        row.locator("[name=from_zone]").select_option(label=from_zone)
    row.locator("[name=to_zone]").select_option(label=to_zone)
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f"#gates form.item[data-gate] input[value='{name}']")
