"""Incidents in full, on SQLite and PostgreSQL: a door phone reports a
medical incident with a photo and gets the category's emergency plan at
once; the command centre opens it (photo, description, plan, history),
comments, assigns it to a floor phone — whose screen brings up the plan —
and resolves it with a note, which the door phone that reported it sees
without being told. The plan's Markdown quote is a quote, and markup in it
stays text. Screenshots at 390 × 844 (phones) and 1920 × 1080 (command
centre), in Chinese and English: ``test-artifacts/incident-*.png``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.staff_app import (
    SYNC_TIMEOUT_MS,
    Venue,
    device_token,
    open_paired_phone,
    set_up_venue,
)
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

SCREEN = {"width": 1920, "height": 1080}
PLAN_ZH = (
    "1. 确认现场安全\n"
    "2. 呼叫医疗组：**内线 120**\n"
    "> 不要移动伤者，除非有危险。\n"
    "> - 记录时间\n"
    "\n"
    '<img src=x onerror="window.injected=1">'
)
PLAN_EN = "1. Make the area safe\n2. Call the medics: **ext. 120**\n> Do not move the patient."


def photo(tmp_path: Path) -> Path:
    image = Image.new("RGB", (800, 600), (200, 30, 30))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    path = tmp_path / "injury.jpg"
    path.write_bytes(out.getvalue())
    return path


def with_plan(live: LiveServer, name: str) -> Venue:
    venue = set_up_venue(live, name, tickets=0)
    with live.api() as api:
        made = api.post(
            f"{venue.base}/plans",
            json={
                "category": "medical",
                "title_zh": "医疗急救",
                "title_en": "Medical emergency",
                "steps_zh": PLAN_ZH,
                "steps_en": PLAN_EN,
            },
        )
        assert made.status_code == 201, made.text
    return venue


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"incident-{name}.png"))


def test_an_incident_in_full_from_report_to_resolution(
    server: LiveServer, browser: Any, artifacts: Path, tmp_path: Path, request: Any
) -> None:
    db = request.node.callspec.params["server"]
    venue = with_plan(server, f"新品发布会 · 事件 {db}")
    errors: list[str] = []

    # A door phone reports a medical incident with a photo: the plan comes up.
    door_context, door = open_paired_phone(browser, server, venue, "door", locale="zh-CN")
    door.on("pageerror", lambda exc: errors.append(str(exc)))
    door.click("#tabs [data-view=incidents]")
    door.select_option("#incident-category", "medical")
    door.click("#incident-severity [data-severity=P2]")
    door.fill("#incident-title", "观众晕倒")
    door.fill("#incident-description", "北门安检口，一位观众晕倒，意识清醒。")
    door.set_input_files("#incident-photo", str(photo(tmp_path)))
    door.click("#incident-form button[type=submit]")
    plan = door.locator("#incident-detail .incident-plan")
    expect(plan).to_be_visible(timeout=SYNC_TIMEOUT_MS)
    expect(plan).to_contain_text("医疗急救")
    # A Markdown quote is a quote (with its list inside); markup stays text.
    expect(plan.locator("blockquote")).to_contain_text("不要移动伤者")
    expect(plan.locator("blockquote li")).to_have_text("记录时间")
    expect(plan.locator("ol li").first).to_have_text("确认现场安全")
    expect(plan.locator("strong")).to_have_text("内线 120")
    expect(plan.locator("img")).to_have_count(0)
    expect(plan).to_contain_text('<img src=x onerror="window.injected=1">')
    assert door.evaluate("window.injected") is None
    # The img is drawn before its photo is fetched (with the token), and an
    # img without a src is already "complete": wait for the picture itself.
    door.wait_for_function(
        "() => document.querySelector('#incident-detail .incident-photo')?.naturalWidth > 0",
        timeout=SYNC_TIMEOUT_MS,
    )
    shot(door, artifacts, f"phone-reported-zh-{db}")
    door.evaluate("document.querySelector('#incident-detail .incident-plan').scrollIntoView()")
    shot(door, artifacts, f"phone-reported-plan-zh-{db}")

    with server.api() as api:
        [incident] = api.get(f"{venue.base}/incidents").json()["incidents"]
    assert incident["title"] == "观众晕倒" and len(incident["photos"]) == 1
    iid = incident["id"]

    # A floor phone, English, waiting on its incidents tab.
    staff_context, staff = open_paired_phone(browser, server, venue, "staff", locale="en-GB")
    staff.on("pageerror", lambda exc: errors.append(str(exc)))
    staff.click("#tabs [data-view=incidents]")
    staff_id = staff.evaluate("window.musterApp.device.id")

    # The command centre opens it in full: photo, description, plan, history.
    command_token = device_token(server, venue, "command")
    screen_context = browser.new_context(viewport=SCREEN, locale="zh-CN")
    screen = screen_context.new_page()
    screen.on("pageerror", lambda exc: errors.append(str(exc)))
    screen.goto(f"{server.base_url}/command/#token={command_token}&event={venue.event['id']}")
    expect(screen.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    screen.click(f"[data-incident='{iid}'] [data-action=detail]")
    detail = screen.locator("#incident-dialog .incident-detail")
    expect(detail).to_be_visible()
    expect(detail.locator(".incident-description")).to_contain_text("北门安检口")
    expect(detail.locator(".incident-facts")).to_contain_text("北门 North")
    expect(detail.locator(".incident-plan blockquote")).to_contain_text("不要移动伤者")
    expect(detail.locator(".history li[data-action=reported]")).to_contain_text("上报")
    screen.wait_for_function(
        "() => document.querySelector('#incident-dialog .incident-photo')?.naturalWidth > 0",
        timeout=10_000,
    )

    # A comment, then assigned to the floor phone: its screen brings up the plan.
    detail.locator(".incident-comment textarea").fill("医疗组已出发，预计 3 分钟到。")
    detail.locator(".incident-comment button").click()
    expect(detail.locator(".history li[data-action=commented]")).to_contain_text("医疗组已出发")
    with server.api() as api:
        assigned = api.post(f"{venue.base}/incidents/{iid}/assign", json={"assignee": staff_id})
        assert assigned.status_code == 200, assigned.text
    staff_plan = staff.locator("#incident-detail .incident-plan")
    expect(staff_plan).to_be_visible(timeout=SYNC_TIMEOUT_MS)
    expect(staff_plan).to_contain_text("Medical emergency")
    expect(staff_plan.locator("blockquote")).to_contain_text("Do not move the patient.")
    expect(staff.locator("#incident-detail .history li[data-action=assigned]")).to_be_visible()
    staff.evaluate("document.querySelector('#incident-detail .incident-plan').scrollIntoView()")
    shot(staff, artifacts, f"phone-assigned-plan-en-{db}")
    expect(detail.locator(".history li[data-action=assigned]")).to_be_visible(timeout=10_000)
    screen.evaluate("document.querySelector('#incident-dialog .dialog-body').scrollTop = 0")
    shot(screen, artifacts, f"command-detail-zh-{db}")

    # Resolved from the command centre, with a note.
    detail.locator("[data-action=resolve]").click()
    screen.fill("#resolve-note", "已送医务室，观众情况稳定。")
    screen.click("#resolve-dialog button[value=ok]")
    expect(detail.locator(".incident-resolution")).to_contain_text("已送医务室", timeout=10_000)
    # In English: close, switch, open again.
    screen.keyboard.press("Escape")
    screen.click("#language-button")
    screen.click(f"[data-incident='{iid}'] [data-action=detail]")
    expect(detail.locator(".history li[data-action=resolved]")).to_contain_text("resolved it")
    expect(detail.locator(".incident-resolution h4")).to_have_text("Resolution note")
    screen.evaluate("document.querySelector('#incident-dialog .dialog-body').scrollTop = 0")
    shot(screen, artifacts, f"command-detail-en-{db}")

    # The door phone that reported it sees it resolved, note and all, unasked.
    status = door.locator("#incident-detail [data-status]")
    expect(status).to_have_attribute("data-status", "resolved", timeout=SYNC_TIMEOUT_MS)
    expect(door.locator("#incident-detail .incident-resolution")).to_contain_text("已送医务室")
    door.evaluate("document.querySelector('main').scrollTop = 0")
    shot(door, artifacts, f"phone-resolved-zh-{db}")
    door.click("#incident-back")
    expect(door.locator(f"#incident-list li[data-incident='{iid}']")).to_have_attribute(
        "data-status", "resolved"
    )

    # The note is in the export too.
    with server.api() as api:
        text = api.get(f"{venue.base}/exports/incidents.csv").text.lstrip("\ufeff")
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["resolution_note"] == "已送医务室，观众情况稳定。"
    assert errors == []
    for context in (door_context, staff_context, screen_context):
        context.close()
