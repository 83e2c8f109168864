"""The command-centre page against a scripted websocket (Playwright's
``route_web_socket``): the client side of the realtime protocol — resume
positions in the hello, replay overlap ignored, ping answered, close codes —
and the page's panels with every kind of state on them, screenshotted at
1920×1080 and 1366×768 in both languages.

The REST calls (events, plans) go to a real ``muster serve``; only the socket
is scripted, so these tests pin the page to the protocol in DESIGN.md.
``test_command_centre.py`` is the end-to-end test against the real hub.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.servers import LiveServer

TIMEOUT_MS = 3000


def iso(moment: datetime) -> str:
    return moment.isoformat()


class FakeHub:
    """Plays the server's side of /ws/events/{e} for one page."""

    def __init__(self) -> None:
        self.sockets: list[WebSocketRoute] = []
        self.hellos: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.snapshots: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.on_hello_close: int | None = None
        self.role = "organiser"

    def route(self, ws: WebSocketRoute) -> None:
        self.sockets.append(ws)
        ws.on_message(lambda text: self._message(ws, text))

    def _message(self, ws: WebSocketRoute, text: str | bytes) -> None:
        message = json.loads(text)
        self.received.append(message)
        if message.get("type") != "hello":
            return
        self.hellos.append(message)
        if self.on_hello_close is not None:
            ws.close(code=self.on_hello_close, reason="refused")
            return
        ws.send(
            json.dumps(
                {
                    "type": "welcome",
                    "event": 1,
                    "role": self.role,
                    "topics": message["topics"],
                    "ping_interval": 20,
                }
            )
        )
        for topic in message["topics"]:
            if topic in self.snapshots:
                epoch, offset, data = self.snapshots[topic]
                self.send(ws, "snapshot", topic, epoch, offset, data)

    @staticmethod
    def send(
        ws: WebSocketRoute, kind: str, topic: str, epoch: str, offset: int, data: dict[str, Any]
    ) -> None:
        ws.send(
            json.dumps(
                {"type": kind, "topic": topic, "epoch": epoch, "offset": offset, "data": data}
            )
        )

    @property
    def current(self) -> WebSocketRoute:
        return self.sockets[-1]


def venue_picture(now: datetime) -> dict[str, dict[str, Any]]:
    """Every kind of state the panels show: a near-full and a full zone, an
    offline door, low and critical stock, escalated and resolved incidents."""
    arrivals = {
        "start": iso(now.replace(second=0, microsecond=0) - timedelta(minutes=59)),
        "counts": [3, 5, 8, 12, 20, 35, 60, 88, 120, 140, 160, 152, 130, 118, 96]
        + [80 - i for i in range(45)],
    }
    headcount = {
        "inside": 3412,
        "checked_in": 3650,
        "expected": 5000,
        "not_yet_arrived": 1350,
        "zones": [
            {
                "id": 1,
                "name": "主会场 Main hall",
                "inside": 1840,
                "capacity": 2000,
                "soft_warning": 0.9,
                "level": "near_full",
            },
            {
                "id": 2,
                "name": "展区 B Expo B",
                "inside": 800,
                "capacity": 800,
                "soft_warning": 0.9,
                "level": "full",
            },
            {
                "id": 3,
                "name": "VIP 休息室",
                "inside": 42,
                "capacity": 120,
                "soft_warning": 0.9,
                "level": "ok",
            },
            {
                "id": 4,
                "name": "Outdoor plaza",
                "inside": 730,
                "capacity": None,
                "soft_warning": 0.9,
                "level": "ok",
            },
        ],
        "gates": [
            {"id": 11, "name": "北门 North", "in": 2210, "out": 180},
            {"id": 12, "name": "南门 South", "in": 1420, "out": 95},
            {"id": 13, "name": "VIP 通道", "in": 61, "out": 19},
        ],
        "arrivals_per_minute": arrivals,
    }
    seen = iso(now - timedelta(seconds=4))

    def device(
        id_: int, name: str, gate: int, online: bool, queue: int, rate: int, last_seen: str = seen
    ) -> dict[str, Any]:
        return {
            "id": id_,
            "name": name,
            "kind": "device",
            "gate": gate,
            "online": online,
            "last_seen": last_seen,
            "queue": queue,
            "scans_per_minute": rate,
        }

    gates = {
        "gates": [
            {
                "id": 11,
                "name": "北门 North",
                "in": 2210,
                "out": 180,
                "scans_per_minute": 80,
                "devices": [101, 102],
                "online": 2,
            },
            {
                "id": 12,
                "name": "南门 South",
                "in": 1420,
                "out": 95,
                "scans_per_minute": 29,
                "devices": [103, 104],
                "online": 1,
            },
            {
                "id": 13,
                "name": "VIP 通道",
                "in": 61,
                "out": 19,
                "scans_per_minute": 3,
                "devices": [105],
                "online": 1,
            },
        ],
        "devices": [
            device(101, "North-1", 11, True, 0, 42),
            device(102, "North-2", 11, True, 0, 38),
            device(103, "South-1", 12, False, 57, 0, iso(now - timedelta(minutes=3))),
            device(104, "South-2", 12, True, 0, 29),
            device(105, "VIP-1", 13, True, 0, 3),
        ],
    }
    stock = {
        "items": [
            {
                "id": 1,
                "name": "矿泉水 Water",
                "unit": "瓶",
                "location": "仓库 A",
                "quantity": 1200,
                "low_threshold": 300,
                "critical_threshold": 100,
                "level": "ok",
            },
            {
                "id": 2,
                "name": "胸牌 Badges",
                "unit": "个",
                "location": "签到台",
                "quantity": 80,
                "low_threshold": 200,
                "critical_threshold": 100,
                "level": "critical",
            },
            {
                "id": 3,
                "name": "礼品袋 Gift bags",
                "unit": "个",
                "location": "北门",
                "quantity": 240,
                "low_threshold": 250,
                "critical_threshold": None,
                "level": "low",
            },
            {
                "id": 4,
                "name": "对讲机 Radios",
                "unit": "台",
                "location": "指挥中心",
                "quantity": 36,
                "low_threshold": 10,
                "critical_threshold": 5,
                "level": "ok",
            },
        ]
    }

    def incident(
        id_: int,
        title: str,
        category: str,
        severity: str,
        status: str,
        created: timedelta,
        **more: Any,
    ) -> dict[str, Any]:
        return {
            "id": id_,
            "title": title,
            "category": category,
            "severity": severity,
            "status": status,
            "location": {"zone": None, "gate": None, "text": ""},
            "equipment_tag": None,
            "escalation_level": 0,
            "assignee": None,
            "reports": 1,
            "created_at": iso(now - created),
            "acknowledged_at": None,
            "resolved_at": None,
            "plan": None,
            **more,
        }

    plan = {
        "id": 1,
        "category": "medical",
        "title": {"zh": "医疗急救", "en": "Medical emergency"},
        "steps": {
            "zh": "1. 呼叫医疗组\n2. **疏散**围观人群",
            "en": "1. Call the medics\n2. **Clear** the crowd",
        },
    }
    incidents = {
        "incidents": [
            incident(
                1,
                "投影仪无信号 Projector down",
                "equipment_failure",
                "P1",
                "open",
                timedelta(minutes=4),
                location={"zone": 1, "gate": None, "text": "舞台左侧"},
                escalation_level=1,
                equipment_tag="PJ-07",
            ),
            incident(
                2,
                "观众晕倒 Guest fainted",
                "medical",
                "P2",
                "open",
                timedelta(seconds=50),
                location={"zone": 2, "gate": None, "text": ""},
                plan=plan,
                reports=2,
            ),
            incident(
                3,
                "检票机断网 Reader offline",
                "network",
                "P2",
                "acknowledged",
                timedelta(minutes=9),
                location={"zone": None, "gate": 12, "text": ""},
                acknowledged_at=iso(now - timedelta(minutes=7)),
                assignee={"id": None, "name": "李娜"},
            ),
            incident(
                4,
                "洗手间漏水 Leak in restroom",
                "facility",
                "P4",
                "resolved",
                timedelta(minutes=40),
                location={"zone": None, "gate": None, "text": "B1"},
                acknowledged_at=iso(now - timedelta(minutes=38)),
                resolved_at=iso(now - timedelta(minutes=10)),
                assignee={"id": 3, "name": "张强"},
            ),
        ]
    }
    alerts = {
        "alerts": [
            {
                "id": 1,
                "kind": "zone_full",
                "severity": "critical",
                "data": {"zone": 2, "name": "展区 B Expo B", "inside": 800, "capacity": 800},
                "created_at": iso(now - timedelta(minutes=1)),
            },
            {
                "id": 2,
                "kind": "conflict",
                "severity": "warning",
                "data": {
                    "ticket": 1042,
                    "code": "000010",
                    "gate_name": "North-1",
                    "scanned_at": iso(now - timedelta(minutes=3)),
                },
                "created_at": iso(now - timedelta(minutes=2)),
            },
            {
                "id": 3,
                "kind": "escalation",
                "severity": "critical",
                "data": {
                    "incident": 1,
                    "level": 1,
                    "severity": "P1",
                    "title": "投影仪无信号",
                    "after_seconds": 120,
                },
                "created_at": iso(now - timedelta(minutes=2)),
            },
            {
                "id": 4,
                "kind": "low_stock",
                "severity": "warning",
                "data": {
                    "item": 1,
                    "name": "胸牌 Badges",
                    "location": "",
                    "quantity": 80,
                    "unit": "",
                    "threshold": 200,
                    "level": "low",
                },
                "created_at": iso(now - timedelta(minutes=6)),
                "acknowledged_at": iso(now - timedelta(minutes=5)),
            },
        ]
    }
    return {
        "headcount": headcount,
        "gates": gates,
        "stock": stock,
        "incidents": incidents,
        "alerts": alerts,
    }


@pytest.fixture(scope="module")
def event_id(live_server: LiveServer) -> int:
    with live_server.api() as api:
        answer = api.post(
            "/api/v1/events",
            json={
                "name": "新品发布会 2026",
                "starts_at": "2026-12-01T09:00:00+08:00",
                "ends_at": "2026-12-01T18:00:00+08:00",
                "timezone": "Asia/Shanghai",
            },
        )
        answer.raise_for_status()
        return int(answer.json()["id"])


@pytest.fixture
def hub() -> FakeHub:
    hub = FakeHub()
    for topic, data in venue_picture(datetime.now(UTC)).items():
        hub.snapshots[topic] = ("e1", 5, data)
    return hub


@contextlib.contextmanager
def open_page(
    browser: Any,
    live_server: LiveServer,
    event_id: int,
    hub: FakeHub,
    *,
    lang: str = "zh",
    width: int = 1920,
    height: int = 1080,
) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN" if lang == "zh" else "en-GB"
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.route_web_socket(re.compile(r"/ws/events/\d+$"), hub.route)
        page.goto(f"{live_server.base_url}/command/#token={live_server.token}&event={event_id}")
        yield page
        assert not errors, errors
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer, event_id: int, hub: FakeHub) -> Iterator[Page]:
    with open_page(browser, live_server, event_id, hub) as opened:
        yield opened


def test_token_leaves_the_address_and_the_hello_carries_it(
    page: Page, hub: FakeHub, live_server: LiveServer, event_id: int
) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    assert hub.hellos[0]["token"] == live_server.token
    assert set(hub.hellos[0]["topics"]) == {
        "headcount",
        "gates",
        "stock",
        "incidents",
        "alerts",
        "evacuation",
        "broadcasts",
        "tasks",
    }
    assert hub.hellos[0]["since"] == {}
    assert live_server.token not in page.url
    assert page.url.endswith(f"#event={event_id}")


def test_panels_show_the_snapshot(page: Page) -> None:
    expect(page.get_by_test_id("inside-total")).to_have_text("3,412", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("checked-in")).to_have_text("3,650")
    expect(page.locator("[data-zone='2']")).to_have_class(re.compile("level-full"))
    expect(page.locator("[data-zone='1']")).to_have_class(re.compile("level-near"))
    expect(page.locator("[data-zone='3']")).to_have_class(re.compile("level-ok"))
    # The gate with an offline door comes first and stands out.
    expect(page.locator(".gate").first).to_have_attribute("data-gate", "12")
    expect(page.locator("[data-gate='12']")).to_have_class(re.compile("offline"))
    expect(page.locator("[data-device='103']")).to_contain_text("57")
    # Stock: critical, then low, then the rest.
    expect(page.locator(".stock-item")).to_have_count(4)
    assert page.locator(".stock-item").evaluate_all("els => els.map(e => e.dataset.stock)") == [
        "2",
        "3",
        "4",
        "1",
    ]
    # Incidents by status; the escalated P1 first and marked.
    expect(page.locator("[data-column='open'] .incident")).to_have_count(2)
    expect(page.locator("[data-column='open'] .incident").first).to_have_class(
        re.compile("escalated")
    )
    expect(page.locator("[data-incident='2']")).to_contain_text("展区 B Expo B")
    expect(page.locator("[data-incident='3']")).to_contain_text("南门 South")
    expect(page.locator("[data-incident='3']")).to_contain_text("李娜")
    expect(page.locator("[data-column='resolved'] .incident")).to_have_count(1)
    # Alerts: the acknowledged one last, without a button.
    expect(page.locator(".alert")).to_have_count(4)
    expect(page.locator(".alert").last).to_have_attribute("data-alert", "4")
    expect(page.locator("[data-alert='4'] button")).to_have_count(0)
    # Each alert in words of the page's language, from its kind and data.
    expect(page.locator("[data-alert='1'] .alert-message")).to_have_text(
        "展区 B Expo B 已满：800/800"
    )
    expect(page.locator("[data-alert='3'] .alert-message")).to_have_text(
        "P1「投影仪无信号」2 分钟内无人接手"
    )
    expect(page.locator("[data-alert='4'] .alert-message")).to_have_text(
        "胸牌 Badges 偏低：剩 80 （偏低线 200）"
    )
    conflict = page.locator("[data-alert='2'] .alert-message")
    expect(conflict).to_contain_text("票码 000010 在离线期间重复入场（North-1，")
    expect(page.locator("[data-alert='2'] .alert-kind")).to_have_text("离线冲突")
    # Sixty bars in the arrivals chart.
    expect(page.locator(".arrivals-chart rect.minute")).to_have_count(60)


def test_updates_replace_state_and_extend_streams(page: Page, hub: FakeHub) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    picture = venue_picture(datetime.now(UTC))
    headcount = picture["headcount"] | {"inside": 3413}
    hub.send(hub.current, "update", "headcount", "e1", 6, headcount)
    expect(page.get_by_test_id("inside-total")).to_have_text("3,413", timeout=TIMEOUT_MS)
    incident = {
        "id": 9,
        "title": "Fire alarm",
        "category": "security",
        "severity": "P1",
        "status": "open",
        "location": {"zone": None, "gate": 11, "text": ""},
        "created_at": iso(datetime.now(UTC)),
    }
    hub.send(
        hub.current, "update", "incidents", "e1", 6, {"action": "reported", "incident": incident}
    )
    expect(page.locator("[data-incident='9']")).to_contain_text("北门 North", timeout=TIMEOUT_MS)
    hub.send(
        hub.current,
        "update",
        "incidents",
        "e1",
        7,
        {
            "action": "acknowledged",
            "incident": incident
            | {"status": "acknowledged", "acknowledged_at": iso(datetime.now(UTC))},
        },
    )
    expect(page.locator("[data-column='acknowledged'] [data-incident='9']")).to_be_visible(
        timeout=TIMEOUT_MS
    )


def send_alert(hub: FakeHub, offset: int, alert_id: int, kind: str, name: str) -> None:
    """An alert raised on the current socket, at ``offset`` of epoch "e1"."""
    alert = {
        "id": alert_id,
        "kind": kind,
        "severity": "warning",
        "data": {"code": name, "name": name, "inside": 9, "capacity": 10},
        "created_at": iso(datetime.now(UTC)),
    }
    hub.send(hub.current, "update", "alerts", "e1", offset, {"action": "raised", "alert": alert})


def test_reconnect_resumes_from_the_last_offsets(page: Page, hub: FakeHub) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    send_alert(hub, 8, 7, "conflict", "first")
    expect(page.locator("[data-alert='7']")).to_be_visible(timeout=TIMEOUT_MS)
    hub.snapshots.clear()  # a resume is answered by replay, not snapshots
    hub.current.close(code=1011, reason="server restart")
    expect(page.locator("#connection")).not_to_have_attribute(
        "data-state", "live", timeout=TIMEOUT_MS
    )
    page.wait_for_function(
        "() => window.musterCommand.socket.socket && window.musterCommand.socket.socket.readyState === 1",
        timeout=15000,
    )
    deadline = time.monotonic() + 5
    while len(hub.hellos) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert hub.hellos[1]["since"]["alerts"] == {"epoch": "e1", "offset": 8}
    assert hub.hellos[1]["since"]["incidents"] == {"epoch": "e1", "offset": 5}
    # The replay overlaps what the page already has: the repeat is ignored.
    send_alert(hub, 8, 7, "conflict", "REPEATED")
    send_alert(hub, 9, 8, "zone_near_full", "missed")
    expect(page.locator("[data-alert='8']")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("[data-alert='7']")).to_contain_text("first")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def test_fell_behind_reconnects_at_once(page: Page, hub: FakeHub) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    hub.current.close(code=4008, reason="fell behind")
    deadline = time.monotonic() + 3
    while len(hub.hellos) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    assert len(hub.hellos) == 2
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)


def test_ping_is_answered(page: Page, hub: FakeHub) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    hub.current.send(json.dumps({"type": "ping", "t": 17}))
    deadline = time.monotonic() + 3
    while not any(m.get("type") == "pong" for m in hub.received) and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    assert {"type": "pong", "t": 17} in hub.received


def test_refused_token_asks_to_sign_in_again(
    browser: Any, live_server: LiveServer, event_id: int, hub: FakeHub
) -> None:
    hub.on_hello_close = 4401
    with open_page(browser, live_server, event_id, hub, lang="en") as page:
        expect(page.locator("#connection")).to_have_attribute(
            "data-state", "refused_token", timeout=TIMEOUT_MS
        )
        expect(page.locator("#connection")).to_contain_text("Token refused")
        page.wait_for_timeout(700)
        assert len(hub.hellos) == 1, "a refused token must not be retried"
        assert page.evaluate("localStorage.getItem('muster.command.token')") is None


def test_the_plan_is_one_click_away(page: Page) -> None:
    page.locator("[data-incident='2'] [data-action='plan']").click(timeout=TIMEOUT_MS)
    dialog = page.locator("#plans-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("details[open]")).to_have_attribute("data-plan-category", "medical")
    expect(dialog.locator("details[open] ol li")).to_have_count(2)
    expect(dialog.locator("details[open] strong")).to_have_text("疏散")


def test_staff_token_sees_no_actions(
    browser: Any, live_server: LiveServer, event_id: int, hub: FakeHub
) -> None:
    hub.role = "staff"
    with open_page(browser, live_server, event_id, hub) as page:
        expect(page.locator(".incident")).to_have_count(4, timeout=TIMEOUT_MS)
        expect(
            page.locator(
                "[data-action='ack'], [data-action='assign'], [data-action='resolve'], [data-action='ack-alert']"
            )
        ).to_have_count(0)


def test_language_switch(page: Page) -> None:
    expect(page.locator("#panel-inside h2")).to_have_text("场内人数", timeout=TIMEOUT_MS)
    page.locator("#language-button").click()
    expect(page.locator("#panel-inside h2")).to_have_text("Inside now")
    expect(page.locator("[data-column='open'] h3")).to_contain_text("Open")


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768)])
def test_screenshots(
    browser: Any,
    live_server: LiveServer,
    event_id: int,
    hub: FakeHub,
    artifacts: Path,
    lang: str,
    size: tuple[int, int],
) -> None:
    with open_page(
        browser, live_server, event_id, hub, lang=lang, width=size[0], height=size[1]
    ) as page:
        expect(page.locator(".incident")).to_have_count(4, timeout=TIMEOUT_MS)
        expect(page.locator(".arrivals-chart rect.minute")).to_have_count(60)
        # Every panel fits the screen: nothing spills below the fold.
        bottom = page.evaluate(
            "Math.max(...[...document.querySelectorAll('.panel')].map(p => p.getBoundingClientRect().bottom))"
        )
        assert bottom <= size[1]
        page.screenshot(path=str(artifacts / f"command-centre-fake-{lang}-{size[0]}x{size[1]}.png"))


def test_sign_in_by_pasting_a_token_and_choosing_the_event(
    browser: Any, live_server: LiveServer, event_id: int, hub: FakeHub, artifacts: Path
) -> None:
    with live_server.api() as api:
        other = api.post(
            "/api/v1/events",
            json={
                "name": "客户答谢日 Customer day",
                "starts_at": "2026-12-05T09:00:00+08:00",
                "ends_at": "2026-12-05T18:00:00+08:00",
            },
        ).json()["id"]
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    try:
        page = context.new_page()
        page.route_web_socket(re.compile(r"/ws/events/\d+$"), hub.route)
        page.goto(f"{live_server.base_url}/command/")
        expect(page.locator("#signin-form")).to_be_visible()
        page.locator("#token-input").fill("mst_not-a-token")
        page.locator("#signin-form button[type='submit']").click()
        expect(page.locator("#signin-error")).to_have_text(
            "That token was not accepted. Please paste it again."
        )
        page.locator("#token-input").fill(live_server.token)
        page.locator("#signin-form button[type='submit']").click()
        expect(page.locator(f"#event-list [data-event='{other}']")).to_be_visible()
        page.screenshot(path=str(artifacts / "command-centre-choose-event-en.png"))
        page.locator(f"#event-list [data-event='{event_id}']").click()
        expect(page.locator("#connection")).to_have_attribute(
            "data-state", "live", timeout=TIMEOUT_MS
        )
        assert page.url.endswith(f"#event={event_id}")
        # The token is kept: a reload goes straight back to the screen.
        page.reload()
        expect(page.locator("#connection")).to_have_attribute(
            "data-state", "live", timeout=TIMEOUT_MS
        )
        expect(page.locator("#event-name")).to_have_text("新品发布会 2026")
    finally:
        context.close()
