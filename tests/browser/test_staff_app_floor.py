"""Floor staff on the phone: an incident with a photo reported with no
network arrives when the network is back; incidents taken and resolved;
stock issued and received in two taps, online and offline. Screenshots:
``test-artifacts/staff-app-floor-*.png``.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser.staff_app import SYNC_TIMEOUT_MS, open_paired_phone, set_up_venue, shot
from tests.servers import LiveServer

pytestmark = pytest.mark.browser


def photo_file(tmp_path: Path) -> Path:
    """A camera-sized JPEG: a broken screen, roughly."""
    image = Image.new("RGB", (1200, 900), (30, 30, 40))
    for x in range(0, 1200, 40):
        image.paste((200, 40, 40), (x, 0, x + 8, 900))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    path = tmp_path / "broken-screen.jpg"
    path.write_bytes(out.getvalue())
    return path


def test_incident_with_photo_reported_offline(
    live_server: LiveServer, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · incidents", tickets=0)
    context, page = open_paired_phone(browser, live_server, venue, "staff", locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.wait_for_selector("#view-incidents", state="visible")
    page.wait_for_selector(
        f"#incident-location option[value='gate:{venue.gate['id']}']", state="attached"
    )

    context.set_offline(True)
    page.select_option("#incident-category", "equipment_failure")
    page.click("#incident-severity [data-severity=P2]")
    page.select_option("#incident-location", f"gate:{venue.gate['id']}")
    page.fill("#incident-title", "北门闸机读卡器故障")
    page.fill("#incident-description", "屏幕黑屏，无法读卡")
    page.set_input_files("#incident-photo", str(photo_file(tmp_path)))
    page.wait_for_selector("#incident-preview:not(.hidden)")
    shot(page, artifacts, "floor-01-incident-form")
    page.click("#incident-form button[type=submit]")
    page.wait_for_selector("#incident-list li[data-pending]")
    assert "联网后" in page.inner_text("#incident-message")
    page.wait_for_function("() => document.querySelector('#queue').dataset.n === '1'")
    shot(page, artifacts, "floor-02-incident-queued")
    with live_server.api() as api:
        assert api.get(f"{venue.base}/incidents").json()["incidents"] == []

    context.set_offline(False)
    page.wait_for_selector("#incident-list li[data-incident]", timeout=SYNC_TIMEOUT_MS)
    assert page.locator("#incident-list li[data-pending]").count() == 0
    with live_server.api() as api:
        [incident] = api.get(f"{venue.base}/incidents").json()["incidents"]
        assert incident["title"] == "北门闸机读卡器故障"
        assert incident["severity"] == "P2"
        assert incident["category"] == "equipment_failure"
        assert incident["location"]["gate"] == venue.gate["id"]
        assert len(incident["photos"]) == 1
        photo = api.get(incident["photos"][0]["url"])
        assert photo.status_code == 200 and photo.content.startswith(b"\xff\xd8")

    # Take it, then resolve it (staff resolve what they took).
    page.click(f"#incident-list li[data-incident='{incident['id']}'] [data-action=ack]")
    page.wait_for_selector(
        f"#incident-list li[data-incident='{incident['id']}'] [data-action=resolve]"
    )
    shot(page, artifacts, "floor-03-incident-taken")
    page.click(f"#incident-list li[data-incident='{incident['id']}'] [data-action=resolve]")
    page.wait_for_selector(f"#incident-list li[data-incident='{incident['id']}'] .badge.resolved")
    with live_server.api() as api:
        assert api.get(f"{venue.base}/incidents/{incident['id']}").json()["status"] == "resolved"
    context.close()
    assert errors == []


def wait_until_sent(page: Any) -> None:
    page.wait_for_function(
        "() => document.querySelector('#queue').dataset.n === '0'", timeout=SYNC_TIMEOUT_MS
    )


def test_stock_in_two_taps_online_and_offline(
    live_server: LiveServer, browser: Any, artifacts: Path
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · stock", tickets=0)
    with live_server.api() as api:
        water = api.post(
            f"{venue.base}/stock/items",
            json={"name": "矿泉水", "unit": "瓶", "quantity": 100, "low_threshold": 20},
        ).json()
        lanyards = api.post(
            f"{venue.base}/stock/items",
            json={
                "name": "挂绳 Lanyards",
                "quantity": 6,
                "low_threshold": 10,
                "critical_threshold": 5,
            },
        ).json()
    context, page = open_paired_phone(browser, live_server, venue, "staff", locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.click("#tabs [data-view=stock]")
    row = f"#stock-list li[data-item='{water['id']}']"
    page.wait_for_selector(row)
    assert (
        page.get_attribute(f"#stock-list li[data-item='{lanyards['id']}']", "data-level") == "low"
    )

    def quantity(item: dict[str, Any], expected: int | None = None) -> int:
        """The server's quantity (once it is ``expected``, or after SYNC_TIMEOUT_MS)."""
        deadline = time.monotonic() + SYNC_TIMEOUT_MS / 1000
        while True:
            with live_server.api() as api:
                found = int(api.get(f"{venue.base}/stock/items/{item['id']}").json()["quantity"])
            if expected is None or found == expected or time.monotonic() > deadline:
                return found
            page.wait_for_timeout(100)  # the phone's queue drains meanwhile

    page.click(f"{row} [data-kind=issue]")  # amount 1 is preselected: one tap
    page.wait_for_function(
        f"() => document.querySelector(\"{row} .level\").textContent.startsWith('99')"
    )
    # The level shows what is queued at once; the server has it once the queue drains.
    wait_until_sent(page)
    assert quantity(water, 99) == 99
    page.click("#stock-amounts [data-amount='10']")
    page.click(f"{row} [data-kind=receive]")
    page.wait_for_function(
        f"() => document.querySelector(\"{row} .level\").textContent.startsWith('109')"
    )
    wait_until_sent(page)
    assert quantity(water, 109) == 109
    shot(page, artifacts, "floor-04-stock")

    context.set_offline(True)
    page.click("#stock-amounts [data-amount='5']")
    page.click(f"{row} [data-kind=issue]")
    page.click(f"{row} [data-kind=issue]")
    page.wait_for_function("() => document.querySelector('#queue').dataset.n === '2'")
    assert page.inner_text(f"{row} .level").startswith("99")  # shown with what is queued
    shot(page, artifacts, "floor-05-stock-offline")
    assert quantity(water) == 109

    context.set_offline(False)
    wait_until_sent(page)
    assert quantity(water, 99) == 99
    context.close()
    assert errors == []


def test_a_refused_photo_does_not_lose_the_report(
    live_server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · bad photo", tickets=0)
    context, page = open_paired_phone(browser, live_server, venue, "staff", locale="en-GB")
    not_a_picture = tmp_path / "IMG_0001.jpg"
    not_a_picture.write_bytes(b"this is not a JPEG at all" * 10)
    page.fill("#incident-title", "Spilled drinks at the bar")
    page.set_input_files("#incident-photo", str(not_a_picture))
    page.click("#incident-form button[type=submit]")
    page.wait_for_selector("#incident-list li[data-incident]", timeout=SYNC_TIMEOUT_MS)
    with live_server.api() as api:
        [incident] = api.get(f"{venue.base}/incidents").json()["incidents"]
    assert incident["title"] == "Spilled drinks at the bar"
    assert incident["photos"] == []
    # The phone words the server's code (unsupported_photo) in its own language.
    assert "That is not a photo this server can read." in incident["description"]
    assert page.locator("#incident-list li[data-pending]").count() == 0
    context.close()
