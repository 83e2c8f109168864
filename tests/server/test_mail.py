"""A ticket's mail: its parts, its words in each language, the QR code and
the calendar file (pure: no database, no network)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.policy import compat32
from zoneinfo import ZoneInfo

import icalendar
import pytest
import zxingcpp
from PIL import Image

from server.features.mail import LANGUAGES, TicketMail, catalogue, mail_language, ticket_mail
from server.features.mail_sender import INTERRUPTED, REFUSED, RETRY, smtp_failure

SECRET = "M" + "A1B2C3D4E5" * 14


def sample(**changes: object) -> TicketMail:
    mail = TicketMail(
        sender="Muster <tickets@example.org>",
        to_name="王伟",
        to_address="wang@example.com",
        language="zh",
        event_id=3,
        event_name="新品发布会 2026",
        location="上海国际会议中心 3 号厅",
        starts_at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        timezone="Asia/Shanghai",
        ticket_id=42,
        ticket_type="VIP 贵宾票",
        code="00001A",
        secret=SECRET,
        link=f"https://tickets.example.org/t/{SECRET}",
    )
    return replace(mail, **changes)  # type: ignore[arg-type]


def parsed(mail: TicketMail) -> EmailMessage:
    raw = ticket_mail(mail, datetime(2026, 11, 20, tzinfo=UTC)).as_bytes(
        policy=compat32.clone(linesep="\r\n")
    )
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_catalogues_have_the_same_sentences():
    keys = {lang: set(catalogue(lang)) for lang in LANGUAGES}
    assert keys["zh"] == keys["en"]
    assert all(catalogue(lang)[k].strip() for lang in LANGUAGES for k in keys[lang])


def test_language_is_the_attendees_else_the_events():
    assert mail_language("en", "zh") == "en"
    assert mail_language("", "en") == "en"
    assert mail_language("", "zh") == "zh"
    assert mail_language("fr", "xx") == "zh"


def test_structure_plain_html_inline_qr_and_calendar():
    message = parsed(sample())
    assert message.get_content_type() == "multipart/mixed"
    types = [part.get_content_type() for part in message.walk()]
    assert types == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "text/calendar",
    ]
    assert message["Subject"] == "您的电子票：新品发布会 2026"
    assert message["To"].addresses[0].display_name == "王伟"
    assert message["To"].addresses[0].addr_spec == "wang@example.com"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for text in (plain, html):
        assert "王伟" in text and "VIP 贵宾票" in text and "00001A" in text
        assert "上海国际会议中心 3 号厅" in text
        assert "2026-12-01" in text and "09:00" in text and "18:00" in text
    assert f"https://tickets.example.org/t/{SECRET}" in plain
    assert f'href="https://tickets.example.org/t/{SECRET}"' in html
    image = next(p for p in message.walk() if p.get_content_type() == "image/png")
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    assert image.get_content_disposition() == "inline"


def test_inline_qr_decodes_to_the_secret():
    message = parsed(sample())
    image = next(p for p in message.walk() if p.get_content_type() == "image/png")
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.get_content())))
    assert decoded.text == SECRET


def test_calendar_times_are_in_the_events_zone():
    message = parsed(sample())
    ics = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert ics.get_filename() == "invite.ics"
    assert ics.get_param("method") == "PUBLISH"
    cal = icalendar.Calendar.from_ical(ics.get_content())
    [entry] = cal.walk("VEVENT")
    start, end = entry.decoded("dtstart"), entry.decoded("dtend")
    assert start == datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert end == datetime(2026, 12, 1, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert str(entry["dtstart"].params["TZID"]) == "Asia/Shanghai"
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    assert str(entry["summary"]) == "新品发布会 2026"
    assert str(entry["location"]) == "上海国际会议中心 3 号厅"
    assert str(entry["uid"]) == "ticket-42@muster"


def test_calendar_across_a_daylight_saving_change():
    mail = sample(
        timezone="Europe/Berlin",
        starts_at=datetime(2026, 3, 28, 18, 0, tzinfo=UTC),
        ends_at=datetime(2026, 3, 29, 12, 0, tzinfo=UTC),
    )
    ics = next(p for p in parsed(mail).walk() if p.get_content_type() == "text/calendar")
    [entry] = icalendar.Calendar.from_ical(ics.get_content()).walk("VEVENT")
    berlin = ZoneInfo("Europe/Berlin")
    assert entry.decoded("dtstart") == datetime(2026, 3, 28, 19, 0, tzinfo=berlin)
    assert entry.decoded("dtend") == datetime(2026, 3, 29, 14, 0, tzinfo=berlin)
    assert entry.decoded("dtend").utcoffset().total_seconds() == 7200


def test_english_mail_and_the_reissued_note():
    message = parsed(sample(language="en", note="reissued", to_name="Ann Lee"))
    assert message["Subject"] == "Your new ticket: 新品发布会 2026"
    assert message["Content-Language"] == "en"
    plain = message.get_body(("plain",)).get_content()
    assert plain.startswith("Hello Ann Lee,")
    assert "no longer works" in plain
    assert "no longer works" in message.get_body(("html",)).get_content()
    first = parsed(sample(language="en"))
    assert "no longer works" not in first.get_body(("plain",)).get_content()


def test_names_are_escaped_in_the_html():
    message = parsed(sample(to_name="<b>Eve</b>", event_name="A & B"))
    html = message.get_body(("html",)).get_content()
    assert "<b>Eve</b>" not in html and "&lt;b&gt;Eve&lt;/b&gt;" in html
    assert "A &amp; B" in html


@pytest.mark.parametrize(
    ("phase", "code", "meaning"),
    [
        ("connect", None, RETRY),
        ("connect", 535, RETRY),
        ("envelope", 550, REFUSED),
        ("envelope", 451, RETRY),
        ("envelope", None, RETRY),
        ("data", 554, REFUSED),
        ("data", 452, RETRY),
        ("data", None, INTERRUPTED),
    ],
)
def test_what_an_smtp_failure_means(phase, code, meaning):
    assert smtp_failure(phase, code) == meaning
