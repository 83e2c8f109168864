"""Unit tests of the command centre's pure modules (``pwa/command/model.js``,
the decisions in the shared websocket client ``pwa/shared/live.js``), run in
Chromium as the page runs them: each test imports the module from the live
server and evaluates plain data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.servers import LiveServer


@pytest.fixture(scope="module")
def page(browser: Any, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    # A page of our origin with nothing running on it: /shared/ has no index.
    opened.goto(f"{live_server.base_url}/shared/base.css")
    yield opened
    context.close()


def run(page: Page, module: str, body: str) -> Any:
    """Evaluate ``body`` (a function of the imported module ``m``) in the page."""
    path = module if module.startswith("/") else f"/command/{module}"
    return page.evaluate(f"import('{path}').then((m) => ({body})(m))")


def test_backoff_grows_to_a_cap_with_jitter(page: Page) -> None:
    delays = run(
        page,
        "/shared/live.js",
        "m => [0, 1, 2, 3, 10, 30].map(a => [m.backoffDelay(a, () => 0), m.backoffDelay(a, () => 1)])",
    )
    assert delays == [
        [250, 500],
        [500, 1000],
        [1000, 2000],
        [2000, 4000],
        [5000, 10000],
        [5000, 10000],
    ]


def test_a_server_restart_spreads_the_first_retries_wider(page: Page) -> None:
    # 1001/1012 reach every client in the same instant: the first retry is
    # spread over 250 ms - 3 s; any other drop starts at 250-500 ms.
    delays = run(
        page,
        "/shared/live.js",
        "m => [1001, 1012, 1006, 4000].map(c => [m.firstRetryDelay(c, () => 0), m.firstRetryDelay(c, () => 1)])",
    )
    assert delays == [[250, 3000], [250, 3000], [250, 500], [250, 500]]


def test_replayed_messages_are_new_only_past_the_position(page: Page) -> None:
    cases = run(
        page,
        "/shared/live.js",
        """m => [
            m.isNewMessage(undefined, "e1", 3),
            m.isNewMessage({epoch: "e1", offset: 5}, "e1", 5),
            m.isNewMessage({epoch: "e1", offset: 5}, "e1", 4),
            m.isNewMessage({epoch: "e1", offset: 5}, "e1", 6),
            m.isNewMessage({epoch: "e1", offset: 5}, "e2", 1),
        ]""",
    )
    assert cases == [True, False, False, True, True]


def test_incident_board_orders_by_urgency_and_keeps_recent_resolutions(page: Page) -> None:
    board = run(
        page,
        "model.js",
        """m => {
            const now = new Date("2026-12-01T10:00:00Z");
            const ago = (min) => new Date(now - min * 60000).toISOString();
            const raw = [
                {id: 1, severity: "P3", status: "open", created_at: ago(30)},
                {id: 2, severity: "P1", status: "open", created_at: ago(1)},
                {id: 3, severity: "P4", status: "open", created_at: ago(5), escalation_level: 1},
                {id: 4, severity: "P2", status: "acknowledged", created_at: ago(9)},
                {id: 5, severity: "P2", status: "resolved", created_at: ago(60), resolved_at: ago(10)},
                {id: 6, severity: "P2", status: "resolved", created_at: ago(600), resolved_at: ago(300)},
                {id: 7, severity: "P3", status: "open", created_at: ago(40)},
            ];
            const b = m.incidentBoard(raw.map(i => m.incidentView(i)), now);
            return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.map(i => i.id)]));
        }""",
    )
    # Escalated first, then by severity, then the oldest; resolved only for two hours.
    assert board == {"open": [3, 2, 7, 1], "acknowledged": [4], "resolved": [5]}


def test_incident_place_is_named_from_the_venue(page: Page) -> None:
    location = run(
        page,
        "model.js",
        """m => m.incidentView(
            {id: 1, location: {zone: 7, gate: 3, text: "舞台左侧"}},
            {zones: new Map([["7", "主会场"]]), gates: new Map([["3", "北门"]])},
        ).location""",
    )
    assert location == "北门 · 主会场 · 舞台左侧"


def test_streams_replace_on_snapshot_and_upsert_on_update(page: Page) -> None:
    ids = run(
        page,
        "model.js",
        """m => {
            const items = new Map([["9", {id: 9}]]);
            m.applyStream(items, {type: "snapshot", data: {alerts: [{id: 1}, {id: 2}]}}, "alert");
            const afterSnapshot = [...items.keys()];
            m.applyStream(items, {type: "update", data: {action: "acknowledged", alert: {id: 2, acknowledged_at: "x"}}}, "alert");
            m.applyStream(items, {type: "update", data: {action: "raised", alert: {id: 3}}}, "alert");
            return [afterSnapshot, [...items.keys()], items.get("2").acknowledged_at];
        }""",
    )
    assert ids == [["1", "2"], ["1", "2", "3"], "x"]


def test_gates_put_offline_doors_first_and_keep_unbound_devices(page: Page) -> None:
    gates = run(
        page,
        "model.js",
        """m => m.gatesView(
            m.headcountView({gates: [{id: 1, name: "A", in: 5, out: 1}, {id: 2, name: "B", in: 2, out: 0}]}),
            {gates: [{id: 1, name: "A", scans_per_minute: 4}, {id: 2, name: "B", scans_per_minute: 0}],
             devices: [{id: 10, name: "A-1", gate: 1, online: true, queue: 0},
                       {id: 11, name: "B-1", gate: 2, online: false, queue: 12},
                       {id: 12, name: "spare", gate: null, online: true}]},
        ).map(g => [g.id, g.offline, g.in, g.devices.map(d => d.id)])""",
    )
    assert gates == [[2, True, 2, [11]], [1, False, 5, [10]], [None, False, None, [12]]]


def test_stock_lists_critical_then_low_then_nearest_its_threshold(page: Page) -> None:
    order = run(
        page,
        "model.js",
        """m => m.stockView({items: [
            {id: 1, quantity: 500, low_threshold: 100, level: "ok"},
            {id: 2, quantity: 30, low_threshold: 100, level: "low"},
            {id: 3, quantity: 5, low_threshold: 100, critical_threshold: 10, level: "critical"},
            {id: 4, quantity: 120, low_threshold: 100, level: "ok"},
            {id: 5, quantity: 7, low_threshold: null, level: "ok"},
        ]}).map(i => i.id)""",
    )
    assert order == [3, 2, 4, 1, 5]


def test_zone_levels_come_from_the_server(page: Page) -> None:
    levels = run(
        page,
        "model.js",
        """m => m.headcountView({zones: [
            {id: 1, inside: 95, capacity: 100, level: "near_full"},
            {id: 2, inside: 100, capacity: 100, level: "full"},
            {id: 3, inside: 5, capacity: 100, level: "ok"},
            {id: 4, inside: 5, capacity: null, level: "ok"},
        ]}).zones.map(z => z.level)""",
    )
    assert levels == ["near", "full", "ok", "none"]


def test_duty_groups_the_running_shifts_by_zone_in_the_venues_order(page: Page) -> None:
    view = run(
        page,
        "duty.js",
        """m => m.dutyView([
          {id: 1, name: "王强", team: "security", supervisor: true, on_duty: true,
           duty: {zone: 20, started_at: "2026-12-01T01:00:00Z"}},
          {id: 2, name: "李娜", team: "security", on_duty: true,
           duty: {zone: 20, started_at: "2026-12-01T01:05:00Z"}},
          {id: 3, name: "陈静", team: "Stage crew", on_duty: false, duty: null},
          {id: 4, name: "Sam", team: "tech", on_duty: true, duty: {zone: null, started_at: "x"}},
          {id: 5, name: "Zoe", team: "tech", on_duty: true, duty: {zone: 99, started_at: "x"}},
          {id: 6, name: "周杰", team: "logistics", on_duty: true, duty: {zone: 10, started_at: "x"}},
        ], [{id: 10, name: "展区"}, {id: 20, name: "主会场"}])""",
    )
    assert (view["onDuty"], view["total"]) == (5, 6)
    groups = [(g["zone"], g["name"], [p["name"] for p in g["people"]]) for g in view["groups"]]
    # Zones in the venue's order, one it no longer lists by id, no zone last.
    assert groups == [
        (10, "展区", ["周杰"]),
        (20, "主会场", ["李娜", "王强"]),
        (99, "#99", ["Zoe"]),
        (None, None, ["Sam"]),
    ]
    assert view["groups"][1]["people"][1]["supervisor"] is True


def test_an_escalation_says_its_timeout_to_the_second(page: Page) -> None:
    """The demo's clocks are seconds (server/demo_day.py escalation_seconds):
    "within 0 min" was untrue; the day's are minutes, and stay so worded."""
    said = run(
        page,
        "/shared/codes.js",
        """async (codes) => {
          const i18n = await import('/shared/i18n.js');
          const { TERMS } = await import('/shared/terms.js');
          const { historyText } = await import('/shared/incident.js');
          i18n.addStrings(TERMS);
          const alert = (level, s) => codes.alertText({kind: "escalation", data:
            {level, severity: "P1", title: "投影仪无信号", after_seconds: s}});
          const entry = (level, s) => historyText({action: "escalated", data: {level, after_seconds: s}});
          const out = {};
          for (const lang of ["zh", "en"]) {
            i18n.setLanguage(lang);
            out[lang] = [alert(1, 3), alert(2, 120), alert(1, 90), entry(1, 3.4), entry(2, 600)];
          }
          return out;
        }""",
    )
    assert said["zh"] == [
        "P1「投影仪无信号」3 秒内无人接手",
        "P1「投影仪无信号」接手后 2 分钟仍未解决",
        "P1「投影仪无信号」1 分 30 秒内无人接手",
        "3 秒内无人接手，已升级",
        "接手后 10 分钟仍未解决，已升级",
    ]
    assert said["en"] == [
        "P1 “投影仪无信号”: nobody took it within 3 s",
        "P1 “投影仪无信号”: taken but not resolved within 2 min",
        "P1 “投影仪无信号”: nobody took it within 1 min 30 s",
        "Escalated: nobody took it within 3 s",
        "Escalated: taken but not resolved within 10 min",
    ]
