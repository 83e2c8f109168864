"""Walk-ins at the door, on a door supervisor's phone, in zh and in en: a
person registered (name, phone, email, ticket type) and admitted in one step
online, and another with no network at all — the phone binds one of its
signed blanks, admits it by the door's own rules, shows the QR to
photograph, and syncs the registration once when the network is back. Then
each is admitted (and refused a second entry) by the QR they photographed.
Screenshots at 390×844: ``test-artifacts/staff-app-walkin-*.png``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from tests.browser.staff_app import (
    SYNC_TIMEOUT_MS,
    answer,
    be_patient,
    headcount_inside,
    set_up_venue,
    shot,
    supervisor_pairing_url,
    wedge,
)
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

WORDS = {
    "zh-CN": {"open": "现场登记", "submit": "登记并入场", "offline": "离线判定"},
    "en-GB": {
        "open": "Register a walk-in",
        "submit": "Register and admit",
        "offline": "Decided offline",
    },
}


def supervisor_phone(browser: Any, live: LiveServer, venue: Any, locale: str) -> tuple[Any, Any]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale=locale, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(supervisor_pairing_url(live, venue))
    page.wait_for_function(
        "() => window.musterApp && window.musterApp.book.ready"
        " && window.musterApp.walkins.blanks.length > 0"
    )
    be_patient(page)
    return context, page


def register(page: Any, name: str, phone: str, email: str) -> None:
    page.click("#walkin-open")
    page.fill("#walkin-name", name)
    page.fill("#walkin-phone", phone)
    page.fill("#walkin-email", email)


def drawn_qr(page: Any) -> str:
    """What the QR drawn on the phone's canvas reads, as a camera would (the
    reader may find one symbol twice: one code is one text)."""
    png = page.locator("#walkin-qr").screenshot()
    [text] = {code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))}
    return str(text)


def ticket_of(live: LiveServer, venue: Any, name: str) -> dict[str, Any]:
    with live.api() as api:
        [found] = api.get(f"{venue.base}/tickets", params={"q": name}).json()["tickets"]
    return dict(found)


@pytest.mark.parametrize("locale", ["zh-CN", "en-GB"])
def test_a_supervisor_registers_walk_ins_online_and_offline(
    live_server: LiveServer, browser: Any, artifacts: Path, locale: str
) -> None:
    lang = locale[:2]
    words = WORDS[locale]
    venue = set_up_venue(live_server, f"新品发布会 · walk-ins {lang}", tickets=2)
    context, page = supervisor_phone(browser, live_server, venue, locale)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    assert page.inner_text("#walkin-open") == words["open"]
    held = page.evaluate("window.musterApp.walkins.available().length")
    assert held == 20

    # Online: one step, the server's answer.
    register(page, "陈静", "+86 136 5555 0101", "chen.jing@example.com")
    assert page.is_visible("#walkin-mail")  # an email: the ticket may be mailed
    shot(page, artifacts, f"walkin-{lang}-1-form")
    page.click("#walkin-form button[type=submit]")
    online = answer(page, artifacts, f"walkin-{lang}-2-online")
    assert online["status"] == "ok" and online["name"] == "陈静" and online["note"] == ""
    page.wait_for_selector("#walkin-ticket:not(.hidden)")
    assert page.get_attribute("#walkin-ticket", "data-note") in ("walkin.synced", "walkin.mailed")
    shot(page, artifacts, f"walkin-{lang}-3-qr")
    chen = ticket_of(live_server, venue, "陈静")
    assert chen["holder_email"] == "chen.jing@example.com"
    assert page.get_attribute("#walkin-ticket", "data-ticket") == str(chen["id"])
    assert headcount_inside(live_server, venue) == 1
    page.click("#walkin-done")

    # Offline: the phone binds a blank and admits it on its own.
    context.set_offline(True)
    register(page, "Oliver Grant", "13700001111", "")
    assert page.is_hidden("#walkin-mail")
    page.click("#walkin-form button[type=submit]")
    offline = answer(page, artifacts, f"walkin-{lang}-4-offline")
    assert offline["status"] == "ok" and offline["name"] == "Oliver Grant"
    assert offline["note"] == words["offline"]
    page.wait_for_selector("#walkin-ticket:not(.hidden)")
    assert page.get_attribute("#walkin-ticket", "data-note") == "walkin.queued"
    shot(page, artifacts, f"walkin-{lang}-5-offline-qr")
    oliver_id = int(page.get_attribute("#walkin-ticket", "data-ticket") or 0)
    secret = page.evaluate(
        f"window.musterApp.walkins.blanks.find((b) => b.ticket === {oliver_id}).blank_secret"
    )
    assert drawn_qr(page) == secret  # the QR he photographs is his ticket
    page.wait_for_function("() => document.querySelector('#queue').dataset.n === '1'")
    assert headcount_inside(live_server, venue) == 1  # the server knows nothing of it yet
    # His QR, scanned here again while offline: he is inside already.
    wedge(page, secret)
    assert answer(page)["reason"] == "already_inside"
    page.click("#walkin-done")

    # Back online: the registration goes once, and he counts once.
    context.set_offline(False)
    page.wait_for_function(
        "() => document.querySelector('#queue').dataset.n === '0'", timeout=SYNC_TIMEOUT_MS
    )
    assert headcount_inside(live_server, venue) == 2
    oliver = ticket_of(live_server, venue, "Oliver Grant")
    assert oliver["id"] == oliver_id and oliver["checked_in_at"]
    assert page.is_hidden("#conflicts")
    shot(page, artifacts, f"walkin-{lang}-6-synced")

    # Admitted by the QR they photographed, at another door: once.
    with live_server.api() as api:
        again = api.post(
            f"{venue.base}/scans",
            json={
                "secret": secret,
                "gate": venue.gate["id"],
                "direction": "in",
                "nonce": f"w-{lang}",
            },
        ).json()
    assert again["reason"] == "already_inside"
    with live_server.api() as api:
        headcount = api.get(f"{venue.base}/headcount").json()
    assert (headcount["expected"], headcount["checked_in"]) == (4, 2)  # 2 tickets + 2 walk-ins
    context.close()
    assert errors == []
