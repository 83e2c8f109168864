"""A ticket's mail: the words, the inline QR code and the calendar file.

Pure: ``ticket_mail`` turns plain data (``TicketMail``) into an email
``Message``; nothing here touches the database or the network
(``server.features.mail_sender`` does). The mail is rendered on the server because a
mail has no page to render it: its sentences live in one catalogue per
language, ``server/templates/mail.{zh,en}.toml``, with the same keys.

The structure, which mail programs from Outlook to WeChat's mail view show
well::

    multipart/mixed
      multipart/alternative
        text/plain                      the same words, and the link
        multipart/related
          text/html                     <img src="cid:qr…">
          image/png                     the QR code (checkin.qr), inline
      text/calendar; method=PUBLISH     invite.ics, in the event's time zone
"""

from __future__ import annotations

import html
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.header import Header
from email.message import Message
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar

from checkin.qr import render_png

LANGUAGES = ("zh", "en")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

#: Pixels per QR module in the mail: 41 modules + quiet zone → 392 px.
QR_SCALE = 8

#: Mail notes: "" (a first mail) or "reissued" (the old code no longer works).
NOTES = ("", "reissued")


@cache
def catalogue(language: str) -> dict[str, str]:
    """The sentences of ticket mail in ``language`` ("zh" or "en")."""
    if language not in LANGUAGES:
        raise ValueError(f"no mail catalogue for {language!r}")
    with (TEMPLATES / f"mail.{language}.toml").open("rb") as f:
        return {k: str(v) for k, v in tomllib.load(f).items()}


def mail_language(ticket_language: str, event_language: str) -> str:
    """The attendee's own language if they chose one, else the event's."""
    if ticket_language in LANGUAGES:
        return ticket_language
    return event_language if event_language in LANGUAGES else LANGUAGES[0]


@dataclass(frozen=True)
class TicketMail:
    """Everything one ticket's mail says, as plain data."""

    sender: str
    to_name: str
    to_address: str
    language: str
    event_id: int
    event_name: str
    location: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    ticket_id: int
    ticket_type: str
    code: str
    secret: str
    #: The attendee's page, ``{public URL}/t/{secret}``.
    link: str
    note: str = ""


def when_text(mail: TicketMail, words: dict[str, str]) -> str:
    zone = ZoneInfo(mail.timezone)
    start, end = mail.starts_at.astimezone(zone), mail.ends_at.astimezone(zone)
    template = words["time_same_day"] if start.date() == end.date() else words["time_days"]
    return template.format(
        date=f"{start:%Y-%m-%d}",
        start=f"{start:%H:%M}",
        end_date=f"{end:%Y-%m-%d}",
        end=f"{end:%H:%M}",
        zone=mail.timezone,
    )


def calendar_file(mail: TicketMail, stamp: datetime) -> bytes:
    """An iCalendar file with the event, its times in the event's own zone.

    The UID is the ticket's, so a resent mail updates the same calendar
    entry instead of adding a second one.
    """
    zone = ZoneInfo(mail.timezone)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Muster//ticket mail//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    entry = icalendar.Event()
    entry.add("uid", f"ticket-{mail.ticket_id}@muster")
    entry.add("dtstamp", stamp)
    entry.add("dtstart", mail.starts_at.astimezone(zone))
    entry.add("dtend", mail.ends_at.astimezone(zone))
    entry.add("summary", mail.event_name)
    if mail.location:
        entry.add("location", mail.location)
    entry.add("description", f"{mail.ticket_type} · {mail.code}\n{mail.link}")
    entry.add("url", mail.link)
    first = mail.starts_at.astimezone(zone).date() - timedelta(days=1)
    last = mail.ends_at.astimezone(zone).date() + timedelta(days=2)
    cal.add_component(_vtimezone(mail.timezone, first, last))
    cal.add_component(entry)
    return bytes(cal.to_ical())


@lru_cache(maxsize=64)
def _vtimezone(tzid: str, first: date, last: date) -> icalendar.Timezone:
    """The VTIMEZONE of a zone over the event's dates, made once per event:
    icalendar searches the zone's transitions for it, 20 ms for a zone
    with none in decades (Asia/Shanghai), most of a mail's cost uncached."""
    return icalendar.Timezone.from_tzid(tzid, first_date=first, last_date=last)


def _fill(words: dict[str, str], mail: TicketMail) -> dict[str, str]:
    values = {"name": mail.to_name, "event": mail.event_name}
    return {key: text.format_map(values) for key, text in words.items() if "{date}" not in text}


def _plain(mail: TicketMail, w: dict[str, str], when: str) -> str:
    lines = [w["greeting"], "", w["intro"]]
    if mail.note == "reissued":
        lines += ["", w["reissued"]]
    lines += [
        "",
        f"{w['when']}: {when}",
        *([f"{w['where']}: {mail.location}"] if mail.location else []),
        f"{w['type']}: {mail.ticket_type}",
        f"{w['code']}: {mail.code}",
        "",
        w["link"],
        mail.link,
        "",
        w["calendar"],
        "",
        "-- ",
        w["footer"],
    ]
    return "\n".join(lines) + "\n"


_HTML = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;color:#111">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:24px 12px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:480px;background:#fff;border-radius:12px">
<tr><td style="padding:24px 24px 8px">
<h1 style="font-size:20px;margin:0 0 12px">{event}</h1>
<p style="margin:0 0 8px">{greeting}</p>
<p style="margin:0 0 8px">{intro}</p>
{reissued}
</td></tr>
<tr><td align="center" style="padding:8px 24px">
<img src="cid:{cid}" width="280" height="280" alt="{qr_alt}" style="display:block;width:280px;height:280px">
<p style="font-family:monospace;font-size:18px;letter-spacing:2px;margin:8px 0 0">{code}</p>
</td></tr>
<tr><td style="padding:8px 24px">
<table role="presentation" cellpadding="4" cellspacing="0" style="font-size:15px">
<tr><td style="color:#555">{when_label}</td><td>{when}</td></tr>
{where_row}
<tr><td style="color:#555">{type_label}</td><td>{ticket_type}</td></tr>
<tr><td style="color:#555">{code_label}</td><td>{code}</td></tr>
</table>
</td></tr>
<tr><td style="padding:8px 24px 16px">
<p style="margin:0 0 8px">{link_intro}</p>
<p style="margin:0"><a href="{link}" style="display:inline-block;background:#1d4ed8;color:#fff;text-decoration:none;padding:10px 18px;border-radius:8px">{link_button}</a></p>
<p style="margin:8px 0 0;font-size:12px;color:#555;word-break:break-all">{link}</p>
<p style="margin:12px 0 0;font-size:13px;color:#555">{calendar}</p>
</td></tr>
</table>
<p style="font-size:12px;color:#777;max-width:480px">{footer}</p>
</td></tr></table>
</body></html>
"""


def _html(mail: TicketMail, w: dict[str, str], when: str, cid: str) -> str:
    e = html.escape
    reissued = (
        f'<p style="margin:0 0 8px;color:#b00020;font-weight:600">{e(w["reissued"])}</p>'
        if mail.note == "reissued"
        else ""
    )
    where_row = (
        f'<tr><td style="color:#555">{e(w["where"])}</td><td>{e(mail.location)}</td></tr>'
        if mail.location
        else ""
    )
    return _HTML.format(
        lang="zh-CN" if mail.language == "zh" else "en",
        title=e(w["subject"]),
        event=e(mail.event_name),
        greeting=e(w["greeting"]),
        intro=e(w["intro"]),
        reissued=reissued,
        cid=cid,
        qr_alt=e(w["qr_alt"]),
        code=e(mail.code),
        when_label=e(w["when"]),
        when=e(when),
        where_row=where_row,
        type_label=e(w["type"]),
        ticket_type=e(mail.ticket_type),
        code_label=e(w["code"]),
        link_intro=e(w["link"]),
        link=e(mail.link, quote=True),
        link_button=e(w["link_button"]),
        calendar=e(w["calendar"]),
        footer=e(w["footer"]),
    )


def ticket_mail(mail: TicketMail, stamp: datetime) -> Message:
    """The whole message of one ticket (see the module docstring for its shape).

    Built with ``email.mime`` (the compat32 policy): the newer
    ``EmailMessage`` API parses every header it sets and took ~5 ms a mail,
    twice the QR code's rendering.
    """
    words = catalogue(mail.language)
    w = _fill(words, mail)
    when = when_text(mail, words)
    domain = mail.sender.rsplit("@", 1)[-1].rstrip(">").strip() or "muster"
    cid = make_msgid("qr", domain=domain)
    related = MIMEMultipart("related")
    related.attach(MIMEText(_html(mail, w, when, cid[1:-1]), "html", "utf-8"))
    qr = MIMEImage(render_png(mail.secret, QR_SCALE), "png")
    qr["Content-ID"] = cid
    qr.add_header("Content-Disposition", "inline", filename="ticket-qr.png")
    related.attach(qr)
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(_plain(mail, w, when), "plain", "utf-8"))
    alternative.attach(related)
    ics = MIMEText(calendar_file(mail, stamp).decode(), "calendar", "utf-8")
    ics.set_param("method", "PUBLISH")
    ics.add_header("Content-Disposition", "attachment", filename="invite.ics")
    message = MIMEMultipart("mixed")
    message.attach(alternative)
    message.attach(ics)
    subject = w["reissued_subject" if mail.note == "reissued" else "subject"]
    message["Subject"] = Header(subject, "utf-8").encode()
    message["From"] = mail.sender
    message["To"] = formataddr((mail.to_name, mail.to_address), "utf-8")
    message["Message-ID"] = make_msgid("ticket", domain=domain)
    message["Date"] = formatdate(stamp.timestamp(), localtime=False)
    message["Content-Language"] = "zh-CN" if mail.language == "zh" else "en"
    return message
