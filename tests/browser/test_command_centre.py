"""The command-centre page end to end: real Chromium at 1920×1080 against a
real ``muster serve`` (hub, headcount, stock, incidents, alerts), signed in
with a paired command token.

The test drives the venue through the API — a door phone's socket and its
offline queue, scans, stock movements, incidents — and sees each change on
the page within the expect timeout; acts from the page (acknowledge, assign,
resolve, acknowledge an alert, open the emergency plan); then cuts the
page's socket, changes things while it is away, and sees it resume with
nothing missed. It prints how long each change took to reach the page.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect
from websockets.sync.client import ClientConnection, connect

from tests.servers import LiveServer

#: How long a change may take to show. The realtime path itself takes tens
#: of milliseconds (the figures are printed); the margin is for a shared,
#: busy 2-core machine.
SHOWN_MS = 3000


def nonce() -> str:
    return uuid.uuid4().hex


class Venue:
    """One event set up through the API, with the calls the test makes."""

    def __init__(self, server: LiveServer) -> None:
        self.api = server.api()
        self.base_url = server.base_url
        self.event = self.post(
            "/api/v1/events",
            {
                "name": "新品发布会 2026",
                "starts_at": "2026-01-01T00:00:00+08:00",
                "ends_at": "2030-12-31T23:00:00+08:00",
                "timezone": "Asia/Shanghai",
            },
        )["id"]
        e = self.event
        self.zone = self.post(
            f"/api/v1/events/{e}/zones",
            {"name": "主会场 Main hall", "capacity": 4, "soft_warning": 0.5},
        )["id"]
        self.gate = self.post(
            f"/api/v1/events/{e}/gates",
            {"name": "北门 North", "from_zone": None, "to_zone": self.zone},
        )["id"]
        tickets = self.post(
            f"/api/v1/events/{e}/tickets",
            {"tickets": [{"holder_name": f"嘉宾 {i}"} for i in range(4)]},
        )
        self.secrets = [t["secret"] for t in tickets["tickets"]]
        self.badges = self.post(
            f"/api/v1/events/{e}/stock/items",
            {
                "name": "胸牌 Badges",
                "unit": "个",
                "location": "签到台",
                "quantity": 50,
                "low_threshold": 20,
            },
        )["id"]
        self.post(
            f"/api/v1/events/{e}/plans",
            {
                "category": "medical",
                "title_zh": "医疗急救",
                "title_en": "Medical emergency",
                "steps_zh": "1. 呼叫医疗组\n2. 疏散围观人群",
                "steps_en": "1. Call the medics\n2. Clear the crowd",
            },
        )
        self.command_token = self.pair("command", "指挥中心大屏")
        self.door = self.pair("door", "North-1", gate=self.gate)

    def post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        answer = self.api.post(path, json=body, headers=headers)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def pair(self, role: str, name: str, gate: int | None = None) -> str:
        code = self.post(
            f"/api/v1/events/{self.event}/pairing-codes",
            {"role": role, "gate": gate, "device_name": name},
        )
        paired = httpx.post(
            f"{self.base_url}/api/v1/devices/pair",
            json={"code": code["code"], "device_name": name},
            timeout=30,
        )
        assert paired.status_code in (200, 201), paired.text
        return str(paired.json()["token"])

    def scan(self, ticket: int) -> None:
        answer = self.post(
            f"/api/v1/events/{self.event}/scans",
            {
                "secret": self.secrets[ticket],
                "gate": self.gate,
                "direction": "in",
                "nonce": nonce(),
                "scanned_at": datetime.now(UTC).isoformat(),
            },
            token=self.door,
        )
        assert answer["status"] == "ok", answer

    def issue(self, quantity: int) -> None:
        self.post(
            f"/api/v1/events/{self.event}/stock/movements",
            {"kind": "issue", "item": self.badges, "quantity": quantity, "nonce": nonce()},
        )

    def report(self, title: str, category: str, severity: str) -> int:
        answer = self.post(
            f"/api/v1/events/{self.event}/incidents",
            {
                "category": category,
                "severity": severity,
                "title": title,
                "zone": self.zone,
                "nonce": nonce(),
            },
        )
        return int(answer["id"])


class DoorPhone:
    """A door device's socket, as the staff app holds it: online while open."""

    def __init__(self, server: LiveServer, venue: Venue) -> None:
        url = server.base_url.replace("http://", "ws://") + f"/ws/events/{venue.event}"
        self.stack = contextlib.ExitStack()
        self.socket: ClientConnection = self.stack.enter_context(connect(url, open_timeout=10))
        self.socket.send(json.dumps({"type": "hello", "token": venue.door, "topics": ["gates"]}))
        welcome = json.loads(self.socket.recv(timeout=10))
        assert welcome["type"] == "welcome", welcome

    def report_queue(self, length: int) -> None:
        self.socket.send(json.dumps({"type": "status", "queue": length}))

    def close(self) -> None:
        self.stack.close()


@pytest.fixture
def venue(server: LiveServer) -> Iterator[Venue]:
    made = Venue(server)
    yield made
    made.api.close()


@pytest.fixture
def door(server: LiveServer, venue: Venue) -> Iterator[DoorPhone]:
    phone = DoorPhone(server, venue)
    yield phone
    phone.close()


@pytest.fixture
def page(browser: Any, venue: Venue) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    try:
        yield context.new_page()
    finally:
        context.close()


class Stopwatch:
    """How long each change took from its API answer to the page."""

    def __init__(self) -> None:
        self.figures: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        """Time the expectations in the block (the change has just been answered)."""
        start = time.perf_counter()
        yield
        self.figures.append((what, (time.perf_counter() - start) * 1000))

    def report(self) -> None:
        print("\nAPI answer → on the command-centre page (ms):")
        for what, ms in self.figures:
            print(f"  {what:<34} {ms:7.0f}")
        print("  reproduce: .venv/bin/python -m pytest tests/browser/test_command_centre.py -q -s")


def card(page: Page, incident: int) -> Locator:
    return page.locator(f"[data-incident='{incident}']")


def test_command_centre_live(
    page: Page,
    server: LiveServer,
    venue: Venue,
    door: DoorPhone,
    artifacts: Path,
    request: pytest.FixtureRequest,
) -> None:
    frames: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("websocket", lambda ws: _record_frames(ws, frames))
    page.goto(f"{server.base_url}/command/#token={venue.command_token}&event={venue.event}")
    connection = page.locator("#connection")
    expect(connection).to_have_attribute("data-state", "live", timeout=10_000)
    expect(page.locator("#event-name")).to_have_text("新品发布会 2026")
    expect(page.get_by_test_id("inside-total")).to_have_text("0")
    watch = Stopwatch()

    # A door phone is online at the gate, with two scans in its offline queue.
    gate = page.locator(f"[data-gate='{venue.gate}']")
    door.report_queue(2)
    with watch("door online, queue reported"):
        expect(gate.locator(".device.online")).to_contain_text("待传 2", timeout=SHOWN_MS)
    expect(gate).not_to_have_class(re.compile("offline"))

    # Scans: the total, the zone, the gate, the arrivals chart; near full at 2 of 4.
    venue.scan(0)
    with watch("scan → inside"):
        expect(page.get_by_test_id("inside-total")).to_have_text("1", timeout=SHOWN_MS)
    expect(page.get_by_test_id("checked-in")).to_have_text("1")
    expect(page.get_by_test_id("expected")).to_have_text("4")
    expect(page.get_by_test_id("arrivals-now")).to_contain_text("1")
    expect(gate.locator(".gate-counts")).to_contain_text("进 1")
    zone = page.locator(f"[data-zone='{venue.zone}']")
    venue.scan(1)
    with watch("scan → zone near full + alert"):
        expect(zone).to_have_class(re.compile("level-near"), timeout=SHOWN_MS)
        expect(page.locator("[data-kind='zone_near_full']")).to_be_visible(timeout=SHOWN_MS)
    expect(zone.get_by_test_id("zone-inside")).to_have_text("2")

    # Stock: an issue lowers the level; crossing the threshold raises one alert.
    badges = page.locator(f"[data-stock='{venue.badges}']")
    quantity = badges.get_by_test_id("stock-quantity")
    expect(quantity).to_have_text("50")
    venue.issue(10)
    with watch("stock movement"):
        expect(quantity).to_have_text("40", timeout=SHOWN_MS)
    venue.issue(25)
    with watch("stock below threshold + alert"):
        expect(badges).to_have_class(re.compile("level-low"), timeout=SHOWN_MS)
        expect(page.locator("[data-kind='low_stock']")).to_be_visible(timeout=SHOWN_MS)
    expect(quantity).to_have_text("15")

    # An incident arrives open, with its plan one click away.
    medical = venue.report("观众晕倒 Guest fainted", "medical", "P2")
    with watch("incident reported"):
        expect(page.locator(f"[data-column='open'] [data-incident='{medical}']")).to_be_visible(
            timeout=SHOWN_MS
        )
    incident = card(page, medical)
    expect(incident).to_contain_text("主会场 Main hall")
    incident.locator("[data-action='plan']").click()
    expect(page.locator("#plans-dialog details[open]")).to_contain_text("呼叫医疗组")
    page.locator("#plans-dialog button[type='submit']").click()

    # Acting from the page: acknowledge, assign, resolve.
    incident.locator("[data-action='ack']").click()
    expect(page.locator(f"[data-column='acknowledged'] [data-incident='{medical}']")).to_be_visible(
        timeout=SHOWN_MS
    )
    expect(card(page, medical)).to_contain_text("指挥中心大屏")  # who acknowledges it has it
    card(page, medical).locator("[data-action='assign']").click()
    page.locator("#assignee-input").fill("电工老李")
    page.locator("#assign-dialog button[value='ok']").click()
    expect(card(page, medical)).to_contain_text("电工老李", timeout=SHOWN_MS)
    card(page, medical).locator("[data-action='resolve']").click()
    page.locator("#resolve-note").fill("已送医务室")
    page.locator("#resolve-dialog button[value='ok']").click()
    expect(page.locator(f"[data-column='resolved'] [data-incident='{medical}']")).to_be_visible(
        timeout=SHOWN_MS
    )
    log = venue.api.get(f"/api/v1/events/{venue.event}/incidents/{medical}").json()
    assert log["status"] == "resolved" and log["assignee"]["name"] == "电工老李"

    # Acknowledging an alert from the page.
    low_stock = page.locator("[data-kind='low_stock']")
    low_stock.locator("[data-action='ack-alert']").click()
    expect(low_stock).to_have_class(re.compile("acked"), timeout=SHOWN_MS)
    open_alerts = venue.api.get(f"/api/v1/events/{venue.event}/alerts?open=true").json()["alerts"]
    assert "low_stock" not in {a["kind"] for a in open_alerts}

    # The door phone drops off: its gate stands out.
    door.close()
    with watch("door offline"):
        expect(gate).to_have_class(re.compile("offline"), timeout=SHOWN_MS)

    # Cut the page's socket; while it is away an incident is reported and a
    # ticket scanned. It comes back by itself and misses neither.
    page.context.set_offline(True)
    page.evaluate("window.musterCommand.socket.drop()")
    expect(connection).not_to_have_attribute("data-state", "live", timeout=SHOWN_MS)
    expect(page.locator("#dashboard")).to_have_class(re.compile("stale"))
    power = venue.report("主会场停电 Power cut", "power", "P1")
    venue.scan(2)
    page.context.set_offline(False)
    expect(connection).to_have_attribute("data-state", "live", timeout=15_000)
    expect(page.locator(f"[data-column='open'] [data-incident='{power}']")).to_be_visible(
        timeout=SHOWN_MS
    )
    expect(page.get_by_test_id("inside-total")).to_have_text("3", timeout=SHOWN_MS)
    # Three arrivals seconds apart, all in the chart (scan times may straddle a minute).
    expect(page.get_by_test_id("arrivals-total")).to_contain_text("一小时共 3")
    # The page said where it was, and the hub replayed the gap (not a snapshot).
    hellos = [i for i, (way, m) in enumerate(frames) if way == "sent" and m["type"] == "hello"]
    assert len(hellos) >= 2, frames
    since = frames[hellos[-1]][1]["since"]
    assert {"incidents", "alerts"} <= since.keys(), since
    answers = [m for way, m in frames[hellos[-1] :] if way == "received"]
    assert {"type": "resume", "topic": "incidents"}.items() <= next(
        m for m in answers if m.get("topic") == "incidents"
    ).items(), answers
    # The resolved incident is still on the board after the fresh snapshot.
    expect(page.locator(f"[data-column='resolved'] [data-incident='{medical}']")).to_be_visible()

    page.wait_for_timeout(400)  # let the last bar transitions settle for the picture
    backend = request.node.callspec.params["server"]
    page.screenshot(path=str(artifacts / f"command-centre-1920x1080-{backend}.png"))
    watch.report()
    assert not errors, errors


def _record_frames(ws: Any, frames: list[tuple[str, dict[str, Any]]]) -> None:
    def keep(way: str, payload: str | bytes) -> None:
        message = json.loads(payload)
        if way == "received" and message.get("type") in ("snapshot", "update"):
            message = {k: v for k, v in message.items() if k != "data"}
        frames.append((way, message))

    ws.on("framesent", lambda payload: keep("sent", payload))
    ws.on("framereceived", lambda payload: keep("received", payload))
