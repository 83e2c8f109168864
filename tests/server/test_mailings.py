"""Mailings through the API against a real SMTP server (aiosmtpd on
loopback), on SQLite and PostgreSQL: who gets mail, what it says, what
is recorded when the server refuses, and that nobody is mailed twice."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image

from server.app import create_app
from server.features.mail_sender import MAIL
from server.settings import Settings, SmtpServer
from tests.conftest import Api, event_body
from tests.smtp import LoopbackSmtp as Loopback
from tests.smtp import smtp_server


@pytest.fixture
def smtp() -> Iterator[Loopback]:
    yield from smtp_server()


@pytest.fixture
def settings(settings: Settings, smtp: Loopback) -> Settings:
    return replace(
        settings,
        smtp=SmtpServer.from_url(smtp.url),
        mail_from="Muster Tickets <tickets@example.org>",
        mail_per_second=0,
        mail_poll_interval=0.2,
        smtp_timeout=5,
        public_url="https://tickets.example.org",
    )


@pytest.fixture
async def mail_event(organiser: Api) -> dict[str, Any]:
    created: dict[str, Any] = await organiser.post(
        "/api/v1/events",
        event_body(location="上海国际会议中心", language="zh"),
        expect=201,
    )
    return created


async def issue(organiser: Api, event_id: int, people: list[dict[str, Any]]) -> list[dict]:
    result = await organiser.post(
        f"/api/v1/events/{event_id}/tickets", {"tickets": people}, expect=201
    )
    return list(result["tickets"])


async def wait_done(organiser: Api, mailing_id: int, within: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        found: dict[str, Any] = await organiser.get(f"/api/v1/mailings/{mailing_id}")
        if found["done"]:
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)


PEOPLE = [
    {"holder_name": "王伟", "holder_email": "wang@example.com"},
    {"holder_name": "Ann Lee", "holder_email": "ann@example.com", "language": "en"},
    {"holder_name": "李娜", "holder_email": "li@example.com"},
    {"holder_name": "No Mail"},
]


async def test_every_unsent_ticket_gets_one_mail(organiser, mail_event, smtp):
    tickets = await issue(organiser, mail_event["id"], PEOPLE)
    started = await organiser.post(
        f"/api/v1/events/{mail_event['id']}/mailings", {"to": "unsent"}, expect=202
    )
    assert started["counts"]["queued"] == 3 and not started["done"]
    done = await wait_done(organiser, started["id"])
    assert done["counts"] == {"queued": 0, "sending": 0, "sent": 3, "failed": 0}
    assert {d["status"] for d in done["deliveries"]} == {"sent"}
    assert all(d["smtp_reply"].startswith("250") for d in done["deliveries"])
    for person, ticket in zip(PEOPLE[:3], tickets, strict=False):
        [received] = smtp.handler.to(person["holder_email"])
        message = received.message()
        assert received.mail_from == "tickets@example.org"
        image = next(p for p in message.walk() if p.get_content_type() == "image/png")
        [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.get_content())))
        assert code.text == ticket["secret"]
        plain = message.get_body(("plain",)).get_content()
        assert f"https://tickets.example.org/t/{ticket['secret']}" in plain
        assert "上海国际会议中心" in plain
    english = smtp.handler.to("ann@example.com")[0].message()
    assert english["Subject"].startswith("Your ticket") and english["Content-Language"] == "en"
    chinese = smtp.handler.to("wang@example.com")[0].message()
    assert chinese["Subject"].startswith("您的电子票")

    again = await organiser.post(
        f"/api/v1/events/{mail_event['id']}/mailings", {"to": "unsent"}, expect=202
    )
    assert again["total"] == 0
    assert smtp.handler.count() == 3
    listed = await organiser.get(f"/api/v1/events/{mail_event['id']}/mailings")
    assert [m["id"] for m in listed["mailings"]] == [again["id"], started["id"]]


async def test_refused_recipient_is_recorded_with_the_servers_answer(
    organiser, mail_event, smtp, caplog
):
    smtp.handler.refuse.add("li@example.com")
    caplog.set_level(logging.DEBUG, logger="muster")
    await issue(organiser, mail_event["id"], PEOPLE)
    started = await organiser.post(
        f"/api/v1/events/{mail_event['id']}/mailings", {"to": "unsent"}, expect=202
    )
    done = await wait_done(organiser, started["id"])
    assert done["counts"]["sent"] == 2 and done["counts"]["failed"] == 1
    failed = done["deliveries"][0]  # failures come first
    assert failed["status"] == "failed" and failed["error"] == "refused"
    assert failed["holder_email"] == "li@example.com"
    assert failed["smtp_reply"].startswith("550 5.1.1")
    only_failed = await organiser.get(f"/api/v1/mailings/{started['id']}?status=failed")
    assert [d["ticket"] for d in only_failed["deliveries"]] == [failed["ticket"]]
    assert smtp.handler.to("li@example.com") == []
    # Nothing of the attendees reaches the log, not even the server's reply.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("muster"))
    assert "mail" in logged  # the refusal was logged, by ids and code
    for person in PEOPLE:
        assert person["holder_name"] not in logged
        assert person.get("holder_email", "@@") not in logged
    # Not yet sent: the failed one is tried again (and refused again).
    smtp.handler.refuse.clear()
    retry = await organiser.post(
        f"/api/v1/events/{mail_event['id']}/mailings", {"to": "unsent"}, expect=202
    )
    assert retry["total"] == 1
    await wait_done(organiser, retry["id"])
    assert len(smtp.handler.to("li@example.com")) == 1


async def test_resend_after_reissue_says_the_old_code_is_void(organiser, mail_event, smtp):
    [ticket] = await issue(organiser, mail_event["id"], PEOPLE[1:2])
    first = await organiser.post(
        f"/api/v1/events/{mail_event['id']}/mailings", {"to": "unsent"}, expect=202
    )
    await wait_done(organiser, first["id"])
    reissued = await organiser.post(
        f"/api/v1/tickets/{ticket['id']}/revoke", {"reissue": True}, expect=200
    )
    resend = await organiser.post(
        f"/api/v1/events/{mail_event['id']}/mailings",
        {"to": "tickets", "tickets": [ticket["id"]], "note": "reissued"},
        expect=202,
    )
    done = await wait_done(organiser, resend["id"])
    assert done["counts"]["sent"] == 1 and done["note"] == "reissued"
    old, new = smtp.handler.to("ann@example.com")
    assert reissued["secret"] != ticket["secret"]
    assert reissued["secret"] in new.message().get_body(("plain",)).get_content()
    assert "no longer works" in new.message().get_body(("plain",)).get_content()
    assert "no longer works" not in old.message().get_body(("plain",)).get_content()


async def test_a_queued_ticket_is_not_queued_twice(organiser, mail_event, ctx):
    [ticket] = await issue(organiser, mail_event["id"], PEOPLE[:1])
    sender = ctx.parts.pop(MAIL)  # keep the route from waking the sender
    sender.pacer.gap = 3600.0
    sender.pacer.next_at = time.monotonic() + 3600
    body = {"to": "tickets", "tickets": [ticket["id"]]}
    first, second = await asyncio.gather(
        organiser.post(f"/api/v1/events/{mail_event['id']}/mailings", body, expect=202),
        organiser.post(f"/api/v1/events/{mail_event['id']}/mailings", body, expect=202),
    )
    assert sorted([first["total"], second["total"]]) == [0, 1]


async def test_revoked_and_addressless_tickets_fail_with_a_reason(organiser, mail_event, smtp):
    tickets = await issue(organiser, mail_event["id"], PEOPLE)
    await organiser.post(f"/api/v1/tickets/{tickets[0]['id']}/revoke", {}, expect=200)
    started = await organiser.post(
        f"/api/v1/events/{mail_event['id']}/mailings",
        {"to": "tickets", "tickets": [tickets[0]["id"], tickets[3]["id"]]},
        expect=202,
    )
    done = await wait_done(organiser, started["id"])
    reasons = {d["ticket"]: d["error"] for d in done["deliveries"]}
    assert reasons == {tickets[0]["id"]: "revoked", tickets[3]["id"]: "no_email"}
    assert smtp.handler.count() == 0


async def test_bad_requests_are_refused_with_codes(organiser, mail_event, api_as, organiser_event2):
    base = f"/api/v1/events/{mail_event['id']}/mailings"
    bad = await organiser.post(base, {"to": "tickets", "tickets": []}, expect=422)
    assert bad["error"]["code"] == "no_tickets"
    unknown = await organiser.post(base, {"to": "tickets", "tickets": [999999]}, expect=422)
    assert unknown["error"]["code"] == "unknown_tickets"
    [other] = await issue(organiser, organiser_event2["id"], PEOPLE[:1])
    foreign = await organiser.post(base, {"to": "tickets", "tickets": [other["id"]]}, expect=422)
    assert foreign["error"]["code"] == "unknown_tickets"
    await organiser.post(base, {"to": "everyone"}, expect=422)
    await organiser.post(base, {"note": "x" * 10}, expect=422)
    door = await api_as("door", mail_event["id"])
    await door.post(base, {"to": "unsent"}, expect=403)
    started = await organiser.post(base, {"to": "unsent"}, expect=202)
    await door.get(f"/api/v1/mailings/{started['id']}", expect=403)
    await organiser.get("/api/v1/mailings/424242", expect=404)
    await organiser.get(f"/api/v1/mailings/{started['id']}?status=lost", expect=422)


@pytest.fixture
async def organiser_event2(organiser: Api) -> dict[str, Any]:
    created: dict[str, Any] = await organiser.post("/api/v1/events", event_body(), expect=201)
    return created


async def test_without_an_smtp_server_mailings_are_refused(settings, organiser):
    app = create_app(replace(settings, smtp=None), migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://m.test") as http:
            api = Api(http, organiser.token)
            event = await api.post("/api/v1/events", event_body(), expect=201)
            answer = await api.post(f"/api/v1/events/{event['id']}/mailings", {}, expect=409)
    assert answer["error"]["code"] == "mail_not_configured"
