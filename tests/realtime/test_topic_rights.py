"""The websocket half of the role table: every topic (realtime.topics) with
every caller — organiser, command, door, staff, another event's organiser,
a bad token — on a real server, on SQLite and PostgreSQL. A role
``TOPIC_ROLES`` leaves out is closed with 4403 before anything is sent, a
bad token with 4401; a role let in gets its first message, and no
attendee's email or ticket secret in it unless server/features/rights.py lets that
role see them. tests/server/test_role_table.py is the HTTP half."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed

from realtime.topics import TOPIC_ROLES, TOPICS
from server.app import TOPIC_PROVIDERS
from server.features.alerts import raise_alert
from server.features.rights import PERSONAL_FIELDS
from tests.conftest import event_body
from tests.realtime.conftest import WAIT, Open, Served, make_venue, scan
from tests.server.test_role_table import filled_keys

ROLES = ("organiser", "command", "door", "staff")
EMAIL = "wang.topics@example.com"


async def first_answer(client: Any) -> tuple[dict[str, Any] | None, int | None, str]:
    """The first message of a topic (and its text), or the close code; a
    refused hello must not even get the welcome."""
    welcomed = None
    try:
        while True:
            raw = await asyncio.wait_for(client.ws.recv(), WAIT)
            message = orjson.loads(raw)
            if message["type"] not in ("ping", "welcome"):
                return message, None, raw
            if message["type"] == "welcome":
                welcomed = message
    except ConnectionClosed as closed:
        return welcomed, closed.rcvd.code if closed.rcvd else None, ""


async def test_every_topic_answers_every_caller_as_the_table_says(
    served: Served, open_socket: Open
) -> None:
    venue = await make_venue(served, tickets=1)
    e = venue.event_id
    organiser = venue.organiser
    holder = await organiser.post(
        f"/api/v1/events/{e}/tickets", {"holder_name": "王伟", "holder_email": EMAIL}, expect=201
    )
    door = served.api(await served.token("door", e, venue.gate_id))
    await scan(door, venue, holder)
    await organiser.post(
        f"/api/v1/events/{e}/incidents",
        {"category": "other", "severity": "P3", "title": "x", "nonce": uuid.uuid4().hex},
        expect=201,
    )
    await organiser.post(f"/api/v1/tickets/{venue.tickets[0]['id']}/revoke", {}, expect=200)
    async with served.ctx.db.writing() as session:
        await raise_alert(session, e, "conflict", data={"ticket": holder["id"]})
    served.ctx.changed(e, "alerts")
    other = await organiser.post("/api/v1/events", event_body(name="Other"), expect=201)
    tokens = {role: await served.token(role, e) for role in ROLES if role != "organiser"}
    tokens["organiser"] = organiser.token
    tokens["stranger"] = await served.token("organiser", other["id"])
    tokens["bad token"] = "mst_not-a-token"

    wrong = []
    for topic in TOPICS:
        for caller, token in tokens.items():
            client = await open_socket(e, token, [topic])
            message, code, raw = await first_answer(client)
            await client.ws.close()
            if caller == "bad token":
                want = 4401
            elif caller == "stranger" or caller not in TOPIC_ROLES[topic]:
                want = 4403
            else:
                want = None
            if want is not None:
                if code != want or message is not None:
                    wrong.append(f"{caller} {topic}: {message or code} (want close {want})")
                continue
            if message is None or message.get("topic") != topic:
                wrong.append(f"{caller} {topic}: {message or code} (want its first message)")
                continue
            if caller not in PERSONAL_FIELDS["holder_email"] and EMAIL in raw:
                wrong.append(f"{caller} {topic}: an attendee's email")
            if caller not in PERSONAL_FIELDS["secret"] and holder["secret"] in raw:
                wrong.append(f"{caller} {topic}: a ticket's secret")
            for key in filled_keys(message) & set(PERSONAL_FIELDS):
                if caller not in PERSONAL_FIELDS[key]:
                    wrong.append(f"{caller} {topic}: the field {key!r}")
    assert not wrong, "\n".join(wrong)


def test_the_app_hands_the_hub_a_provider_for_every_topic() -> None:
    assert sorted(TOPIC_PROVIDERS) == sorted(TOPICS)
