"""The console's attendee and ticket tools in Chromium, checked through the
API: the file picker with a GB18030 file (Excel's default in Chinese), a
bad row left out, the bad rows downloaded, one ticket issued, search, QR
download, the attendee link, revoke and re-issue, and walk-in badges laid out
3 × 4 on A4 (printed to PDF as an artefact).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import LiveServer

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1440, "height": 900}


@pytest.fixture(scope="module")
def event_id(live_server: LiveServer) -> int:
    with live_server.api() as api:
        event = api.post(
            "/api/v1/events",
            json={
                "name": "客户日 Customer Day",
                "starts_at": "2026-12-02T09:00:00+08:00",
                "ends_at": "2026-12-02T18:00:00+08:00",
                "timezone": "Asia/Shanghai",
            },
        ).json()
        api.post(f"/api/v1/events/{event['id']}/zones", json={"name": "Hall", "capacity": 500})
    return int(event["id"])


@pytest.fixture
def page(live_server: LiveServer, browser: Any, event_id: int) -> Any:
    context = browser.new_context(viewport=LAPTOP, locale="en-US", accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.base_url)
    # Count print dialogs instead of opening them.
    context.add_init_script(
        "window.print = () => { window.__printed = (window.__printed || 0) + 1; };"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.base_url}/console/#token={live_server.token}")
    page.wait_for_selector("#event-list")
    page.goto(f"{live_server.base_url}/console/#event={event_id}&tab=tickets")
    page.wait_for_selector("#dropzone")
    yield page
    assert errors == []
    context.close()


def tickets_of(live_server: LiveServer, event_id: int, q: str = "") -> list[dict[str, Any]]:
    with live_server.api() as api:
        return list(
            api.get(f"/api/v1/events/{event_id}/tickets", params={"q": q, "limit": 500}).json()[
                "tickets"
            ]
        )


def test_gb18030_file_with_a_bad_row_left_out(
    live_server: LiveServer, page: Any, event_id: int, artifacts: Path
) -> None:
    text = "姓名,邮箱\n张三,zhang.san@example.com\n,nobody@example.com\n李四,li.si@example.com\n"
    page.set_input_files(
        "#csv-file",
        files=[{"name": "名单.csv", "mimeType": "text/csv", "buffer": text.encode("gb18030")}],
    )
    page.wait_for_selector("#import-errors")
    row = page.locator("#import-errors tbody tr")
    assert row.get_attribute("data-line") == "3"
    # The reason in the page's language, from the server's code.
    assert "the name is empty" in row.inner_text()
    assert row.locator("[data-code=name_empty]").count() == 1

    # The bad rows download as a CSV with the line and the reason.
    with page.expect_download() as info:
        page.click("#import-download-bad")
    download = Path(info.value.path()).read_text("utf-8-sig")
    lines = download.splitlines()
    assert lines[0] == "姓名,邮箱,Line,Problem"
    assert lines[1] == ",nobody@example.com,3,the name is empty"

    # Leave the row out and upload again: the other two are imported.
    row.locator("input[type=checkbox]").check()
    page.click("#import-reupload")
    page.wait_for_selector("#import-ok")
    names = {t["holder_name"] for t in tickets_of(live_server, event_id)}
    assert {"张三", "李四"} <= names
    assert "nobody@example.com" not in {
        t["holder_email"] for t in tickets_of(live_server, event_id)
    }


def test_issue_search_qr_link_revoke_and_reissue(
    live_server: LiveServer, page: Any, event_id: int, artifacts: Path
) -> None:
    page.fill("#issue-one [name=holder_name]", "Zhou Min")
    page.fill("#issue-one [name=holder_email]", "zhou.min@example.com")
    page.click("#issue-one button[type=submit]")
    page.wait_for_selector("text=Ticket issued to Zhou Min")  # the toast: the server has answered
    [ticket] = [t for t in tickets_of(live_server, event_id, "Zhou Min")]
    page.fill("#ticket-search", "zhou.min")
    row = page.locator(f"#ticket-list tr[data-ticket='{ticket['id']}']")
    row.wait_for()
    page.wait_for_function(
        "() => document.querySelectorAll('#ticket-list tr[data-ticket]').length === 1"
    )

    # One ticket's QR code as a PNG.
    with page.expect_download() as info:
        row.locator("button", has_text="QR").click()
    assert info.value.suggested_filename == f"ticket-{ticket['code']}.png"
    assert Path(info.value.path()).read_bytes().startswith(b"\x89PNG")

    # The attendee's link, copied to send.
    row.locator("button", has_text="Copy link").click()
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == f"{live_server.base_url}/t/{ticket['secret']}"
    assert "Zhou Min" in httpx.get(link).text

    # Re-issue: a new secret, still valid; the old link no longer shows a ticket.
    row.locator("button", has_text="Re-issue").click()
    page.fill("dialog.ask [name=answer]", "phone lost")
    page.click("dialog.ask button.primary")
    page.wait_for_selector("text=re-issued")
    reissued = tickets_of(live_server, event_id, "Zhou Min")[0]
    assert reissued["status"] == "valid"
    assert reissued["secret"] != ticket["secret"]
    assert httpx.get(link).status_code == 404

    # Revoke, after a confirmation.
    row.locator("button", has_text="Revoke").click()
    page.click("dialog.ask button.danger")
    page.wait_for_selector(f"#ticket-list tr.revoked[data-ticket='{ticket['id']}']")
    assert tickets_of(live_server, event_id, "Zhou Min")[0]["status"] == "revoked"
    page.screenshot(path=str(artifacts / "console-tickets-revoked.png"))


def test_walk_in_badges_print_three_by_four_on_a4(
    live_server: LiveServer, page: Any, event_id: int, artifacts: Path
) -> None:
    page.fill("#walk-ins [name=count]", "14")
    page.click("#walk-ins button[type=submit]")
    page.wait_for_function("() => window.__printed === 1", timeout=30_000)
    walk_ins = [
        t for t in tickets_of(live_server, event_id) if t["holder_name"].startswith("Walk-in")
    ]
    assert len(walk_ins) == 14
    assert page.locator("#print-root .sheet").count() == 2
    assert page.locator("#print-root .badge").count() == 14
    assert page.locator("#print-root .badge svg").count() == 14

    page.emulate_media(media="print")
    assert not page.locator("#main").is_visible()
    first_sheet = page.locator("#print-root .sheet").first.locator(".badge")
    boxes = [first_sheet.nth(i).bounding_box() for i in range(12)]
    assert len({round(b["x"]) for b in boxes}) == 3
    assert len({round(b["y"]) for b in boxes}) == 4
    page.screenshot(path=str(artifacts / "console-badges-print.png"), full_page=True)
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    (artifacts / "console-badges.pdf").write_bytes(pdf)
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 2
    page.emulate_media(media="screen")


#: Names that used to push a row onto the next sheet: two lines, long CJK,
#: one unbroken Latin word, a company name with a title.
AWKWARD_NAMES = [
    "王伟",
    "Maximilian Alexander von Hohenberg-Schwarzenstein",
    "欧阳娜娜（上海新能源汽车技术研究院 市场部总监）",
    "Supercalifragilisticexpialidocious-Engineering-Group",
    "李娜 Li Na · 北京分公司",
    "Dr. Chen Jie, Chief Technology Officer, Asia Pacific",
    "司马相如",
    "A",
    "张 三 李 四 王 五 赵 六 钱 七 孙 八 周 九 吴 十",
    "Ｆｕｌｌｗｉｄｔｈ　Ｎａｍｅ　Ｔｅｓｔ",
    "Sarah Lee",
    "诸葛孔明先生（特邀嘉宾）",
    "O'Brien-McAllister, Siobhán",
]


def test_badges_fit_any_name_and_every_qr_decodes_from_the_pdf(
    live_server: LiveServer, page: Any, event_id: int, artifacts: Path
) -> None:
    import pypdfium2
    import zxingcpp

    with live_server.api() as api:
        issued = api.post(
            f"/api/v1/events/{event_id}/tickets",
            json={"tickets": [{"holder_name": n} for n in AWKWARD_NAMES]},
        ).json()["tickets"]
    secrets = {t["secret"] for t in issued}
    page.fill("#ticket-search", "")
    page.evaluate(
        """async (tickets) => {
            const { printBadges } = await import("/console/js/badges.js");
            const { Api } = await import("/shared/api.js");
            const api = new Api(localStorage.getItem("muster.console.token"));
            const types = new Map(tickets.map((t) => [t.ticket_type, "VIP 贵宾 · 全场通行 All-access"]));
            await printBadges(api, { name: "新品发布会 2026 · 上海国际会议中心 · 第三届全球合作伙伴大会" }, tickets, types);
        }""",
        issued,
    )
    page.wait_for_function("() => window.__printed >= 1")
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    page.emulate_media(media="screen")
    (artifacts / "console-badges-awkward.pdf").write_bytes(pdf)

    document = pypdfium2.PdfDocument(pdf)
    assert len(document) == 2  # 13 badges: 12 on the first sheet, 1 on the second
    found: list[str] = []
    for number in range(len(document)):
        image = document[number].render(scale=200 / 72).to_pil()
        image.save(artifacts / f"console-badges-awkward-{number + 1}.png")
        codes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
        boxes = []
        for code in codes:
            xs = [
                p.x
                for p in (
                    code.position.top_left,
                    code.position.top_right,
                    code.position.bottom_left,
                    code.position.bottom_right,
                )
            ]
            ys = [
                p.y
                for p in (
                    code.position.top_left,
                    code.position.top_right,
                    code.position.bottom_left,
                    code.position.bottom_right,
                )
            ]
            boxes.append((min(xs), min(ys), max(xs), max(ys)))
        # No QR code overlaps another.
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
        found += [code.text for code in codes]
        assert len(codes) == (12 if number == 0 else 1)
    # Each decodes, to its own ticket's secret, once.
    assert sorted(found) == sorted(secrets)
