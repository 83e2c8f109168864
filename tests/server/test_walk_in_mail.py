"""A walk-in who gives an email gets their ticket by mail, once: the mailing job
of one ticket, through a real SMTP server on loopback (both databases)."""

from __future__ import annotations

# The SMTP server on loopback and the settings that mail through it.
from tests.server.test_mailings import settings, smtp, wait_done  # noqa: F401
from tests.server.test_walk_ins import supervisor_phone, walk_in


async def test_a_walk_in_is_mailed_their_ticket_once(client, organiser, event, gate, smtp):  # noqa: F811
    base = f"/api/v1/events/{event['id']}"
    lead, paired = await supervisor_phone(client, organiser, event["id"])
    blank = paired["walk_in_blanks"][0]
    body = walk_in(blank["ticket"], gate["id"], mail=True, language="en", offline=True)
    first = await lead.post(f"{base}/walk-ins", body, expect=200)
    mailing = first["walk_in"]["mailing"]
    assert mailing is not None
    done = await wait_done(organiser, mailing)
    assert done["counts"]["sent"] == 1
    again = await lead.post(f"{base}/walk-ins", body, expect=200)
    assert again["walk_in"]["mailing"] == mailing  # the repeat queues nothing
    [mail] = smtp.handler.to("chen.jing@example.com")
    assert "陈静" in mail.message().get_body(("plain",)).get_content()
    # Without an email nothing is mailed, even when asked.
    quiet = walk_in(paired["walk_in_blanks"][1]["ticket"], gate["id"], holder_email="")
    answer = await lead.post(f"{base}/walk-ins", {**quiet, "mail": True}, expect=200)
    assert answer["walk_in"]["mailing"] is None
    assert smtp.handler.count() == 1
