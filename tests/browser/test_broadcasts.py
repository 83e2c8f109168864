"""An urgent broadcast, in real Chromium against a real server: the command centre
sends one with an emergency plan to everyone; a phone paired to a roster member,
offline at the time, shows it full-screen (text and plan) once back online; its
acknowledgement, tapped on the phone, appears on the command centre's receipts
(the person moves from "not yet" to "confirmed", 1 / 2); the plan is then confirmed
from the phone's device tab (readiness 1 / 2). Screenshots in zh-CN and
en-GB: ``test-artifacts/broadcast-phone-*.png`` (390×844) and
``broadcast-command-*.png`` (1920×1080)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.staff_app import PHONE, SYNC_TIMEOUT_MS, device_token, set_up_venue
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

SCREEN = {"width": 1920, "height": 1080}
SHOWN_MS = 15_000


def roster_phone(live: LiveServer, venue: Any, name: str, team: str) -> str:
    """A member on the roster; the pairing link of a phone made for them."""
    with live.api() as api:
        member = api.post(
            f"{venue.base}/staff", json={"name": name, "team": team, "role": "staff"}
        ).json()
        made = api.post(f"/api/v1/staff/{member['id']}/pairing-codes", json={})
    assert made.status_code == 201, made.text
    return str(made.json()["pairing_url"])


@pytest.mark.parametrize("locale", ["zh-CN", "en-GB"])
def test_an_urgent_broadcast_reaches_a_phone_that_was_offline_and_its_ack_shows(
    live_server: LiveServer, browser: Any, artifacts: Path, locale: str
) -> None:
    tag = "zh" if locale == "zh-CN" else "en"
    venue = set_up_venue(live_server, f"发布会 launch {tag}", tickets=0)
    with live_server.api() as api:
        plan = api.post(
            f"{venue.base}/plans",
            json={
                "category": "crowd",
                "title_zh": "人群拥挤预案",
                "title_en": "Crowding plan",
                "steps_zh": "1. 暂停北门入场\n2. 引导人群去东门",
                "steps_en": "1. Hold entry at the north door\n2. Send people to the east door",
            },
        ).json()
        api.post(f"{venue.base}/staff", json={"name": "周婷", "team": "接待", "role": "staff"})
    link = roster_phone(live_server, venue, "李娜", "安保")
    errors: list[str] = []

    phone_context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale=locale
    )
    phone = phone_context.new_page()
    phone.on("pageerror", lambda exc: errors.append(f"phone: {exc}"))
    phone.goto(link)
    phone.wait_for_function(
        "() => window.musterApp && document.querySelector('#online').dataset.state === 'online'"
    )
    phone.wait_for_function("() => window.musterApp.live.live")

    screen_context = browser.new_context(viewport=SCREEN, locale=locale)
    screen = screen_context.new_page()
    screen.on("pageerror", lambda exc: errors.append(f"screen: {exc}"))
    token = device_token(live_server, venue, "command")
    screen.goto(f"{live_server.base_url}/command/#token={token}&event={venue.event['id']}")
    expect(screen.locator("#connection")).to_have_attribute("data-state", "live", timeout=SHOWN_MS)

    # The venue's Wi-Fi dies under the phone: no network, its socket gone.
    phone_context.set_offline(True)
    phone.evaluate("() => window.musterApp.live.drop()")
    phone.wait_for_function("() => !window.musterApp.live.live")

    screen.click("#broadcasts-button")
    expect(screen.locator("#broadcasts-dialog")).to_be_visible(timeout=SHOWN_MS)
    # The roster and the plans are in the form (it is drawn again when they come).
    plan_option = screen.locator(f"#bc-plan option[value='{plan['id']}']")
    expect(plan_option).to_have_count(1, timeout=SHOWN_MS)
    screen.fill("#bc-text-zh", "北门人群拥挤，立即暂停入场！")
    screen.fill("#bc-text-en", "Crowding at the north door: hold entry now!")
    screen.select_option("#bc-priority", "urgent")
    screen.select_option("#bc-plan", str(plan["id"]))
    # The form is drawn again whenever a list or the roster comes (every
    # acknowledgement brings one): what is being typed keeps its node, its
    # words and its focus (a lost zh text sent an English-only broadcast).
    screen.focus("#bc-text-zh")
    kept = screen.evaluate(
        """() => {
            const typing = document.querySelector('#bc-text-zh');
            window.dispatchEvent(new CustomEvent('languagechange-muster'));
            return typing.isConnected && document.activeElement === typing
                && document.querySelector('#bc-plan').value !== '';
        }"""
    )
    assert kept, "drawing the form again replaced the text being typed"
    screen.click("#bc-send")
    count = screen.locator("#bc-detail-count")
    expect(count).to_have_attribute("data-expected", "2", timeout=SHOWN_MS)
    expect(count).to_have_attribute("data-acked", "0", timeout=SHOWN_MS)
    expect(screen.locator("#bc-waiting li")).to_have_count(2, timeout=SHOWN_MS)
    expect(phone.locator("#broadcast-urgent")).to_be_hidden()

    # Back online: the socket resumes and the broadcast takes the whole screen.
    phone_context.set_offline(False)
    urgent = phone.locator("#broadcast-urgent")
    urgent.wait_for(state="visible", timeout=SYNC_TIMEOUT_MS)
    words = phone.inner_text("#bc-text")
    assert ("暂停入场" if tag == "zh" else "hold entry now") in words, words
    plan_text = phone.inner_text("#bc-plan")
    assert ("引导人群" if tag == "zh" else "east door") in plan_text, plan_text
    box = urgent.bounding_box()
    assert box is not None and box["width"] >= PHONE["width"] - 1
    assert box["height"] >= PHONE["height"] - 1
    phone.screenshot(path=str(artifacts / f"broadcast-phone-{tag}-urgent.png"))

    phone.click("#bc-ack")
    urgent.wait_for(state="hidden", timeout=SHOWN_MS)
    phone.wait_for_function(
        "() => document.querySelector('#queue').dataset.n === '0'", timeout=SYNC_TIMEOUT_MS
    )
    expect(count).to_have_attribute("data-acked", "1", timeout=SHOWN_MS)
    expect(screen.locator("#bc-acked li")).to_have_count(1, timeout=SHOWN_MS)
    assert "李娜" in screen.inner_text("#bc-acked")
    assert "周婷" in screen.inner_text("#bc-waiting")
    expect(screen.locator("#bc-resend")).to_be_visible(timeout=SHOWN_MS)
    screen.screenshot(path=str(artifacts / f"broadcast-command-{tag}-receipts.png"))
    phone.screenshot(path=str(artifacts / f"broadcast-phone-{tag}-after.png"))

    # The plan, read before the day: confirmed from the phone's device tab.
    phone.click("#tabs button[data-view='device']")
    item = phone.locator(f"#plans-list li[data-plan='{plan['id']}']")
    expect(item).to_have_attribute("data-confirmed", "no", timeout=SHOWN_MS)
    item.locator(".plan-confirm").click()
    expect(item).to_have_attribute("data-confirmed", "yes", timeout=SHOWN_MS)
    phone.screenshot(path=str(artifacts / f"broadcast-phone-{tag}-plans.png"))
    with live_server.api() as api:
        readiness = api.get(f"{venue.base}/plans").json()["readiness"]
    assert (readiness["confirmed"], readiness["expected"]) == (1, 2)

    # The receipts as the server keeps them: one acknowledgement, by 李娜.
    with live_server.api() as api:
        receipts = api.get(f"/api/v1/events/{venue.event['id']}/broadcasts").json()
    [sent] = receipts["broadcasts"]
    assert sent["receipts"] == {"expected": 2, "acked": 1}
    assert not errors, errors
    phone_context.close()
    screen_context.close()


def test_what_the_phone_shows_and_the_audience_the_command_centre_sends(
    live_server: LiveServer, browser: Any
) -> None:
    """The pure halves: ``broadcastView`` (pwa/app/broadcasts.js) and ``audienceFrom``
    (pwa/command/broadcasts.js), run in Chromium as the pages run them."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.base_url}/shared/base.css")  # our origin, nothing running
    found = page.evaluate(
        """async () => {
          const { broadcastView } = await import("/app/broadcasts.js");
          const { audienceFrom } = await import("/command/broadcasts.js");
          const b = (id, priority, more = {}) => ({ id, priority, ack_required: true, acked: false, ...more });
          const list = [b(5, "info"), b(4, "urgent"), b(3, "urgent"), b(2, "urgent", { acked: true }),
            b(1, "info", { ack_required: false }), b(6, "urgent", { ack_required: false })];
          const shown = (queued, dismissed) => {
            const view = broadcastView(list, new Set(queued), new Set(dismissed));
            return [view.urgent && view.urgent.id, view.waiting, view.banners.map((x) => x.id)];
          };
          return {
            fresh: shown([], []),
            oneQueued: shown([3], [1]),
            allDone: shown([3, 4], [1, 5, 6]),
            audiences: [audienceFrom("everyone", ["x"]), audienceFrom("zones", ["7", "8"]),
              audienceFrom("teams", ["security"]), audienceFrom("people", [])],
          };
        }"""
    )
    context.close()
    # The oldest urgent one takes the screen; info and no-confirmation ones are banners.
    assert found["fresh"] == [3, 2, [5, 1, 6]]
    assert found["oneQueued"] == [4, 1, [5, 6]]  # tapped offline: gone from the screen
    assert found["allDone"] == [None, 0, []]
    assert found["audiences"] == [
        {"everyone": True},
        {"zones": [7, 8]},
        {"teams": ["security"]},
        None,
    ]
