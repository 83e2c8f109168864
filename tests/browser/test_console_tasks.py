"""Tasks and run sheets in the console, in Chromium, checked through the API,
in Chinese and in English: a run sheet made by hand and changed; a CSV with
one bad row (the row named by its line with the server's code, the good rows
kept in the editor) mended and saved; the sheet applied once (shown applied,
with its time); its tasks listed by team with due times on the event's clock
(the browser is in London, the event in Shanghai); one task changed through
PATCH with a nonce; the command centre's board shows the change."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.servers import LiveServer

pytestmark = pytest.mark.browser

#: Doors-open: 09:00 in Shanghai is 01:00 UTC, and 01:00 in London (winter).
STARTS = "2026-12-20T09:00:00+08:00"
CJK = re.compile(r"[\u3400-\u9fff]")
RAW_KEY = re.compile(r"\b(?:task|sheet|staff|error|import)\.[a-z_.]+\b")

WORDS = {
    "zh": {
        "hall": "主会场",
        "person": "王强",
        "sheet": "开门流程",
        "csv": "时间,任务,团队,负责人,区域,步骤\n"
        "T-120,布置指示牌,安保,,主会场,北门|南门\n"
        "soon,检查饮水,物资,,,\n"
        "T-30,测试检票手机,技术,王强,,\n"
        "T+0,开门,,,,\n",
        "titles": ["布置指示牌", "测试检票手机", "开门", "检查饮水"],
        "line3": "第 3 行：时间「soon」应写成相对开门的分钟数",
        "first": "布置指示牌",
        "water": "检查饮水",
        "applied": "已于",
        "steps_2": "0/2 步",
        "radio": "对讲机检查",
    },
    "en": {
        "hall": "Main hall",
        "person": "Tom Lee",
        "sheet": "Doors",
        "csv": "offset,title,team,staff,zone,steps\n"
        "T-120,Signage up,security,,Main hall,north|south\n"
        "soon,Check the water,logistics,,,\n"
        "T-30,Test the door phones,tech,Tom Lee,,\n"
        "T+0,Doors open,,,,\n",
        "titles": ["Check the water", "Doors open", "Signage up", "Test the door phones"],
        "line3": "Line 3: time “soon” should be minutes from doors-open",
        "first": "Signage up",
        "water": "Check the water",
        "applied": "Tasks made",
        "steps_2": "0/2 steps",
        "radio": "Radio check",
    },
}


def one_language(page: Any, lang: str) -> None:
    """The page speaks one language: no catalogue key shown, and (in English,
    with English data) no Chinese but the language switch's own name."""
    text = page.inner_text("#main")
    assert not RAW_KEY.findall(text), RAW_KEY.findall(text)
    if lang == "en":
        assert not CJK.findall(text), sorted(set(CJK.findall(text)))


def shot(page: Any, path: Path) -> None:
    """A whole-page screenshot from the top (the sticky bar stays at the top)."""
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)


def no_overflow(page: Any) -> None:
    wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page is {wide}px wider than the window"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_run_sheet_to_tasks_on_the_board(
    live_server: LiveServer, browser: Any, artifacts: Path, tmp_path: Path, lang: str
) -> None:
    words = WORDS[lang]
    api = live_server.api()
    event = api.post(
        "/api/v1/events",
        json={
            "name": f"Launch {lang}",
            "starts_at": STARTS,
            "ends_at": "2026-12-20T18:00:00+08:00",
            "timezone": "Asia/Shanghai",
        },
    ).json()
    e = event["id"]
    base = f"/api/v1/events/{e}"
    hall = api.post(f"{base}/zones", json={"name": words["hall"], "capacity": 300}).json()
    person = api.post(
        f"{base}/staff", json={"name": words["person"], "team": "logistics", "role": "staff"}
    ).json()

    context = browser.new_context(
        viewport={"width": 1440, "height": 900},
        locale="zh-CN" if lang == "zh" else "en-GB",
        timezone_id="Europe/London",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    page.click(f"[data-lang={lang}]")
    page.click(f"#event-list tr[data-event='{e}'] a")
    page.click("#sidebar a[data-tab=tasks]")
    page.wait_for_selector("#sheet-list")

    # A run sheet by hand: the due column previews 07:00 on the event's clock.
    page.click("#sheet-new")
    page.fill("#sheet-name", "T")
    row = page.locator("#sheet-items tr.item").first
    row.locator("[name=title]").fill(words["first"])
    row.locator("[name=team]").select_option("security")
    row.locator("[name=zone]").select_option(str(hall["id"]))
    row.locator("[name=steps]").fill("A | B")
    assert row.locator("td.due").inner_text() == "12-20 07:00"
    row.locator("[name=offset]").fill("-90")
    assert row.locator("td.due").inner_text() == "12-20 07:30"
    page.click("#sheet-save")
    page.wait_for_selector("#sheet-list tr[data-sheet]")
    [made] = api.get(f"{base}/run-sheets").json()["run_sheets"]
    assert [(i["offset_minutes"], i["team"], i["zone"], i["steps"]) for i in made["items"]] == [
        (-90, "security", hall["id"], ["A", "B"])
    ]
    # ... and changed: renamed, an item added.
    page.click(f"#sheet-list tr[data-sheet='{made['id']}'] [data-action=edit]")
    page.fill("#sheet-name", "T2")
    page.click("#sheet-add-item")
    page.locator("#sheet-items tr.item").nth(1).locator("[name=title]").fill("x")
    page.click("#sheet-save")
    page.wait_for_selector(f"#sheet-list tr[data-sheet='{made['id']}'] td:has-text('T2')")
    assert len(api.get(f"{base}/run-sheets").json()["run_sheets"][0]["items"]) == 2

    # The CSV: line 3 named with its problem, the three good rows kept.
    csv = tmp_path / "sheet.csv"
    csv.write_bytes(words["csv"].encode("utf-8-sig"))
    page.set_input_files("#sheet-csv", str(csv))
    page.wait_for_selector("#sheet-problems:not(.hidden)")
    assert words["line3"] in page.inner_text("#sheet-problems")
    assert page.locator("#sheet-items tr.item").count() == 3
    assert page.input_value("#sheet-name") == "sheet"
    page.fill("#sheet-name", words["sheet"])
    shot(page, artifacts / f"console-tasks-import-{lang}.png")
    one_language(page, lang)
    # The bad row mended by hand.
    page.click("#sheet-add-item")
    mended = page.locator("#sheet-items tr.item").nth(3)
    mended.locator("[name=offset]").fill("-60")
    mended.locator("[name=title]").fill(words["water"])
    mended.locator("[name=team]").select_option("logistics")
    page.click("#sheet-save")
    page.wait_for_selector("#sheet-list tr[data-sheet] >> nth=1")
    sheet = next(
        s for s in api.get(f"{base}/run-sheets").json()["run_sheets"] if s["name"] == words["sheet"]
    )
    assert sorted(i["title"] for i in sheet["items"]) == sorted(words["titles"])

    # Applied once: shown applied with its time, no more editing.
    page.click(f"#sheet-list tr[data-sheet='{sheet['id']}'] [data-action=apply]")
    page.click("dialog.ask button[value=ok]")
    page.wait_for_selector(f"#sheet-list tr[data-sheet='{sheet['id']}'][data-applied=yes]")
    state = page.inner_text(f"#sheet-list tr[data-sheet='{sheet['id']}'] .state")
    assert words["applied"] in state
    applied = page.locator(f"#sheet-list tr[data-sheet='{sheet['id']}']")
    assert applied.locator("[data-action=apply]").count() == 0
    assert applied.locator("[data-action=delete]").count() == 0
    tasks = api.get(f"{base}/tasks").json()["tasks"]
    assert sorted(task["title"] for task in tasks) == sorted(words["titles"])
    assert api.post(f"{base}/run-sheets/{sheet['id']}/apply", json={}).json()["created"] == 0

    # The tasks by team, due on the event's clock (not London's).
    page.wait_for_selector("#task-groups tr[data-task] >> nth=3")
    first = next(task for task in tasks if task["title"] == words["first"])
    first_row = page.inner_text(f"#task-groups tr[data-task='{first['id']}']")
    assert (
        "12-20 07:00" in first_row and words["hall"] in first_row and words["steps_2"] in first_row
    )
    security = page.locator("#task-groups .task-group[data-team=security]")
    assert security.locator("tr[data-task]").count() == 1
    page.select_option("#task-filter-team", "logistics")
    assert page.locator("#task-groups tr[data-task]").count() == 1
    page.select_option("#task-filter-team", "")
    page.select_option("#task-filter-status", "done")
    page.wait_for_selector("#task-groups .empty")
    page.select_option("#task-filter-status", "")

    # One task changed: a person and a new due time, through PATCH with a nonce.
    water = next(task for task in tasks if task["title"] == words["water"])
    assert page.inner_text(f"#task-groups tr[data-task='{water['id']}'] td.due") == "12-20 08:00"
    page.click(f"#task-groups tr[data-task='{water['id']}'] [data-action=edit]")
    assert page.input_value("#task-form [name=due_at]") == "2026-12-20T08:00"
    page.select_option("#task-form [name=staff]", str(person["id"]))
    page.fill("#task-form [name=due_at]", "2026-12-20T08:15")
    page.select_option("#task-form [name=priority]", "high")
    page.click("#task-submit")
    page.wait_for_selector(f"#task-groups tr[data-task='{water['id']}'] td.due:has-text('08:15')")
    changed = next(t for t in api.get(f"{base}/tasks").json()["tasks"] if t["id"] == water["id"])
    assert (changed["staff"], changed["due_at"], changed["priority"]) == (
        person["id"],
        "2026-12-20T00:15:00+00:00",
        "high",
    )
    assert changed["steps"] == []  # no checklist sent: none made
    # The first task's checklist anew: "A" ticked on a phone keeps its tick.
    kept, dropped = first["steps"]
    tick = {"nonce": "tick-first", "steps": [{"id": kept["id"], "done": True}]}
    assert api.patch(f"/api/v1/tasks/{first['id']}", json=tick).status_code == 200
    page.click("#task-refresh")
    page.wait_for_selector(f"#task-groups tr[data-task='{first['id']}'] td:has-text('1/2')")
    page.click(f"#task-groups tr[data-task='{first['id']}'] [data-action=edit]")
    assert page.input_value("#task-form [name=steps]") == f"{kept['title']}\n{dropped['title']}"
    page.fill("#task-form [name=steps]", f"{kept['title']}\nC\nD")
    page.click("#task-submit")
    page.wait_for_selector(f"#task-groups tr[data-task='{first['id']}'] td:has-text('1/3')")
    renewed = next(t for t in api.get(f"{base}/tasks").json()["tasks"] if t["id"] == first["id"])
    assert [(s["id"] == kept["id"], s["title"], s["done"]) for s in renewed["steps"]] == [
        (True, kept["title"], True),
        (False, "C", False),
        (False, "D", False),
    ]

    # A task added by hand, for a person of the roster.
    page.fill("#task-form [name=title]", words["radio"])
    page.select_option("#task-form [name=staff]", str(person["id"]))
    page.fill("#task-form [name=due_at]", "2026-12-20T08:45")
    page.fill("#task-form [name=steps]", "one\ntwo")
    page.click("#task-submit")
    page.wait_for_selector("#task-groups tr[data-task] >> nth=4")
    radio = next(
        t for t in api.get(f"{base}/tasks").json()["tasks"] if t["title"] == words["radio"]
    )
    assert radio["due_at"] == "2026-12-20T00:45:00+00:00" and len(radio["steps"]) == 2

    # A save whose answer is lost on the way back: the retry sends the same
    # nonce, and the server answers it as the repeat of the first.
    sent: list[dict[str, Any]] = []
    answered: list[dict[str, Any]] = []

    def lose_the_first_answer(route: Any) -> None:
        sent.append(route.request.post_data_json)
        reply = route.fetch()
        answered.append(reply.json())
        if len(sent) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=reply)

    page.route(f"**/api/v1/tasks/{radio['id']}", lose_the_first_answer)
    page.click(f"#task-groups tr[data-task='{radio['id']}'] [data-action=edit]")
    page.select_option("#task-form [name=priority]", "low")
    page.click("#task-submit")
    page.wait_for_selector("#task-form .form-error:not(.hidden)")
    page.click("#task-submit")
    page.wait_for_selector(f"#task-groups tr[data-task='{radio['id']}'] .priority-low")
    page.unroute(f"**/api/v1/tasks/{radio['id']}")
    assert len(sent) == 2 and sent[0]["nonce"] == sent[1]["nonce"]
    assert [a["repeated"] for a in answered] == [False, True]

    one_language(page, lang)
    no_overflow(page)
    shot(page, artifacts / f"console-tasks-1440-{lang}.png")
    page.set_viewport_size({"width": 1920, "height": 1080})
    no_overflow(page)
    shot(page, artifacts / f"console-tasks-1920-{lang}.png")
    page.click(f"#sheet-list tr[data-sheet='{sheet['id']}'] [data-action=edit]")
    page.wait_for_selector("#sheet-editor[data-applied=yes]:not(.hidden)")
    assert page.locator("#sheet-save").is_hidden()
    shot(page, artifacts / f"console-tasks-sheet-{lang}.png")

    # The command centre's board shows the change.
    screen = context.new_page()
    screen.on("pageerror", lambda exc: errors.append(str(exc)))
    screen.goto(f"{live_server.base_url}/command/#token={live_server.token}&event={e}")
    screen.click("#tasks-button")
    card = screen.locator(f"#task-columns [data-status=todo] [data-task='{water['id']}']")
    card.wait_for()
    assert words["person"] in card.inner_text() and "08:15" in card.inner_text()
    assert screen.locator("#task-columns [data-task]").count() == 5
    assert errors == []
    context.close()
