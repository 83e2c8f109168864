"""The post-event review lists the event's evacuations and drills, in Chromium,
on SQLite and PostgreSQL: a drill where one of two people was accounted shows
on its row (one on the roll of two missing at the all-clear, 50 % reached,
100 % not), its roll downloads as CSV, and the card reads in zh and en."""

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


def test_review_lists_drills(server: LiveServer, browser: Any, artifacts: Path) -> None:
    api = server.api()
    event = api.post(
        "/api/v1/events",
        json={
            "name": "客户日 Customer day",
            "starts_at": f"{TODAY}T00:00:00+08:00",
            "ends_at": f"{TODAY}T23:00:00+08:00",
            "timezone": "Asia/Shanghai",
        },
    ).json()
    base = f"/api/v1/events/{event['id']}"
    hall = api.post(f"{base}/zones", json={"name": "主会场"}).json()
    gate = api.post(f"{base}/gates", json={"name": "北门", "to_zone": hall["id"]}).json()
    point = api.post(f"{base}/muster-points", json={"name": "草坪", "zones": [hall["id"]]}).json()
    people = [api.post(f"{base}/tickets", json={"holder_name": n}).json() for n in ("赵敏", "钱坤")]
    for person in people:
        scanned = api.post(
            f"{base}/scans",
            json={
                "secret": person["secret"],
                "gate": gate["id"],
                "direction": "in",
                "nonce": uuid.uuid4().hex,
                "scanned_at": datetime.now(SHANGHAI).isoformat(),
            },
        ).json()
        assert scanned["status"] == "ok"
    drill = api.post(f"{base}/evacuations", json={"kind": "drill"}).json()
    accounted = api.post(
        f"/api/v1/evacuations/{drill['id']}/accounts",
        json={"nonce": "review-1", "secret": people[0]["secret"], "point": point["id"]},
    ).json()
    assert accounted["status"] == "ok"
    api.post(f"/api/v1/evacuations/{drill['id']}/all-clear")

    for locale, tag in (("zh-CN", "zh"), ("en-GB", "en")):
        context = browser.new_context(
            viewport={"width": 1440, "height": 900}, locale=locale, accept_downloads=True
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.goto(f"{server.base_url}/console/#token={server.token}")
        page.click(f"#event-list tr[data-event='{event['id']}'] a")
        page.click("#sidebar a[data-tab=review]")
        row = page.locator(f"#review-evacuations tr[data-evacuation='{drill['id']}']")
        row.wait_for()
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == ("演练" if tag == "zh" else "Drill")
        assert cells[2:4] == ["2", "1"]  # on the roll, missing at the all-clear
        assert ":" in cells[4]  # 50 % reached
        assert cells[6] == ("未达到" if tag == "zh" else "not reached")  # 100 % not
        page.locator("#review-evacuations").screenshot(
            path=str(artifacts / f"console-review-evacuations-{tag}.png")
        )
        if tag == "zh":
            with page.expect_download() as info:
                row.locator("button").click()
            assert info.value.suggested_filename == f"evacuation-{drill['id']}.csv"
            text = Path(info.value.path()).read_text("utf-8-sig")
            assert "赵敏" in text and "钱坤" in text
        assert errors == []
        context.close()
