"""The console on the day, on SQLite and PostgreSQL: the command-centre link
opens a screen signed in with its own command token (which may download the
logs once the review's box allows it); the overview shows the
check-ins; importing the same list again asks before doubling tickets; a
loopback pairing link warns; the review shows tickets by type, refusals
by reason, each broadcast's confirmations and times, the plans confirmed by
doors-open and the tasks by team, as GET …/report gives them; the attendee's bad link is a page in their language. Screenshots
at 1440 × 900 in Chinese and English: ``test-artifacts/console-day-*.png``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from server.features.export_words import catalogue
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1440, "height": 900}
LIST = "姓名,邮箱\n王伟,wang.wei@example.com\n李娜,li.na@example.com\n"


def make_event(live: LiveServer) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    now = datetime.now(UTC)
    with live.api() as api:
        event = api.post(
            "/api/v1/events",
            json={
                "name": f"渠道大会 {uuid.uuid4().hex[:4]}",
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=8)).isoformat(),
                "timezone": "Asia/Shanghai",
            },
        ).json()
        base = f"/api/v1/events/{event['id']}"
        zone = api.post(f"{base}/zones", json={"name": "主会场", "capacity": 100}).json()
        gate = api.post(f"{base}/gates", json={"name": "北门", "to_zone": zone["id"]}).json()
    return event, zone, gate


def open_console(browser: Any, live: LiveServer, locale: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport=LAPTOP, locale=locale)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live.base_url}/console/#token={live.token}")
    page.wait_for_selector("#event-list")
    return context, page, errors


def drop(page: Any, text: str) -> None:
    page.set_input_files(
        "#csv-file", files=[{"name": "名单.csv", "mimeType": "text/csv", "buffer": text.encode()}]
    )


def scan(live: LiveServer, event: dict[str, Any], gate: dict[str, Any], secret: str) -> str:
    with live.api() as api:
        answer = api.post(
            f"/api/v1/events/{event['id']}/scans",
            json={
                "secret": secret,
                "gate": gate["id"],
                "direction": "in",
                "nonce": uuid.uuid4().hex,
                "scanned_at": datetime.now(UTC).isoformat(),
            },
        ).json()
    return str(answer["reason"] or answer["status"])


def floor_work(live: LiveServer, event: dict[str, Any]) -> dict[str, Any]:
    """A phone paired to 李娜 (security) confirms an urgent broadcast and the
    medical plan; doors-open then moves an hour ahead (so the plan counts as
    read by it); three tasks end on time, late and not at all. The report."""
    now = datetime.now(UTC)
    base = f"/api/v1/events/{event['id']}"
    with live.api() as api:
        member = api.post(
            f"{base}/staff", json={"name": "李娜", "team": "security", "role": "staff"}
        ).json()
        code = api.post(f"/api/v1/staff/{member['id']}/pairing-codes", json={}).json()
        paired = api.post("/api/v1/devices/pair", json={"code": code["display_code"]})
        assert paired.status_code == 201, paired.text
        plan = api.post(f"{base}/plans", json={"category": "medical", "steps_zh": "1. 呼叫 120"})
        assert plan.status_code == 201, plan.text
        sent = api.post(
            f"{base}/broadcasts",
            json={
                "text_zh": "北门暂停入场。",
                "priority": "urgent",
                "audience": {"everyone": True},
            },
        )
        assert sent.status_code == 201, sent.text
        with live.api(paired.json()["token"]) as phone:
            acked = phone.post(
                f"/api/v1/broadcasts/{sent.json()['id']}/ack", json={"nonce": uuid.uuid4().hex}
            )
            assert acked.status_code == 200, acked.text
            assert phone.post(f"/api/v1/plans/{plan.json()['id']}/ack").status_code == 200
        later = now + timedelta(hours=1)
        api.patch(
            base,
            json={
                "starts_at": later.isoformat(),
                "ends_at": (later + timedelta(hours=8)).isoformat(),
            },
        ).raise_for_status()
        for body, done in (
            ({"title": "音响调试", "team": "tech", "due_at": later.isoformat()}, True),
            (
                {"title": "彩排", "team": "tech", "due_at": (now - timedelta(hours=1)).isoformat()},
                True,
            ),
            ({"title": "巡场", "team": "security"}, False),
        ):
            task = api.post(f"{base}/tasks", json=body)
            assert task.status_code == 201, task.text
            if done:
                api.patch(
                    f"/api/v1/tasks/{task.json()['id']}",
                    json={"status": "done", "nonce": uuid.uuid4().hex},
                ).raise_for_status()
        report: dict[str, Any] = api.get(f"{base}/report").json()
    return report


def test_the_console_on_the_day(
    server: LiveServer, browser: Any, artifacts: Path, request: Any
) -> None:
    db = request.node.callspec.params["server"]
    event, _zone, gate = make_event(server)
    base = f"/api/v1/events/{event['id']}"
    context, page, errors = open_console(browser, server, "zh-CN")

    # Import a list, then the same list again: asked first, then left out.
    page.goto(f"{server.base_url}/console/#event={event['id']}&tab=tickets")
    page.wait_for_selector("#dropzone")
    drop(page, LIST)
    expect(page.locator("#import-ok")).to_contain_text("已导入 2 张门票")
    drop(page, LIST + "Chen Jie,chen.jie@example.com\n")
    asked = page.locator("#import-existing")
    expect(asked).to_contain_text("有 2 行的邮箱已经有票了")
    expect(asked).to_contain_text("第 2 行：wang.wei@example.com")
    page.screenshot(path=str(artifacts / f"console-day-reimport-zh-{db}.png"))
    with server.api() as api:
        assert len(api.get(f"{base}/tickets").json()["tickets"]) == 2
    page.click("#import-skip-existing")
    expect(page.locator("#import-ok")).to_contain_text("已导入 1 张门票")
    expect(page.locator("#import-skipped")).to_contain_text("已跳过 2 行")
    with server.api() as api:
        tickets = api.get(f"{base}/tickets").json()["tickets"]
    assert sorted(t["holder_name"] for t in tickets) == ["Chen Jie", "李娜", "王伟"]

    # Two come in, one is refused at the door.
    secrets = {t["holder_name"]: t["secret"] for t in tickets}
    assert scan(server, event, gate, secrets["王伟"]) == "ok"
    assert scan(server, event, gate, secrets["李娜"]) == "ok"
    assert scan(server, event, gate, secrets["王伟"]) == "already_inside"

    # The overview shows the check-ins.
    page.goto(f"{server.base_url}/console/#event={event['id']}")
    figures = page.locator("#checkin-figures")
    expect(figures.locator("[data-figure=checked_in] strong")).to_have_text("2")
    expect(figures.locator("[data-figure=expected] strong")).to_have_text("3")
    expect(figures.locator("[data-figure=rate] strong")).to_have_text("67%")
    expect(page.locator("#event-span")).to_contain_text("Asia/Shanghai (UTC+08:00)")
    page.screenshot(path=str(artifacts / f"console-day-overview-zh-{db}.png"))

    # The command-centre link opens a screen signed in with its own command token.
    with context.expect_page() as opened:
        page.click("#link-command")
    screen = opened.value
    screen.on("pageerror", lambda exc: errors.append(str(exc)))
    expect(screen.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    assert "pair=" not in screen.url
    token = screen.evaluate("localStorage.getItem('muster.command.token')")
    assert token and token != server.token
    with server.api() as api:
        devices = api.get(f"{base}/devices").json()["devices"]
    assert [d["role"] for d in devices] == ["command"]
    expect(screen.get_by_test_id("checked-in")).to_have_text("2")
    screen.close()

    # The review: by ticket type, refusals by reason, the broadcasts and the
    # tasks, in the page's language and with the report's figures.
    report = floor_work(server, event)
    [sent] = report["broadcasts"]["broadcasts"]
    assert (sent["acked"], sent["expected"], report["broadcasts"]["plans_at_doors_open"]) == (
        1,
        1,
        {"confirmed": 1, "expected": 1},
    )
    page.click("#link-review")
    row = page.locator(f"#review-broadcasts tr[data-broadcast='{sent['id']}']")
    expect(row.locator("[data-col=acked]")).to_have_text("1 / 1 · 100%")
    expect(row.locator("[data-col=median]")).to_have_text(f"{sent['median_seconds']:g} 秒")
    expect(row.locator("[data-col=slowest]")).to_have_text(f"{sent['slowest_seconds']:g} 秒")
    expect(row).to_contain_text("紧急")
    expect(page.locator("#review-plans strong")).to_have_text("1 / 1 · 100%")
    tasks = report["tasks"]
    assert (tasks["on_time"], tasks["late"], tasks["not_done"]) == (1, 1, 1)
    for team in tasks["teams"]:
        cells = page.locator(f"#review-tasks tr[data-team={team['team']}] td")
        expect(cells).to_have_text(
            [{"tech": "技术", "security": "安保"}[team["team"]]]
            + [str(team[k]) for k in ("on_time", "late", "not_done")]
        )
    expect(page.locator("#review-tasks [data-figure=late] strong")).to_have_text("1")
    expect(page.locator("#review-types tbody tr")).to_have_count(1)
    expect(page.locator("#review-types tbody tr")).to_contain_text("Standard")
    expect(page.locator("#review-refusals tr[data-reason=already_inside]")).to_contain_text(
        "已在场内"
    )
    expect(page.locator("#review-zone")).to_contain_text("Asia/Shanghai")
    # The logs name people: the command centre downloads them once allowed here.
    with server.api(token) as screen_api:
        assert screen_api.get(f"{base}/exports/checkins.csv").status_code == 403
        page.check("#command-exports")
        expect(page.locator("#command-exports")).to_be_checked()
        with server.api() as api:
            assert api.get(base).json()["options"]["command_exports"] is True
        assert screen_api.get(f"{base}/exports/checkins.csv").status_code == 200
    # Beside them, the broadcasts with their confirmations.
    with page.expect_download() as downloaded:
        page.get_by_role("button", name="广播与确认 CSV").click()
    assert downloaded.value.suggested_filename == f"broadcasts-{event['id']}.csv"
    lines = Path(downloaded.value.path()).read_text("utf-8-sig").splitlines()
    words = catalogue("zh")  # the page's language (?lang=zh)
    assert lines[0].startswith(f"{words.header('broadcast_id')},{words.header('sent_at')},")
    assert [line.split(",")[0] for line in lines[1:]] == [str(sent["id"])]
    page.screenshot(path=str(artifacts / f"console-day-review-zh-{db}.png"), full_page=True)
    page.click("[data-lang=en]")
    expect(page.locator("#review-refusals tr[data-reason=already_inside]")).to_contain_text(
        "Already inside"
    )
    expect(page.locator("#review-tasks tr[data-team=tech] td").first).to_have_text("Tech")
    expect(row.locator("[data-col=slowest]")).to_have_text(f"{sent['slowest_seconds']:g} s")
    expect(page.get_by_role("button", name="Broadcasts and confirmations CSV")).to_be_visible()
    page.screenshot(path=str(artifacts / f"console-day-review-en-{db}.png"), full_page=True)

    # A pairing link on 127.0.0.1 warns that a phone cannot open it.
    page.goto(f"{server.base_url}/console/#event={event['id']}&tab=phones")
    page.click("#pair-form button[type=submit]")
    warning = page.locator("#pair-loopback")
    expect(warning).to_contain_text("A phone cannot open this code")
    expect(warning).to_contain_text("MUSTER_PUBLIC_URL")
    page.screenshot(path=str(artifacts / f"console-day-loopback-en-{db}.png"))

    # An attendee with a broken link gets a page in their language.
    attendee = context.new_page()
    attendee.goto(f"{server.base_url}/t/NOT-A-TICKET")
    expect(attendee.locator("h1")).to_have_text("找不到这张电子票")
    assert "error" not in attendee.inner_text("body")
    attendee.close()
    assert errors == []
    context.close()
