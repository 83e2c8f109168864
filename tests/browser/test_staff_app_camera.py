"""A real ticket read through the camera: Chromium's fake capture device
plays a video the test makes (the ticket's QR code, drawn by checkin.qr, as
YUV4MPEG2 frames), and the app reads it with the vendored ZXing WebAssembly
fallback (Chromium on Linux has no native BarcodeDetector), served from our
own origin. The pairing QR is read the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CspWatchingBrowser
from tests.browser.fake_camera import camera_args, write_qr_video
from tests.browser.staff_app import (
    PHONE,
    answer,
    be_patient,
    headcount_inside,
    pairing_url,
    set_up_venue,
    shot,
)
from tests.servers import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def camera_browser(playwright_instance: Any, chromium_path: str, tmp_path: Path) -> Iterator[Any]:
    """Launch Chromium whose camera shows ``tmp_path / 'camera.y4m'`` (write it first)."""
    video = tmp_path / "camera.y4m"
    started: list[Any] = []

    def launch(text: str) -> Any:
        write_qr_video(video, [text])
        browser = CspWatchingBrowser(
            playwright_instance.chromium.launch(
                executable_path=chromium_path, args=camera_args(video)
            )
        )
        started.append(browser)
        return browser

    yield launch
    for browser in started:
        browser.close()
    # The decoder is WebAssembly: the pages' CSP must let it compile.
    violations = [line for browser in started for line in browser.violations]
    assert not violations, "\n".join(violations)


def phone(browser: Any, base_url: str) -> tuple[Any, Any]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    context.grant_permissions(["camera"], origin=base_url)
    return context, context.new_page()


def test_ticket_scanned_by_camera(
    live_server: LiveServer, camera_browser: Any, artifacts: Path
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · camera", tickets=1)
    ticket = venue.tickets[0]
    browser = camera_browser(ticket["secret"])
    context, page = phone(browser, live_server.base_url)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    wasm: list[str] = []
    page.on("request", lambda r: wasm.append(r.url) if r.url.endswith(".wasm") else None)
    page.goto(pairing_url(live_server, venue, "door"))
    page.wait_for_function("() => window.musterApp && window.musterApp.book.ready")
    be_patient(page)

    page.click("#camera-toggle")
    found = answer(page, artifacts, "camera-01-admitted")
    assert found["status"] == "ok" and found["name"] == "王伟"
    assert headcount_inside(live_server, venue) == 1
    # The code stays in front of the lens: it is one scan, not one a frame.
    page.wait_for_timeout(1500)
    assert page.is_hidden("#answer")
    assert headcount_inside(live_server, venue) == 1
    kind = page.evaluate("import('/app/camera.js').then(async (m) => (await m.detector()).kind)")
    assert kind == "wasm"
    assert wasm and all(url.startswith(live_server.base_url + "/vendor/") for url in wasm)
    shot(page, artifacts, "camera-02-viewfinder")
    page.click("#camera-toggle")
    context.close()
    assert errors == []


def test_pairing_qr_scanned_by_camera(
    live_server: LiveServer, camera_browser: Any, artifacts: Path
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · camera pairing", tickets=0)
    browser = camera_browser(pairing_url(live_server, venue, "staff"))
    context, page = phone(browser, live_server.base_url)
    page.goto(f"{live_server.base_url}/app/")
    page.wait_for_selector("#view-pair:not(.hidden)")
    shot(page, artifacts, "camera-03-pairing")
    page.click("#pair-camera")
    page.wait_for_function("() => window.musterApp && window.musterApp.device.role === 'staff'")
    # The staff view is shown once the device is stored: wait for it, not race it.
    page.wait_for_selector("#view-incidents", state="visible")
    assert page.is_hidden("#tabs [data-view=scan]")
    context.close()
