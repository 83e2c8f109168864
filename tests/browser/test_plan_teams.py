"""Plans per team in real Chromium (issue 16: "each staff member confirms the
emergency plans of their team"): the medical plan names security, the crowd
plan nobody (everyone); 李娜's phone (security) lists both, 周婷's
(reception) only the crowd plan; 李娜 confirms the medical one and the
command centre's readiness shows it by plan with its teams. Screenshots of
the phone (390×844) and the command centre (1440×900) in zh and en."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.staff_app import PHONE, SYNC_TIMEOUT_MS, device_token, set_up_venue
from tests.browser.test_broadcasts import roster_phone
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

SCREEN = {"width": 1440, "height": 900}


def plans_of(browser: Any, link: str, errors: list[str]) -> tuple[Any, Any]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    phone = context.new_page()
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    phone.goto(link)
    phone.wait_for_selector("#online[data-state=online]")
    phone.click("#tabs button[data-view='device']")
    return context, phone


def test_a_plan_is_confirmed_by_the_teams_it_names(
    live_server: LiveServer, browser: Any, artifacts: Path
) -> None:
    venue = set_up_venue(live_server, "发布会 · plans", tickets=0)
    with live_server.api() as api:
        medical = api.post(
            f"{venue.base}/plans",
            json={"category": "medical", "title_zh": "医疗预案", "title_en": "Medical plan",
                  "steps_zh": "1. 呼叫 120", "steps_en": "1. Call 120", "teams": ["安保"]},
        ).json()  # fmt: skip
        crowd = api.post(
            f"{venue.base}/plans",
            json={"category": "crowd", "title_zh": "人群拥挤预案", "title_en": "Crowding plan",
                  "steps_zh": "1. 暂停入场", "steps_en": "1. Hold entry"},
        ).json()  # fmt: skip
    errors: list[str] = []
    li_context, li = plans_of(browser, roster_phone(live_server, venue, "李娜", "安保"), errors)
    zhou_context, zhou = plans_of(browser, roster_phone(live_server, venue, "周婷", "接待"), errors)
    expect(li.locator("#plans-list > li")).to_have_count(2, timeout=SYNC_TIMEOUT_MS)
    expect(zhou.locator("#plans-list > li")).to_have_count(1, timeout=SYNC_TIMEOUT_MS)
    expect(zhou.locator("#plans-list > li")).to_have_attribute("data-plan", str(crowd["id"]))
    item = li.locator(f"#plans-list li[data-plan='{medical['id']}']")
    item.locator(".plan-confirm").click()
    expect(item).to_have_attribute("data-confirmed", "yes", timeout=SYNC_TIMEOUT_MS)
    li.locator("#plans-list").scroll_into_view_if_needed()
    li.screenshot(path=str(artifacts / "staff-app-plans-team-zh.png"))

    screen_context = browser.new_context(viewport=SCREEN, locale="zh-CN")
    screen = screen_context.new_page()
    screen.on("pageerror", lambda exc: errors.append(str(exc)))
    token = device_token(live_server, venue, "command")
    screen.goto(f"{live_server.base_url}/command/#token={token}&event={venue.event['id']}")
    screen.click("#broadcasts-button")
    rows = screen.locator("#bc-readiness .bc-plans li")
    expect(rows).to_have_text(["医疗预案（安保）：1 / 1", "人群拥挤预案（全员）：0 / 2"])
    expect(screen.locator("#bc-readiness-total")).to_have_text("已确认 1 / 3")
    screen.screenshot(path=str(artifacts / "command-plans-team-zh.png"))
    screen.keyboard.press("Escape")
    screen.click("#language-button")
    screen.click("#broadcasts-button")
    expect(rows).to_have_text(["Medical plan (Security): 1 / 1", "Crowding plan (everyone): 0 / 2"])
    screen.screenshot(path=str(artifacts / "command-plans-team-en.png"))
    li.click("#lang")
    expect(li.locator(f"#plans-list li[data-plan='{crowd['id']}'] summary")).to_have_text(
        "Crowding plan"
    )
    li.screenshot(path=str(artifacts / "staff-app-plans-team-en.png"))
    assert errors == []
    for context in (li_context, zhou_context, screen_context):
        context.close()
