"""What the steward at the door sees (issue 14, "At the door"), in Chromium at
390 × 844, in Chinese and in English: who it is even offline — name, ticket
type, printed code — while the phone's storage holds no name in the clear;
answers to act on (where and since when someone is inside, which zone is
full, "not in Hall A yet" at the VIP door); red that stays until the next scan
or a tap; the printed code typed in; the scan field back in focus after a
look-up; results that say who is inside; counters.
Screenshots: ``test-artifacts/staff-app-door-*.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.staff_app import (
    answer,
    headcount_inside,
    open_paired_phone,
    set_up_venue,
    shot,
    supervisor_pairing_url,
    wedge,
)
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

#: Every record the phone keeps, as text (what a stolen phone gives away).
DUMP_STORAGE = """async () => {
  const db = await new Promise((ok, bad) => {
    const r = indexedDB.open("muster-staff"); r.onsuccess = () => ok(r.result); r.onerror = () => bad(r.error);
  });
  const out = {};
  for (const name of db.objectStoreNames) {
    out[name] = await new Promise((ok) => {
      const r = db.transaction(name).objectStore(name).getAll(); r.onsuccess = () => ok(r.result);
    });
  }
  return JSON.stringify(out) + JSON.stringify(localStorage);
}"""


def answer_box(page: Any) -> dict[str, str]:
    """Read the answer without dismissing it."""
    page.locator("#answer").wait_for(state="visible")
    return {
        "status": page.get_attribute("#answer", "data-status") or "",
        "why": page.inner_text("#answer-reason"),
        "who": page.inner_text("#answer-name"),
        "detail": page.inner_text("#answer-detail"),
        "note": page.inner_text("#answer-note"),
    }


@pytest.mark.parametrize(("locale", "lang"), [("zh-CN", "zh"), ("en-GB", "en")], ids=["zh", "en"])
def test_offline_answers_say_who_and_storage_reveals_no_one(
    live_server: LiveServer, browser: Any, artifacts: Path, locale: str, lang: str
) -> None:
    venue = set_up_venue(live_server, f"新品发布会 · who {lang}", tickets=3)
    context, page = open_paired_phone(browser, live_server, venue, locale=locale)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    first, second, third = venue.tickets
    context.set_offline(True)
    wedge(page, first["secret"])
    seen = answer_box(page)
    assert seen["status"] == "ok" and seen["who"] == "王伟"
    assert seen["detail"] == f"Standard · {first['code']}"
    assert seen["note"] == {"zh": "离线判定", "en": "Decided offline"}[lang]
    shot(page, artifacts, f"door-offline-who-{lang}")
    page.evaluate("window.musterApp.scanner.hideAnswer()")

    wedge(page, first["secret"])  # again: refused, saying where and since when
    again = answer_box(page)
    inside_since = {"zh": "已在主会场 Hall A内（", "en": "Already inside 主会场 Hall A since "}
    assert again["status"] == "error" and again["why"].startswith(inside_since[lang])
    assert ("北门 North" in again["why"]) and again["who"] == "王伟"
    # Red stays: nothing will take it away but the next scan or a tap.
    assert page.evaluate("window.musterApp.scanner.answerTimer") is None
    shot(page, artifacts, f"door-offline-already-inside-{lang}")
    page.click("#answer")
    page.wait_for_selector("#answer.hidden", state="attached")

    # A typed code cannot be checked offline: said so, nothing queued for it.
    wedge(page, second["code"])
    typed = answer_box(page)
    assert (
        typed["status"] == "error"
        and typed["why"]
        == {
            "zh": "手输票码需联网核对：请扫二维码或按姓名查找",
            "en": "A typed code needs the server: scan the QR code or look the name up",
        }[lang]
    )
    page.click("#answer")

    # The phone keeps no name in the clear (it has opened one, from the code in hand).
    kept = page.evaluate(DUMP_STORAGE)
    assert '"display"' in kept
    for ticket in venue.tickets:
        assert ticket["holder_name"] not in kept
    assert "guest0@example.com" not in kept

    context.set_offline(False)
    page.wait_for_function(
        "() => document.querySelector('#queue').dataset.scans === '0'", timeout=30_000
    )
    # Online, the printed code admits as the QR code would.
    wedge(page, third["code"].lower())
    online = answer_box(page)
    assert online["status"] == "ok" and online["who"] == "Chen Jie"
    assert online["detail"] == f"Standard · {third['code']}"
    page.evaluate("window.musterApp.scanner.hideAnswer()")
    assert headcount_inside(live_server, venue) == 2
    mine = {"zh": "本机 扫码 4 · 放行 2", "en": "This phone: 4 scans · 2 in"}[lang]
    assert page.inner_text("#count-mine") == mine
    page.wait_for_function("() => document.querySelector('#count-venue').textContent.includes('2')")
    context.close()
    assert errors == []


def test_lookup_says_who_is_inside_and_gives_back_the_focus(
    live_server: LiveServer, browser: Any, artifacts: Path
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · lookup", tickets=4)
    context, page = open_paired_phone(browser, live_server, venue, locale="zh-CN")
    wang, chen = venue.tickets[0], venue.tickets[2]
    wedge(page, wang["secret"])
    answer(page)
    page.fill("#lookup", "王")
    page.press("#lookup", "Enter")
    page.wait_for_selector("#lookup-results li[data-ticket]")
    assert page.evaluate("document.activeElement.id") == "wedge"  # the next scan goes to the door
    rows = page.locator("#lookup-results li[data-ticket]")
    inside = rows.filter(has_text="场内：主会场 Hall A")
    assert inside.count() == 1 and inside.locator("button").count() == 0  # no "in" for them
    page.fill("#lookup", "Chen")
    page.press("#lookup", "Enter")
    page.wait_for_selector("#lookup-results li[data-inside='false']")
    outside = page.locator("#lookup-results li[data-inside='false']").first
    assert "未入场" in outside.inner_text() and chen["code"] in outside.inner_text()
    shot(page, artifacts, "door-lookup-zh")
    outside.locator("button[data-action='in']").click()
    assert answer(page)["name"] == "Chen Jie"
    assert page.evaluate("document.activeElement.id") == "wedge"
    context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_zone_to_zone_door_and_a_full_zone_say_which_zone(
    live_server: LiveServer, browser: Any, artifacts: Path, lang: str
) -> None:
    venue = set_up_venue(live_server, f"新品发布会 · VIP door {lang}", tickets=2)
    vip_holder, guest = venue.tickets
    with live_server.api() as api:
        vip = api.post(f"{venue.base}/zones", json={"name": "VIP 贵宾区", "capacity": 0}).json()
        door = api.post(
            f"{venue.base}/gates",
            json={"name": "VIP 门", "from_zone": venue.zone["id"], "to_zone": vip["id"]},
        ).json()
        made = api.post(
            f"{venue.base}/pairing-codes", json={"role": "door", "gate": door["id"]}
        ).json()
    locale = {"zh": "zh-CN", "en": "en-GB"}[lang]
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale=locale
    )
    page = context.new_page()
    page.goto(made["pairing_url"])
    page.wait_for_function("() => window.musterApp && window.musterApp.book.ready")
    page.evaluate("window.musterApp.scanner.verdicts.budgetMs = 2500")
    # A VIP holder who has not entered Hall A yet, at the Hall A → VIP door.
    wedge(page, vip_holder["secret"])
    first = answer_box(page)
    assert (first["status"], first["why"]) == (
        "error",
        {
            "zh": "尚未进入主会场 Hall A，请先进入主会场 Hall A",
            "en": "Not in 主会场 Hall A yet: enter 主会场 Hall A first",
        }[lang],
    )
    shot(page, artifacts, f"door-vip-not-in-hall-{lang}")
    page.click("#answer")  # red stays until a tap (or the next scan)
    with live_server.api() as api:  # in through the main door
        entered = api.post(
            f"{venue.base}/scans",
            json={"secret": guest["secret"], "gate": venue.gate["id"], "direction": "in",
                  "nonce": f"n-{lang}"},
        )  # fmt: skip
    assert entered.json()["status"] == "ok", entered.text
    wedge(page, guest["secret"])
    full = answer_box(page)
    assert (full["status"], full["why"]) == (
        "error",
        {"zh": "VIP 贵宾区已满", "en": "VIP 贵宾区 is full"}[lang],
    )
    shot(page, artifacts, f"door-zone-full-{lang}")
    context.close()


def test_a_supervisor_finds_and_admits_people_offline(
    live_server: LiveServer, browser: Any, artifacts: Path
) -> None:
    """A door supervisor's phone (roster: door, supervisor) holds the event's
    people: with no network it finds 李娜 by name, admits her by her printed
    code, refuses her second entry, and the server counts her once back
    online; unpairing wipes the list. A plain door phone still says a look-up
    needs the network."""
    venue = set_up_venue(live_server, "新品发布会 · supervisor", tickets=4)
    li = venue.tickets[1]
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.goto(supervisor_pairing_url(live_server, venue))
    page.wait_for_function("() => window.musterApp && window.musterApp.book.knowsPeople")

    context.set_offline(True)
    page.fill("#lookup", "李")
    page.press("#lookup", "Enter")
    row = page.locator(f"#lookup-results li[data-ticket='{li['id']}']")
    row.wait_for()
    assert "离线" in page.inner_text("#lookup-results")
    assert "未入场" in row.inner_text() and li["code"] in row.inner_text()
    shot(page, artifacts, "door-supervisor-offline-lookup-zh")
    row.locator("button[data-action='in']").click()
    admitted = answer_box(page)
    assert admitted["status"] == "ok" and admitted["who"] == "李娜"
    assert admitted["note"] == "离线判定"
    page.evaluate("window.musterApp.scanner.hideAnswer()")
    wedge(page, li["code"])  # her code again, typed: she is inside
    again = answer_box(page)
    assert (
        again["status"] == "error"
        and page.get_attribute("#answer", "data-reason") == "already_inside"
    )
    page.evaluate("window.musterApp.scanner.hideAnswer()")
    assert headcount_inside(live_server, venue) == 0

    context.set_offline(False)
    page.wait_for_function(
        "() => document.querySelector('#queue').dataset.scans === '0'", timeout=30_000
    )
    assert headcount_inside(live_server, venue) == 1

    # Unpairing wipes the list with everything else.
    page.evaluate("window.musterApp.unpair()")
    page.wait_for_function("() => !localStorage.getItem('muster.device')")
    assert "李娜" not in page.evaluate(DUMP_STORAGE)
    context.close()

    # A plain door phone: no list, so a look-up offline needs the network.
    context, plain = open_paired_phone(browser, live_server, venue, locale="zh-CN")
    assert plain.evaluate("window.musterApp.book.knowsPeople") is False
    context.set_offline(True)
    plain.fill("#lookup", "李")
    plain.press("#lookup", "Enter")
    plain.wait_for_selector("#lookup-results li")
    assert "离线时无法查找" in plain.inner_text("#lookup-results")
    context.close()
