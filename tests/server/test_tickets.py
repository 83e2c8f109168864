"""Issuing tickets: one, a JSON list, a CSV upload; lookup, revoke, QR, the ticket page."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from checkin.secrets import SecretError
from server.features.keys import key_store
from server.models import Revocation, Ticket


async def ticket_count(ctx) -> int:
    async with ctx.db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def test_issue_one(organiser, ctx, event, ticket):
    assert set(ticket) >= {"id", "secret", "code", "holder_name", "ticket_type"}
    claims = (await key_store(ctx).ring(event["id"])).verify(ticket["secret"])
    assert claims.ticket_id == ticket["id"] and claims.event_id == event["id"]
    read = await organiser.get(f"/api/v1/tickets/{ticket['id']}")
    assert read["holder_name"] == "王伟" and read["status"] == "valid"


async def test_issue_batch(organiser, event):
    body = {
        "tickets": [
            {"holder_name": f"Guest {i}", "holder_email": f"g{i}@example.com"} for i in range(50)
        ]
    }
    issued = await organiser.post(f"/api/v1/events/{event['id']}/tickets", body, expect=201)
    assert issued["count"] == 50
    assert len({t["secret"] for t in issued["tickets"]}) == 50


async def test_batch_with_a_bad_row_writes_nothing(organiser, ctx, event):
    body = {
        "tickets": [
            {"holder_name": "Fine"},
            {"holder_name": "   "},
            {"holder_name": "Also fine", "holder_email": "not-an-email"},
            {"holder_name": "Typo", "ticket_type": "Platinum"},
        ]
    }
    failed = await organiser.post(f"/api/v1/events/{event['id']}/tickets", body, expect=422)
    errors = failed["error"]["details"]["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (2, "holder_name"),
        (3, "holder_email"),
        (4, "ticket_type"),
    ]
    assert await ticket_count(ctx) == 0


CSV = (
    "holder_name,holder_email,ticket_type\n王伟,wang@example.com,\nLi Na,li@example.com,Standard\n"
)


async def test_csv_upload(organiser, event):
    issued = await organiser.post(
        f"/api/v1/events/{event['id']}/tickets",
        content=CSV.encode(),
        headers={"Content-Type": "text/csv"},
        expect=201,
    )
    assert [t["holder_name"] for t in issued["tickets"]] == ["王伟", "Li Na"]
    assert [t["line"] for t in issued["tickets"]] == [2, 3]


async def test_csv_multipart_chinese_headers_gbk(organiser, event):
    text = "姓名,邮箱\n张三,zhang@example.com\n"
    files = {"file": ("guests.csv", text.encode("gb18030"), "text/csv")}
    response = await organiser.http.post(
        f"/api/v1/events/{event['id']}/tickets", files=files, headers=organiser.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["tickets"][0]["holder_name"] == "张三"


async def test_csv_bad_rows_report_line_numbers_and_write_nothing(organiser, ctx, event):
    rows = ["name,email"] + [f"Guest {i},g{i}@example.com" for i in range(1, 200)]
    rows[57] = ",nobody@example.com"
    rows[120] = "Bad Email,nope"
    failed = await organiser.post(
        f"/api/v1/events/{event['id']}/tickets",
        content="\n".join(rows).encode(),
        headers={"Content-Type": "text/csv"},
        expect=422,
    )
    details = failed["error"]["details"]
    assert failed["error"]["code"] == "bad_rows"
    assert details["error_count"] == 2
    # Codes and parameters, which the console words in its reader's language.
    assert [(e["line"], e["field"], e["code"], e["params"]) for e in details["errors"]] == [
        (58, "holder_name", "name_empty", {}),
        (121, "holder_email", "email_invalid", {"value": "nope"}),
    ]
    assert all("message" not in e for e in details["errors"])
    assert await ticket_count(ctx) == 0


async def test_csv_without_name_column(organiser, event):
    failed = await organiser.post(
        f"/api/v1/events/{event['id']}/tickets",
        content=b"email\na@example.com\n",
        headers={"Content-Type": "text/csv"},
        expect=422,
    )
    assert failed["error"]["code"] == "csv_no_name_column"
    assert failed["error"]["details"] == {"header": ["email"]}


async def test_csv_row_limit(organiser, ctx, event, monkeypatch):
    from dataclasses import replace

    ctx.settings = replace(ctx.settings, csv_max_rows=3)
    body = "name\n" + "\n".join(f"G{i}" for i in range(4))
    failed = await organiser.post(
        f"/api/v1/events/{event['id']}/tickets",
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
        expect=422,
    )
    assert failed["error"]["code"] == "csv_too_many_rows"
    assert failed["error"]["details"] == {"max": 3}
    assert await ticket_count(ctx) == 0


async def test_lookup_by_name_email_code(organiser, event, ticket):
    base = f"/api/v1/events/{event['id']}/tickets"
    for q in ("王", "WANG@example", ticket["code"], ticket["code"].lower(), ticket["secret"]):
        found = await organiser.get(f"{base}?q={q}")
        assert [t["id"] for t in found["tickets"]] == [ticket["id"]], q
    assert (await organiser.get(f"{base}?q=nobody"))["tickets"] == []


async def test_revoke_and_reissue(organiser, ctx, event, ticket):
    ring = await key_store(ctx).ring(event["id"])
    reissued = await organiser.post(
        f"/api/v1/tickets/{ticket['id']}/revoke", {"reissue": True}, expect=200
    )
    assert reissued["secret"] != ticket["secret"] and reissued["generation"] == 2
    assert ring.verify(reissued["secret"]).generation == 2
    # The old secret still carries a valid signature: the revocation list and
    # the generation on the ticket row are what refuse it at the door.
    assert ring.verify(ticket["secret"]).generation == 1
    revoked = await organiser.post(
        f"/api/v1/tickets/{ticket['id']}/revoke", {"reason": "refund"}, expect=200
    )
    assert revoked["status"] == "revoked"
    again = await organiser.post(f"/api/v1/tickets/{ticket['id']}/revoke", {}, expect=422)
    assert again["error"]["code"] == "already_revoked"
    async with ctx.db.reading() as session:
        revocations = (await session.scalars(select(Revocation).order_by(Revocation.id))).all()
    assert [(r.ticket_id, r.generation) for r in revocations] == [
        (ticket["id"], 1),
        (ticket["id"], 2),
    ]


async def test_qr_png_and_svg(organiser, ticket):
    png = await organiser.get(f"/api/v1/tickets/{ticket['id']}/qr.png")
    assert png.headers["content-type"] == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert decoded.text == ticket["secret"]
    svg = await organiser.get(f"/api/v1/tickets/{ticket['id']}/qr.svg?scale=4")
    assert svg.text.startswith("<svg")
    await organiser.get(f"/api/v1/tickets/{ticket['id']}/qr.png?scale=x", expect=422)


async def test_ticket_page(client, ticket, organiser):
    page = await client.get(f"/t/{ticket['secret']}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert page.status_code == 200
    assert "王伟" in page.text and "<svg" in page.text and "入场" in page.text
    english = await client.get(f"/t/{ticket['secret']}", headers={"Accept-Language": "en-US"})
    assert "Show this code" in english.text
    await organiser.post(f"/api/v1/tickets/{ticket['id']}/revoke", {}, expect=200)
    void = await client.get(f"/t/{ticket['secret']}?lang=en")
    assert "no longer valid" in void.text and "<svg" not in void.text
    # A bad link is a page in the attendee's language, not the API's JSON error.
    missing = await client.get("/t/NOPE", headers={"Accept-Language": "zh-CN"})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "找不到这张电子票" in missing.text and '"error"' not in missing.text
    assert "Show this code" not in missing.text  # one language at a time
    english_missing = await client.get("/t/NOPE?lang=en")
    assert "This ticket cannot be found" in english_missing.text
    assert "找不到" not in english_missing.text


def test_event_span_marks_the_next_day():
    from zoneinfo import ZoneInfo

    from server.routes.tickets import event_span

    tz = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai
    assert event_span(start, start + timedelta(hours=3), tz, "en") == "2026-12-01 18:00 – 21:00"
    assert event_span(start, start + timedelta(hours=8), tz, "zh") == (
        "2026-12-01 18:00 – 02:00（次日）"
    )
    assert event_span(start, start + timedelta(hours=8), tz, "en") == (
        "2026-12-01 18:00 – 02:00 (next day)"
    )
    assert event_span(start, start + timedelta(days=2), tz, "en") == (
        "2026-12-01 18:00 – 2026-12-03 18:00"
    )


async def test_tampered_secret_is_refused_by_the_ring(ctx, event, ticket):
    ring = await key_store(ctx).ring(event["id"])
    tampered = ticket["secret"][:-5] + (
        "AAAAA" if not ticket["secret"].endswith("AAAAA") else "BBBBB"
    )
    try:
        ring.verify(tampered)
    except SecretError as err:
        assert err.reason == "invalid"
    else:
        raise AssertionError("a tampered secret verified")


async def test_importing_the_same_list_again_asks_before_doubling_tickets(organiser, ctx, event):
    url = f"/api/v1/events/{event['id']}/tickets"
    first = "姓名,邮箱\n王伟,wang@example.com\n李娜,li.na@example.com\n"
    csv_headers = {"Content-Type": "text/csv"}
    done = await organiser.post(url, content=first.encode(), headers=csv_headers, expect=201)
    assert done["count"] == 2 and done["skipped"] == []
    again = first + "Chen Jie,CHEN@example.com\n张敏,\n"
    # Said once, with each row's line and the ticket its email holds.
    refused = await organiser.post(url, content=again.encode(), headers=csv_headers, expect=409)
    assert refused["error"]["code"] == "emails_hold_tickets"
    details = refused["error"]["details"]
    codes = {t["holder_email"]: t["code"] for t in done["tickets"]}
    assert details["count"] == 2
    assert details["rows"] == [
        {"line": 2, "email": "wang@example.com", "code": codes["wang@example.com"]},
        {"line": 3, "email": "li.na@example.com", "code": codes["li.na@example.com"]},
    ]
    assert await ticket_count(ctx) == 2
    # Left out: the new rows only (an email is the same in any case).
    skip = await organiser.post(
        f"{url}?existing_emails=skip",
        content=again.upper().encode(),
        headers=csv_headers,
        expect=201,
    )
    assert [t["holder_name"] for t in skip["tickets"]] == ["CHEN JIE", "张敏"]
    assert skip["skipped_count"] == 2 and [r["line"] for r in skip["skipped"]] == [2, 3]
    # Nothing new: nothing issued, and no error.
    nothing = await organiser.post(
        f"{url}?existing_emails=skip", content=first.encode(), headers=csv_headers, expect=201
    )
    assert nothing["count"] == 0 and nothing["skipped_count"] == 2
    # Issued anyway when asked.
    anyway = await organiser.post(
        f"{url}?existing_emails=issue", content=first.encode(), headers=csv_headers, expect=201
    )
    assert anyway["count"] == 2
    assert await ticket_count(ctx) == 6
    bad = await organiser.post(
        f"{url}?existing_emails=maybe", content=first.encode(), headers=csv_headers, expect=422
    )
    assert bad["error"]["code"] == "bad_existing_emails"
