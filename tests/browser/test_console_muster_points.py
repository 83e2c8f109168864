"""Assembly points edited in the console's venue page, in Chromium, on SQLite
and PostgreSQL, checked through the API: one added with the zones that send
people there and a map note, renamed and moved to another zone, an unused one
removed, and one where a drill accounted someone refused with the reason in
the page's language (zh, then the same page in en)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.servers import LiveServer

pytestmark = pytest.mark.browser

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = datetime.now(SHANGHAI).date().isoformat()


def test_assembly_points_added_edited_and_removed(
    server: LiveServer, browser: Any, artifacts: Path
) -> None:
    api = server.api()
    event = api.post(
        "/api/v1/events",
        json={
            "name": "新品发布会",
            "starts_at": f"{TODAY}T00:00:00+08:00",
            "ends_at": f"{TODAY}T23:00:00+08:00",
            "timezone": "Asia/Shanghai",
        },
    ).json()
    base = f"/api/v1/events/{event['id']}"
    hall = api.post(f"{base}/zones", json={"name": "主会场"}).json()
    expo = api.post(f"{base}/zones", json={"name": "展区"}).json()
    lawn = api.post(f"{base}/muster-points", json={"name": "草坪", "zones": [expo["id"]]}).json()

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.base_url}/console/#token={server.token}")
    page.click(f"#event-list tr[data-event='{event['id']}'] a")
    page.click("#sidebar a[data-tab=venue]")
    page.wait_for_selector("#muster-points h2")
    assert page.inner_text("#muster-points h2") == "集合点"

    # Added: the hall's people gather at the east car park.
    new = page.locator("#muster-points form.new")
    new.locator("[name=name]").fill("东侧停车场")
    new.locator("[name=map_note]").fill("旗杆旁，出北门左转")
    new.locator(f"[name=zones][value='{hall['id']}']").check()
    new.locator("button[type=submit]").click()
    page.wait_for_selector("#muster-points form[data-point]:has(input[value='东侧停车场'])")
    points = api.get(f"{base}/muster-points").json()["points"]
    [car_park] = [p for p in points if p["name"] == "东侧停车场"]
    assert (car_park["zones"], car_park["map_note"]) == ([hall["id"]], "旗杆旁，出北门左转")
    page.locator("#muster-points").screenshot(path=str(artifacts / "console-muster-points-zh.png"))

    # Edited: renamed, and the expo's people now gather there too.
    row = page.locator(f"#muster-points form[data-point='{car_park['id']}']")
    row.locator("[name=name]").fill("东侧停车场 A 区")
    row.locator(f"[name=zones][value='{expo['id']}']").check()
    row.locator("button[type=submit]").click()

    def saved() -> dict[str, Any]:
        [found] = [
            p
            for p in api.get(f"{base}/muster-points").json()["points"]
            if p["id"] == car_park["id"]
        ]
        return dict(found)

    deadline = time.monotonic() + 10
    while saved()["name"] != "东侧停车场 A 区" and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert (saved()["name"], saved()["zones"]) == (
        "东侧停车场 A 区",
        sorted([hall["id"], expo["id"]]),
    )

    # A drill accounted someone at the car park: it cannot be removed.
    ticket = api.post(f"{base}/tickets", json={"holder_name": "赵敏"}).json()
    drill = api.post(f"{base}/evacuations", json={"kind": "drill"}).json()
    accounted = api.post(
        f"/api/v1/evacuations/{drill['id']}/accounts",
        json={"nonce": "console-1", "secret": ticket["secret"], "point": car_park["id"]},
    ).json()
    assert accounted["status"] == "ok"
    api.post(f"/api/v1/evacuations/{drill['id']}/all-clear")
    page.wait_for_selector(f"#muster-points form[data-point='{car_park['id']}'] [data-remove]")
    page.locator(f"#muster-points form[data-point='{car_park['id']}'] [data-remove]").click()
    page.click("dialog.ask button.danger")
    page.wait_for_selector(".toast.bad")
    assert "不能删除" in page.inner_text(".toast.bad")

    # The lawn was never used: removed.
    page.locator(f"#muster-points form[data-point='{lawn['id']}'] [data-remove]").click()
    page.click("dialog.ask button.danger")
    page.wait_for_selector(f"#muster-points form[data-point='{lawn['id']}']", state="detached")
    assert [p["id"] for p in api.get(f"{base}/muster-points").json()["points"]] == [car_park["id"]]

    # The same page in English.
    en = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    en_page = en.new_page()
    en_page.on("pageerror", lambda exc: errors.append(str(exc)))
    en_page.goto(f"{server.base_url}/console/#token={server.token}")
    en_page.click(f"#event-list tr[data-event='{event['id']}'] a")
    en_page.click("#sidebar a[data-tab=venue]")
    en_page.wait_for_selector("#muster-points form[data-point]")
    assert en_page.inner_text("#muster-points h2") == "Assembly points"
    assert "From zones" in en_page.inner_text("#muster-points")
    en_page.locator("#muster-points").screenshot(
        path=str(artifacts / "console-muster-points-en.png")
    )
    assert errors == []
    en.close()
    context.close()
