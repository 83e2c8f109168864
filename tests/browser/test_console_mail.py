"""The console's ticket mail in Chromium against a real ``muster serve`` and
a real SMTP server: send to everyone not yet mailed, watch the progress bar
move, see a refused address with the server's answer, resend it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import LiveServer, start_server
from tests.smtp import LoopbackSmtp, start_smtp

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1440, "height": 900}
REFUSED = "nobody@example.com"


@pytest.fixture(scope="module")
def smtp() -> Iterator[LoopbackSmtp]:
    server = start_smtp()
    yield server
    server.controller.stop()


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, smtp: LoopbackSmtp
) -> Iterator[LiveServer]:
    # Slow enough (8 a second) that the bar is seen part-way.
    env = {
        "MUSTER_SMTP_URL": smtp.url,
        "MUSTER_MAIL_PER_SECOND": "8",
        "MUSTER_MAIL_POLL_INTERVAL": "0.5",
    }
    server = start_server(tmp_path_factory.mktemp("live"), env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def event_id(live_server: LiveServer) -> int:
    with live_server.api() as api:
        event = api.post(
            "/api/v1/events",
            json={
                "name": "客户日 Customer Day",
                "starts_at": "2026-12-02T09:00:00+08:00",
                "ends_at": "2026-12-02T18:00:00+08:00",
                "timezone": "Asia/Shanghai",
                "location": "上海国际会议中心",
            },
        ).json()
        people = [
            {"holder_name": f"嘉宾 {i}", "holder_email": f"guest{i}@example.com"} for i in range(23)
        ]
        people.append({"holder_name": "Nobody", "holder_email": REFUSED})
        api.post(f"/api/v1/events/{event['id']}/tickets", json={"tickets": people})
    return int(event["id"])


def open_mail(live_server: LiveServer, browser: Any, event_id: int, locale: str) -> Any:
    context = browser.new_context(viewport=LAPTOP, locale=locale)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    page.wait_for_selector("#event-list")
    page.goto(f"{live_server.base_url}/console/#event={event_id}&tab=mail")
    page.wait_for_selector("#mail-send")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_send_watch_the_bar_and_resend_a_refused_one(
    live_server, browser, event_id, smtp, artifacts
):
    smtp.handler.refuse.add(REFUSED)
    page = open_mail(live_server, browser, event_id, "en-US")
    page.click("#mail-send")
    bar = page.locator("#mail-progress")
    bar.wait_for()
    page.wait_for_function(
        "() => { const b = document.querySelector('#mail-progress');"
        " return b && Number(b.value) >= 4 && Number(b.value) < Number(b.max); }"
    )
    assert re.search(r"Sending: \d+ of 24", page.inner_text("#mail-summary"))
    page.screenshot(path=str(artifacts / "console-mail-progress.png"), full_page=True)
    page.wait_for_selector("[data-done=true]", timeout=30_000)
    assert page.inner_text("#mail-summary") == "Done: 23 sent, 1 failed (of 24)"
    failure = page.locator("#mail-failures tbody tr")
    assert failure.count() == 1
    text = failure.inner_text()
    assert "Refused by the mail server" in text and "550 5.1.1" in text and REFUSED in text
    page.screenshot(path=str(artifacts / "console-mail-done.png"), full_page=True)
    assert smtp.handler.count() == 23

    smtp.handler.refuse.clear()
    failure.locator("button.resend").click()
    page.wait_for_function(
        "() => { const s = document.querySelector('#mail-summary');"
        " return s && s.textContent === 'Done: 1 sent, 0 failed (of 1)'; }",
        timeout=30_000,
    )
    assert len(smtp.handler.to(REFUSED)) == 1
    assert max(smtp.handler.per_recipient().values()) == 1
    assert page.locator("#mail-history tbody tr").count() == 2
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_the_mail_page_in_chinese(live_server, browser, event_id, artifacts):
    page = open_mail(live_server, browser, event_id, "zh-CN")
    page.wait_for_selector("[data-done=true]")
    assert page.inner_text("h1") == "邮件发票"
    assert "已完成" in page.inner_text("#mail-summary")
    page.screenshot(path=str(artifacts / "console-mail-zh.png"), full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_a_received_mail_as_a_mail_program_shows_it(browser, smtp, artifacts):
    import base64

    [received] = smtp.handler.to("guest0@example.com")
    message = received.message()
    html = message.get_body(("html",)).get_content()
    for part in message.walk():
        if part.get_content_type() == "image/png":
            data = base64.b64encode(part.get_content()).decode()
            cid = part["Content-ID"].strip("<>")
            html = html.replace(f"cid:{cid}", f"data:image/png;base64,{data}")
    context = browser.new_context(viewport={"width": 520, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.set_content(html)
    image = page.locator("img")
    assert image.evaluate("img => img.naturalWidth") > 300  # the QR code loaded
    assert "客户日 Customer Day" in page.inner_text("body")
    assert "上海国际会议中心" in page.inner_text("body")
    page.screenshot(path=str(artifacts / "mail-html-zh.png"), full_page=True)
    context.close()
