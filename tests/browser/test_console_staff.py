"""The staff roster in Chromium, checked through the API: the console adds a
person (a bad phone number answered in the page's language), imports a CSV
(a bad row named by its line, nothing imported; then the fixed file), pairs a
phone to a person; the phone starts its shift; the console and the command
centre show who is on duty where, in Chinese and in English."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.servers import LiveServer

pytestmark = pytest.mark.browser

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = datetime.now(SHANGHAI).date().isoformat()

BAD_CSV = "姓名,手机,团队,角色,主管,区域\n王强,13800000001,安保,检票员,是,主会场\n陈静,abc,接待,现场人员,,主会场\n"
GOOD_CSV = BAD_CSV.replace(",abc,", ",13900000002,")


def test_roster_pairing_and_who_is_on_duty(
    live_server: LiveServer, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    api = live_server.api()
    event = api.post(
        "/api/v1/events",
        json={
            "name": "新品发布会",
            "starts_at": f"{TODAY}T00:00:00+08:00",
            "ends_at": f"{TODAY}T23:00:00+08:00",
            "timezone": "Asia/Shanghai",
        },
    ).json()
    e = event["id"]
    base = f"/api/v1/events/{e}"
    hall = api.post(f"{base}/zones", json={"name": "主会场", "capacity": 300}).json()
    api.post(f"{base}/zones", json={"name": "展区"})
    north = api.post(f"{base}/gates", json={"name": "北门", "to_zone": hall["id"]}).json()

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    page.click(f"#event-list tr[data-event='{e}'] a")
    page.click("#sidebar a[data-tab=staff]")
    page.wait_for_selector("#staff-form")

    # One person by hand: a bad phone number first, answered in Chinese.
    page.fill("#staff-form [name=name]", "李娜")
    page.fill("#staff-form [name=phone]", "call me")
    page.select_option("#staff-form [name=team]", "security")
    page.select_option("#staff-form [name=role]", "door")
    page.check("#staff-form [name=supervisor]")
    page.select_option("#staff-form [name=gate]", str(north["id"]))
    page.click("#staff-submit")
    page.wait_for_selector("#staff-error:not(.hidden)")
    assert "「call me」不是有效的电话号码" in page.inner_text("#staff-error")
    page.fill("#staff-form [name=phone]", "+86 138 0000 0000")
    page.click("#staff-submit")
    page.wait_for_selector("#roster tr[data-staff]")
    [li] = api.get(f"{base}/staff").json()["staff"]
    assert (li["team"], li["role"], li["supervisor"], li["gate"]) == (
        "security",
        "door",
        True,
        north["id"],
    )

    # The import: one bad row, named by its line, and nothing imported.
    bad = tmp_path / "roster.csv"
    bad.write_bytes(BAD_CSV.encode("gb18030"))
    page.set_input_files("#staff-csv", str(bad))
    page.wait_for_selector("#staff-import-error:not(.hidden)")
    assert "第 3 行：「abc」不是有效的电话号码" in page.inner_text("#staff-import-error")
    assert len(api.get(f"{base}/staff").json()["staff"]) == 1
    good = tmp_path / "roster-fixed.csv"
    good.write_bytes(GOOD_CSV.encode("utf-8-sig"))
    page.set_input_files("#staff-csv", str(good))
    page.wait_for_selector("#roster tr[data-staff]:nth-child(3)")

    # A phone paired to 李娜 from the roster knows who holds it and starts her shift.
    page.click(f"#roster tr[data-staff='{li['id']}'] [data-action=pair]")
    page.wait_for_selector("#staff-pair-code")
    code = page.inner_text("#staff-pair-code")
    paired = httpx.post(f"{live_server.base_url}/api/v1/devices/pair", json={"code": code})
    assert paired.status_code == 201, paired.text
    phone = live_server.api(paired.json()["token"])
    assert phone.get("/api/v1/devices/me").json()["staff"]["may_override"] is True
    assert phone.post("/api/v1/devices/me/duty", json={"action": "start"}).status_code == 200
    # She is a supervisor: a second phone of hers keeps the first paired.
    page.click(f"#roster tr[data-staff='{li['id']}'] [data-action=pair-another]")
    page.wait_for_selector(f"#staff-pair-code:not(:has-text('{code}'))")
    assert "已配对的手机保持配对" in page.inner_text("#staff-pair-how")
    second = httpx.post(
        f"{live_server.base_url}/api/v1/devices/pair",
        json={"code": page.inner_text("#staff-pair-code")},
    )
    assert second.status_code == 201, second.text
    spare = live_server.api(second.json()["token"])
    assert phone.get("/api/v1/devices/me").status_code == 200
    assert spare.get("/api/v1/devices/me").status_code == 200
    wang = next(m for m in api.get(f"{base}/staff").json()["staff"] if m["name"] == "王强")
    wang_phone = live_server.api(
        httpx.post(
            f"{live_server.base_url}/api/v1/devices/pair",
            json={"code": api.post(f"/api/v1/staff/{wang['id']}/pairing-codes").json()["code"]},
        ).json()["token"]
    )
    assert wang_phone.post("/api/v1/devices/me/duty", json={"action": "start"}).status_code == 200

    page.click("#roster .card-head button")
    page.wait_for_selector(f"#roster tr[data-staff='{li['id']}'] .duty .pill")
    assert "在岗：主会场" in page.inner_text(f"#roster tr[data-staff='{li['id']}'] .duty")
    assert "3 人，2 人在岗" in page.inner_text("#staff-summary")
    page.screenshot(path=str(artifacts / "console-staff-zh.png"), full_page=True)

    page.click("[data-lang=en]")
    page.wait_for_selector("#staff-summary:has-text('2 on duty')")
    assert "On duty: 主会场" in page.inner_text(f"#roster tr[data-staff='{li['id']}'] .duty")
    assert "Security" in page.inner_text(f"#roster tr[data-staff='{li['id']}']")
    # One of anything is said in the singular ("1 people" before the plural forms).
    said = page.evaluate(
        """async () => {
            const { t } = await import('/shared/i18n.js');
            return [1, 3].map((n) => t('staff.summary', { n, on_duty: 1 }));
        }"""
    )
    assert said == ["1 person, 1 on duty", "3 people, 1 on duty"], said

    # The command centre: who is on duty where.
    screen = context.new_page()
    screen.on("pageerror", lambda exc: errors.append(str(exc)))
    screen.goto(f"{live_server.base_url}/command/#token={live_server.token}&event={e}")
    screen.wait_for_selector(f"#panel-duty [data-duty-zone='{hall['id']}'] [data-duty-staff]")
    zone_group = screen.locator(f"#panel-duty [data-duty-zone='{hall['id']}']")
    assert zone_group.locator("[data-duty-staff]").count() == 2
    assert "主会场" in zone_group.inner_text()
    text = screen.inner_text("#panel-duty")
    assert "李娜" in text and "王强" in text and "陈静" not in text
    screen.screenshot(path=str(artifacts / "command-duty.png"))

    # An incident assigned from the roster reaches the person's phone.
    incident = api.post(
        f"{base}/incidents",
        json={"category": "power", "severity": "P2", "title": "北门停电", "nonce": "n-duty"},
    ).json()
    screen.click(f"[data-incident='{incident['id']}'] [data-action=assign]")
    choices = screen.locator("#assignee-roster option")
    assert choices.count() == 3 and choices.nth(2).get_attribute("value") == "陈静"  # off duty last
    chen = next(m for m in api.get(f"{base}/staff").json()["staff"] if m["name"] == "陈静")
    chen_code = api.post(f"/api/v1/staff/{chen['id']}/pairing-codes").json()["code"]
    chen_phone = httpx.post(
        f"{live_server.base_url}/api/v1/devices/pair",
        json={"code": chen_code, "device_name": "工作手机 7"},
    ).json()["device"]["id"]
    screen.fill("#assignee-input", "陈静")
    screen.click("#assign-dialog button[value='ok']")
    screen.wait_for_selector(f"[data-incident='{incident['id']}'] .assignee:has-text('陈静')")
    assigned = api.get(f"{base}/incidents/{incident['id']}").json()["assignee"]
    assert assigned["id"] == chen_phone  # her phone, though it has a name of its own

    # Her shift ends on the phone: the next read of the roster drops her.
    assert phone.post("/api/v1/devices/me/duty", json={"action": "end"}).status_code == 200
    screen.wait_for_selector(
        f"#panel-duty [data-duty-staff='{li['id']}']", state="detached", timeout=30_000
    )
    # Her phone lost: paired again (the page in English now), the new one replaces both.
    page.click(f"#roster tr[data-staff='{li['id']}'] [data-action=pair]")
    page.wait_for_selector("#staff-pair-how:has-text('their earlier phones are unpaired')")
    new = httpx.post(
        f"{live_server.base_url}/api/v1/devices/pair",
        json={"code": page.inner_text("#staff-pair-code")},
    )
    assert new.status_code == 201, new.text
    assert phone.get("/api/v1/devices/me").status_code == 401
    assert spare.get("/api/v1/devices/me").status_code == 401
    assert errors == []
    context.close()


def test_a_shift_started_offline_on_the_phone_is_dated_when_tapped(
    live_server: LiveServer, browser: Any, artifacts: Path
) -> None:
    from tests.browser.staff_app import PHONE, SYNC_TIMEOUT_MS, set_up_venue, shot

    venue = set_up_venue(live_server, "新品发布会 · duty", tickets=0)
    api = live_server.api()
    member = api.post(
        f"{venue.base}/staff",
        json={"name": "周杰", "team": "物资", "role": "staff", "zone": venue.zone["id"]},
    ).json()
    made = api.post(f"/api/v1/staff/{member['id']}/pairing-codes").json()
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(made["pairing_url"])
    page.wait_for_selector("#online[data-state=online]")
    page.click("#tabs button[data-view=device]")
    page.wait_for_selector("#duty-toggle")
    assert "周杰 · 物资" in page.inner_text("#duty")
    assert page.get_attribute("#duty-state", "data-on-duty") == "false"

    context.set_offline(True)
    page.click("#duty-toggle")
    page.wait_for_selector("#duty-state[data-on-duty=true]:has-text('联网后同步')")
    shot(page, artifacts, "duty-01-started-offline")
    assert api.get(f"{venue.base}/staff").json()["staff"][0]["on_duty"] is False

    back_online_at = datetime.now(SHANGHAI)
    context.set_offline(False)
    page.wait_for_selector(
        "#duty-state[data-on-duty=true]:not(:has-text('联网后同步'))", timeout=SYNC_TIMEOUT_MS
    )
    [listed] = api.get(f"{venue.base}/staff").json()["staff"]
    assert listed["on_duty"] is True and listed["duty"]["zone"] == venue.zone["id"]
    started = datetime.fromisoformat(listed["duty"]["started_at"])
    assert started < back_online_at  # dated at the tap, not when it reached the server
    shot(page, artifacts, "duty-02-synced")

    page.click("#duty-toggle")
    page.wait_for_selector("#duty-state[data-on-duty=false]:not(:has-text('联网后同步'))")
    assert api.get(f"{venue.base}/staff").json()["staff"][0]["on_duty"] is False
    assert errors == []
    context.close()
