"""Revocation as an organiser and a phone see it, in Chromium against a real
``muster serve``: the console's tokens section lists every token (none of
their secrets), revokes a paired door phone, and that phone, open on its
scanner, is closed with 4401, goes back to the pairing screen and stays
there (its socket client stopped, no reconnect)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.staff_app import open_paired_phone, set_up_venue
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1440, "height": 900}


def test_revoke_a_phone_from_the_tokens_section(
    live_server: LiveServer, browser: Any, artifacts: Any
) -> None:
    venue = set_up_venue(live_server, "Tokens")
    phone_context, phone = open_paired_phone(browser, live_server, venue)
    sockets: list[Any] = []
    phone.on("websocket", lambda ws: sockets.append(ws))
    phone.wait_for_function("window.musterApp.live.live")

    console = browser.new_context(viewport=LAPTOP, locale="en-GB").new_page()
    errors: list[str] = []
    console.on("pageerror", lambda exc: errors.append(str(exc)))
    console.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    console.wait_for_selector("#event-list")
    console.goto(f"{live_server.base_url}/console/#event={venue.event['id']}&tab=tokens")
    console.wait_for_selector("#tokens tr[data-token]")
    text = console.inner_text("#tokens")
    assert "door test phone" in text and "In use here" in text
    assert live_server.token not in console.content()
    row = console.locator("#tokens tr[data-token]", has_text="door test phone")
    row.locator("button").click()
    console.click("dialog.ask button.danger")
    console.locator("#tokens tr.revoked", has_text="door test phone").wait_for()
    console.screenshot(path=str(artifacts / "console-tokens-en.png"))

    # The phone is cut off at once and back at the pairing screen, for good.
    phone.wait_for_selector("#view-pair:not(.hidden)", timeout=5000)
    assert phone.evaluate("window.musterApp.live.stopped") is True
    assert phone.evaluate("window.musterApp.live.lastClose") == 4401
    assert "pair it again" in phone.inner_text("#view-pair")
    assert len(sockets) <= 1, "the phone opened another socket after 4401"
    # A lost phone keeps nothing: the bundle and what it saw are wiped.
    phone.wait_for_function(
        """async () => {
          const m = await import("/app/store.js");
          return (await m.get("kv", "bundle")) === undefined && (await m.count("seen")) === 0;
        }"""
    )
    phone.screenshot(path=str(artifacts / "staff-app-revoked.png"))
    assert errors == []
    phone_context.close()
