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

from checkin.qr import qr_matrix
from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.staff_app import PHONE, answer, headcount_inside, pairing_url, set_up_venue, shot
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

WIDTH, HEIGHT, FRAMES = 640, 480, 10


def write_qr_video(path: Path, text: str) -> None:
    """A few identical frames of ``text``'s QR code, centred, in YUV4MPEG2 C420."""
    matrix = qr_matrix(text)
    scale = min(WIDTH, HEIGHT) * 9 // 10 // len(matrix)
    side = scale * len(matrix)
    left, top = (WIDTH - side) // 2, (HEIGHT - side) // 2
    luma = bytearray(b"\xeb" * (WIDTH * HEIGHT))  # white (video range)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if not dark:
                continue
            for dy in range(scale):
                start = (top + y * scale + dy) * WIDTH + left + x * scale
                luma[start : start + scale] = b"\x10" * scale  # black
    chroma = b"\x80" * (WIDTH * HEIGHT // 4)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420\n".encode())
        for _ in range(FRAMES):
            out.write(b"FRAME\n")
            out.write(luma)
            out.write(chroma)
            out.write(chroma)


@pytest.fixture
def camera_browser(playwright_instance: Any, chromium_path: str, tmp_path: Path) -> Iterator[Any]:
    """Launch Chromium whose camera shows ``tmp_path / 'camera.y4m'`` (write it first)."""
    video = tmp_path / "camera.y4m"
    started: list[Any] = []

    def launch(text: str) -> Any:
        write_qr_video(video, text)
        browser = playwright_instance.chromium.launch(
            executable_path=chromium_path,
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        started.append(browser)
        return browser

    yield launch
    for browser in started:
        browser.close()


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
    page.wait_for_function("window.musterApp && window.musterApp.book.ready")

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
    page.wait_for_function("window.musterApp && window.musterApp.device.role === 'staff'")
    # The staff view is shown once the device is stored: wait for it, not race it.
    page.wait_for_selector("#view-incidents", state="visible")
    assert page.is_hidden("#tabs [data-view=scan]")
    context.close()
