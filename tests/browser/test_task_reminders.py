"""A due-soon reminder pushed by the server reaches the owner's phone (issue 16:
"due-soon reminders to the owner's phone"), in real Chromium against a real
``muster serve`` whose task clock runs every 5 s: 李娜's phone runs 30 minutes
slow, so by its own clock the task due in ten minutes is 40 minutes away and it
would not remind her; the server's ``due_soon`` message does. zh and en."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.staff_app import PHONE, SYNC_TIMEOUT_MS, set_up_venue
from tests.browser.test_broadcasts import roster_phone
from tests.servers import LiveServer

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("locale", ["zh-CN", "en-GB"])
def test_the_servers_due_soon_reminder_reaches_a_phone_whose_clock_is_slow(
    live_server: LiveServer, browser: Any, artifacts: Path, locale: str
) -> None:
    tag = "zh" if locale == "zh-CN" else "en"
    venue = set_up_venue(live_server, f"发布会 reminders {tag}", tickets=0)
    link = roster_phone(live_server, venue, "李娜", "安保")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale=locale)
    context.clock.install(time=datetime.now(UTC) - timedelta(minutes=30))
    phone = context.new_page()
    errors: list[str] = []
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    phone.goto(link)
    phone.wait_for_selector("#online[data-state=online]")
    phone.wait_for_function("() => window.musterApp.live && window.musterApp.live.live")
    phone.click("#tabs button[data-view='tasks']")
    with live_server.api() as api:
        li = next(m for m in api.get(f"{venue.base}/staff").json()["staff"] if m["name"] == "李娜")
        title = "领取对讲机" if tag == "zh" else "Collect the radios"
        due = datetime.now(UTC) + timedelta(minutes=10)
        task = api.post(
            f"{venue.base}/tasks",
            json={"title": title, "staff": li["id"], "due_at": due.isoformat()},
        ).json()
    row = phone.locator(f"#task-mine li[data-task='{task['id']}']")
    expect(row).to_be_visible(timeout=SYNC_TIMEOUT_MS)
    reminder = phone.locator(f"#task-reminder p[data-task='{task['id']}']")
    expect(reminder).to_be_visible(timeout=SYNC_TIMEOUT_MS)
    expect(reminder).to_contain_text(title)
    expect(phone.locator("#tabs button[data-view='tasks']")).to_have_attribute("data-due-soon", "1")
    with live_server.api() as api:
        listed = api.get(f"{venue.base}/tasks").json()["tasks"]
    assert next(t for t in listed if t["id"] == task["id"])["reminded"] is True
    phone.screenshot(path=str(artifacts / f"tasks-phone-{tag}-pushed-reminder.png"))
    assert errors == []
    context.close()
