"""``muster demo`` as a newcomer meets it: the default command (speed 60),
the command centre opened from the printed link, and within a minute of the
links the screen is moving — people inside and rising, an incident open, a
stock alert. Then the organiser console and a phone paired from the printed
pairing link, scanning a demo badge.

The screenshots go to test-artifacts/demo-*.png; with
``MUSTER_UPDATE_SCREENSHOTS=1`` also to docs/ (the README's pictures).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.staff_app import answer, wedge
from tests.servers import ROOT, free_port, start_demo

#: "Within a minute" on a quiet machine; the margin is for a shared, busy one.
MOVING_WITHIN = 90
PHONE = {"width": 390, "height": 844}


def link(lines: list[str], pattern: str, deadline: float) -> str:
    while time.monotonic() < deadline:
        for line in lines:
            found = re.search(pattern, line)
            if found:
                return found.group(0)
        time.sleep(0.2)
    raise AssertionError(f"the demo printed no {pattern}:\n" + "\n".join(lines[-20:]))


def keep(page: Any, artifacts: Path, name: str) -> None:
    path = artifacts / f"demo-{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("MUSTER_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(path, ROOT / "docs" / f"{name}.png")


def inside(page: Any) -> int:
    return int(re.sub(r"\D", "", page.get_by_test_id("inside-total").inner_text()) or 0)


def test_the_demo_moves_the_command_centre_within_a_minute(
    browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    env |= {"MUSTER_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    process, lines = start_demo(env, "--port", str(free_port()))
    try:
        deadline = time.monotonic() + 120
        command = link(lines, r"http://\S+/command/#event=\d+&token=mst_\S+", deadline)
        shown = time.monotonic()
        context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        page = context.new_page()
        page.goto(command)
        expect(page.locator("#event-name")).to_contain_text("新品发布会", timeout=15_000)
        budget = MOVING_WITHIN * 1000
        expect(page.locator("[data-column='open'] [data-incident]").first).to_be_visible(
            timeout=budget
        )
        expect(page.locator("[data-kind='low_stock']").first).to_be_visible(
            timeout=max(1000, budget - int((time.monotonic() - shown) * 1000))
        )
        first = inside(page)
        assert first > 0
        page.wait_for_function(
            f"() => Number(document.querySelector('[data-testid=inside-total]').innerText.replace(/\\D/g, '')) > {first}",
            timeout=30_000,
        )
        took = time.monotonic() - shown
        print(f"command centre moving {took:.0f} s after the links: inside {inside(page)}")
        assert took <= MOVING_WITHIN
        keep(page, artifacts, "command-centre")
        context.close()

        console = link(lines, r"http://\S+/console/#token=mst_\S+", deadline)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.goto(console.replace("&event=", "&tab=venue&event="))
        expect(page.locator("svg.flow")).to_contain_text("展区门 Expo door", timeout=15_000)
        keep(page, artifacts, "console")
        context.close()

        pairing = link(lines, r"http://\S+/app/#pair=\w+&event=\d+", deadline)
        context = browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN"
        )
        page = context.new_page()
        page.goto(pairing)
        page.wait_for_selector("#view-scan", state="visible", timeout=20_000)
        assert page.inner_text("#gate-name").endswith("North door")
        badge = link(lines, r"/t/[A-Z2-7]+", deadline).removeprefix("/t/")
        wedge(page, badge)
        page.locator("#answer").wait_for(state="visible")
        keep(page, artifacts, "staff-app")
        scanned = answer(page)
        assert scanned["status"] == "ok" and "Demo badge" in scanned["name"], scanned
        context.close()
    finally:
        process.terminate()
        process.wait(30)
