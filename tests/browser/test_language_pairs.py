"""One language at a time, as a person sees it: every console section, the
command centre and each tab of a door phone, rendered in Chromium in Chinese
and in English on a live event, screenshotted as a pair
(``test-artifacts/lang-<page>-<zh|en>.png``) and read: no catalogue key shown
raw, no ``undefined``/``NaN``/``[object Object]``, and no sentence of the
other language's catalogue on the page (tests/test_catalogues.py checks the
catalogues themselves; this checks what the pages put on screen).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.staff_app import device_token, open_paired_phone, set_up_venue
from tests.servers import LiveServer
from tests.test_catalogues import PAGES, SHARED, read_catalogue

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1440, "height": 900}
SCREEN = {"width": 1920, "height": 1080}
LOCALES = {"zh": "zh-CN", "en": "en-GB"}
CONSOLE_TABS = [
    "overview",
    "venue",
    "tickets",
    "mail",
    "phones",
    "staff",
    "tasks",
    "stock",
    "plans",
    "review",
    "retention",
]
PHONE_TABS = ["scan", "incidents", "stock", "tasks", "device"]
RAW_KEY = re.compile(r"\b[a-z]+(?:_[a-z]+)*\.[a-z_]+(?:\.[a-z_]+)*\b")
BROKEN = ("undefined", "NaN", "[object Object]", "{name}", "{n}")
#: Dotted words that are not keys: file names the pages offer, addresses.
NOT_KEYS = re.compile(r"\b(?:\w+\.(?:csv|json|zip|pdf|png|svg|ics|md|example|com|cn)|e\.g|i\.e)\b")


def sentences(language: str) -> set[str]:
    """The catalogue texts of ``language`` that cannot be data: several English
    words, or four or more Chinese characters, with no {parameter}."""
    texts: set[str] = set()
    files = [SHARED, *(p for folder, _ in PAGES.values() for p in folder.glob("*strings.js"))]
    for path in files:
        for text in read_catalogue(path)[language].values():
            text = text.strip()
            if "{" in text or "<" in text:
                continue
            if language == "en" and len(text.split()) >= 3:
                texts.add(text)
            if language == "zh" and len(re.findall(r"[\u4e00-\u9fff]", text)) >= 4:
                texts.add(text)
    return texts


OTHER = {"zh": sentences("en"), "en": sentences("zh")}


def read_page(page: Any, lang: str, where: str) -> list[str]:
    text = page.inner_text("body")
    problems = [f"{where}: raw key {m}" for m in RAW_KEY.findall(NOT_KEYS.sub("", text))]
    problems += [f"{where}: {word!r} on screen" for word in BROKEN if word in text]
    problems += [f"{where}: other language: {s!r}" for s in OTHER[lang] if s in text]
    return problems


@pytest.fixture(scope="module")
def venue(live_server: LiveServer) -> Any:
    venue = set_up_venue(live_server, "新品发布会 Launch", tickets=4)
    door = device_token(live_server, venue, "door")
    with live_server.api(door) as api:
        scanned = api.post(
            f"{venue.base}/scans",
            json={
                "secret": venue.tickets[0]["secret"],
                "gate": venue.gate["id"],
                "direction": "in",
                "nonce": uuid.uuid4().hex,
                "scanned_at": datetime.now(UTC).isoformat(),
            },
        )
        assert scanned.json()["status"] == "ok", scanned.text
    with live_server.api() as api:
        api.post(
            f"{venue.base}/stock/items",
            json={"name": "矿泉水 Water", "unit": "瓶", "quantity": 40, "low_threshold": 50},
        )
        api.post(
            f"{venue.base}/incidents",
            json={
                "category": "equipment_failure",
                "severity": "P2",
                "title": "闸机故障 Turnstile down",
                "nonce": uuid.uuid4().hex,
            },
        )
        api.post(f"{venue.base}/staff", json={"name": "周队长", "team": "安保", "role": "door"})
        api.post(f"{venue.base}/tasks", json={"title": "布置指示牌 Signage", "team": "安保"})
    return venue


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_speaks_one_language(
    live_server: LiveServer, browser: Any, venue: Any, artifacts: Path, lang: str
) -> None:
    problems: list[str] = []
    errors: list[str] = []
    event_id = venue.event["id"]

    context = browser.new_context(viewport=LAPTOP, locale=LOCALES[lang])
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    page.wait_for_selector(f"#event-list tr[data-event='{event_id}']")
    problems += read_page(page, lang, "console events")
    page.screenshot(path=str(artifacts / f"lang-console-events-{lang}.png"))
    for tab in CONSOLE_TABS:
        page.goto(f"{live_server.base_url}/console/#event={event_id}&tab={tab}")
        href = f"#event={event_id}" + ("" if tab == "overview" else f"&tab={tab}")
        page.wait_for_selector(f"#sidebar a.active[href='{href}']")
        # The section drawn (wait_for_load_state returns at once: the page
        # loaded long ago, and the old section stayed on screen meanwhile).
        page.wait_for_selector(f"#main[data-shown='{tab}']")
        problems += read_page(page, lang, f"console {tab}")
        page.screenshot(path=str(artifacts / f"lang-console-{tab}-{lang}.png"), full_page=True)
    context.close()

    command = device_token(live_server, venue, "command")
    context = browser.new_context(viewport=SCREEN, locale=LOCALES[lang])
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.base_url}/command/#token={command}&event={event_id}")
    page.wait_for_function("() => document.body.innerText.includes('主会场 Hall A')")
    page.wait_for_load_state("networkidle")
    # The header clock reads in the event's zone (Asia/Shanghai) from the first paint.
    shanghai = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%H:%M")
    clock = page.inner_text("#clock")
    assert clock[:5] in (
        shanghai,
        (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(minutes=1)).strftime("%H:%M"),
    ), clock
    problems += read_page(page, lang, "command centre")
    page.screenshot(path=str(artifacts / f"lang-command-{lang}.png"))
    context.close()

    context, phone = open_paired_phone(browser, live_server, venue, locale=LOCALES[lang])
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    for tab in PHONE_TABS:
        button = phone.locator(f"#tabs button[data-view='{tab}']")
        if button.is_visible():
            button.click()
            phone.wait_for_timeout(300)
            problems += read_page(phone, lang, f"phone {tab}")
            phone.screenshot(path=str(artifacts / f"lang-phone-{tab}-{lang}.png"))
    context.close()

    assert errors == []
    assert problems == [], "\n".join(problems)
