"""Removing venue parts from the console, in Chromium, checked through the API:
an unused gate is deleted, a gate that has admitted someone is archived (out of
the rows and the pairing choices, listed under "Archived") and restored, and a
zone with someone inside is refused with the reason in the page's language."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.servers import LiveServer

pytestmark = pytest.mark.browser

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = datetime.now(SHANGHAI).date().isoformat()


def test_remove_archive_and_restore(live_server: LiveServer, browser: Any, artifacts: Path) -> None:
    api = live_server.api()
    event = api.post(
        "/api/v1/events",
        json={
            "name": "经销商大会",
            "starts_at": f"{TODAY}T00:00:00+08:00",
            "ends_at": f"{TODAY}T23:00:00+08:00",
            "timezone": "Asia/Shanghai",
        },
    ).json()
    base = f"/api/v1/events/{event['id']}"
    hall = api.post(f"{base}/zones", json={"name": "主会场", "capacity": 300}).json()
    north = api.post(f"{base}/gates", json={"name": "北门", "to_zone": hall["id"]}).json()
    side = api.post(f"{base}/gates", json={"name": "侧门", "to_zone": hall["id"]}).json()
    ticket = api.post(f"{base}/tickets", json={"holder_name": "赵敏"}).json()
    scanned = api.post(
        f"{base}/scans",
        json={
            "secret": ticket["secret"],
            "gate": north["id"],
            "direction": "in",
            "nonce": uuid.uuid4().hex,
            "scanned_at": datetime.now(SHANGHAI).isoformat(),
        },
    ).json()
    assert scanned["status"] == "ok"

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    page.click(f"#event-list tr[data-event='{event['id']}'] a")
    page.click("#sidebar a[data-tab=venue]")

    def remove(selector: str) -> None:
        page.locator(selector).locator("[data-remove]").click()
        page.click("dialog.ask button.danger")

    # The side door never admitted anyone: deleted.
    remove(f"#gates form[data-gate='{side['id']}']")
    page.wait_for_selector(f"#gates form[data-gate='{side['id']}']", state="detached")
    assert [g["id"] for g in api.get(f"{base}/gates").json()["gates"]] == [north["id"]]

    # The hall has someone inside: refused, with the reason in Chinese.
    remove(f"#zones form[data-zone='{hall['id']}']")
    page.wait_for_selector(".toast.bad")
    assert "还有 1 人" in page.inner_text(".toast.bad")

    # The north door admitted someone: archived, listed apart, gone from pairing.
    remove(f"#gates form[data-gate='{north['id']}']")
    page.wait_for_selector(f"#archived [data-archived='gate-{north['id']}']", state="attached")
    assert page.locator(f"#gates form[data-gate='{north['id']}']").count() == 0
    [archived] = api.get(f"{base}/gates").json()["gates"]
    assert archived["archived_at"]
    page.click("#archived summary")
    page.screenshot(path=str(artifacts / "console-venue-archived-zh.png"))
    page.click("#sidebar a[data-tab=phones]")
    page.wait_for_selector("#pair-form")
    options = page.locator("#pair-form [name=gate] option").all_inner_texts()
    assert "北门" not in options

    # Restored, it is back among the gates.
    page.click("#sidebar a[data-tab=venue]")
    page.click("#archived summary")
    page.locator(f"#archived [data-archived='gate-{north['id']}'] button").click()
    page.wait_for_selector(f"#gates form[data-gate='{north['id']}']")
    assert api.get(f"{base}/gates").json()["gates"][0]["archived_at"] is None
    assert errors == []
    context.close()
