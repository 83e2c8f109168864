"""Pairing phones: codes, the single-use claim (raced on both databases), devices."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from server.context import Muster
from server.models import Account, PairingCode, utcnow
from server.routes.devices import CODE_ALPHABET, normalise_code
from tests.conftest import Api


async def make_code(organiser: Api, event_id: int, **body: Any) -> dict[str, Any]:
    found: dict[str, Any] = await organiser.post(
        f"/api/v1/events/{event_id}/pairing-codes", {"role": "door", **body}, expect=201
    )
    return found


async def pair(client: httpx.AsyncClient, code: str, name: str = "Door phone 1") -> httpx.Response:
    return await client.post("/api/v1/devices/pair", json={"code": code, "device_name": name})


async def test_pairing_code_answer(
    organiser: Api, event: dict[str, Any], gate: dict[str, Any]
) -> None:
    made = await make_code(organiser, event["id"], gate=gate["id"], device_name="北门 1")
    assert len(made["code"]) == 8 and set(made["code"]) <= set(CODE_ALPHABET)
    assert made["display_code"] == f"{made['code'][:4]}-{made['code'][4:]}"
    assert made["pairing_url"] == f"http://muster.test/app/#pair={made['code']}&event={event['id']}"
    assert (
        made["role"] == "door" and made["gate"] == gate["id"] and made["gate_name"] == "North door"
    )
    assert made["qr_svg"].startswith("<svg")
    assert made["expires_at"] > utcnow().isoformat()


async def test_pairing_qr_needs_the_code(organiser: Api, event: dict[str, Any]) -> None:
    made = await make_code(organiser, event["id"])
    svg = await organiser.get(made["qr_svg_url"])
    assert svg.headers["content-type"] == "image/svg+xml" and svg.text.startswith("<svg")
    png = await organiser.get(made["qr_png_url"])
    assert png.content.startswith(b"\x89PNG")
    base = f"/api/v1/events/{event['id']}/pairing-codes/{made['id']}/qr.svg"
    wrong = await organiser.get(f"{base}?code=AAAAAAAA", expect=422)
    assert wrong["error"]["code"] == "code_mismatch"
    await organiser.get(
        f"/api/v1/events/{event['id']}/pairing-codes/999999/qr.svg?code=X", expect=404
    )


async def test_pairing_code_is_organisers_only(
    api_as: Any, organiser: Api, event: dict[str, Any], gate: dict[str, Any]
) -> None:
    command = await api_as("command", event["id"])
    await command.post(f"/api/v1/events/{event['id']}/pairing-codes", {"role": "staff"}, expect=403)
    bad_role = await organiser.post(
        f"/api/v1/events/{event['id']}/pairing-codes", {"role": "organiser"}, expect=422
    )
    assert bad_role["error"]["code"] == "invalid_request"
    other = await organiser.post(
        "/api/v1/events",
        {"name": "Other", "starts_at": event["starts_at"], "ends_at": event["ends_at"]},
        expect=201,
    )
    foreign_gate = await organiser.post(
        f"/api/v1/events/{other['id']}/pairing-codes",
        {"role": "door", "gate": gate["id"]},
        expect=422,
    )
    assert foreign_gate["error"]["details"] == {"gate": gate["id"]}
    await organiser.post("/api/v1/events/999999/pairing-codes", {"role": "door"}, expect=404)


async def test_pair_gives_a_working_device_token(
    client: httpx.AsyncClient, organiser: Api, event: dict[str, Any], gate: dict[str, Any]
) -> None:
    made = await make_code(organiser, event["id"], gate=gate["id"])
    response = await pair(client, made["display_code"].lower())  # typed by hand: any case, a dash
    assert response.status_code == 201, response.text
    paired = response.json()
    assert paired["role"] == "door"
    assert paired["event"]["id"] == event["id"] and paired["gate"]["id"] == gate["id"]
    assert paired["device"]["name"] == "Door phone 1"
    phone = Api(client, paired["token"])
    me = await phone.get("/api/v1/devices/me")
    assert (
        me["role"] == "door" and me["gate"]["id"] == gate["id"] and me["event"]["id"] == event["id"]
    )
    await phone.get(f"/api/v1/events/{event['id']}/tickets?q=x")
    await phone.post(f"/api/v1/events/{event['id']}/pairing-codes", {"role": "door"}, expect=403)


async def test_a_code_works_once(
    client: httpx.AsyncClient, organiser: Api, event: dict[str, Any]
) -> None:
    made = await make_code(organiser, event["id"], device_name="preset name")
    first = await pair(client, made["code"], name="")
    assert first.status_code == 201 and first.json()["device"]["name"] == "preset name"
    again = await pair(client, made["code"])
    unknown = await pair(client, "ZZZZ-ZZZZ")
    # A used code is answered as an unknown one: a guesser learns nothing.
    assert again.status_code == unknown.status_code == 404
    assert again.json() == unknown.json()
    assert unknown.json()["error"]["code"] == "unknown_pairing_code"
    empty = await client.post("/api/v1/devices/pair", json={"code": ""})
    assert empty.status_code == 422


async def test_an_expired_code_is_refused(
    client: httpx.AsyncClient, ctx: Muster, organiser: Api, event: dict[str, Any]
) -> None:
    made = await make_code(organiser, event["id"])
    async with ctx.db.writing() as session:
        await session.execute(
            update(PairingCode)
            .where(PairingCode.id == made["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = await pair(client, made["code"])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_pairing_code"


async def test_code_lifetime_comes_from_the_setting(
    ctx: Muster, organiser: Api, event: dict[str, Any]
) -> None:
    ctx.settings = replace(ctx.settings, pairing_code_ttl_seconds=30)
    made = await make_code(organiser, event["id"])
    async with ctx.db.reading() as session:
        row = await session.get(PairingCode, made["id"])
    assert row is not None
    assert timedelta(seconds=29) < row.expires_at - row.created_at <= timedelta(seconds=30)


async def test_phones_racing_for_one_code_get_one_token(
    app: Any, ctx: Muster, organiser: Api, event: dict[str, Any]
) -> None:
    """Twelve phones claim one code at once; on PostgreSQL they really run in parallel."""
    made = await make_code(organiser, event["id"])

    async def phone(i: int) -> httpx.Response:
        # Each from its own address, as twelve phones are (pairing is rate-limited per address).
        transport = httpx.ASGITransport(app=app, client=(f"10.0.0.{i + 1}", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://muster.test") as http:
            return await pair(http, made["code"], f"phone {i}")

    answers = await asyncio.gather(*(phone(i) for i in range(12)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [404] * 11, statuses
    async with ctx.db.reading() as session:
        devices = (await session.scalars(select(Account).where(Account.kind == "device"))).all()
        row = await session.get(PairingCode, made["id"])
    assert len(devices) == 1
    assert row is not None and row.account_id == devices[0].id and row.used_at is not None


async def test_list_and_revoke_devices(
    client: httpx.AsyncClient,
    api_as: Any,
    organiser: Api,
    event: dict[str, Any],
    gate: dict[str, Any],
) -> None:
    made = await make_code(organiser, event["id"], gate=gate["id"])
    paired = (await pair(client, made["code"])).json()
    base = f"/api/v1/events/{event['id']}"
    command = await api_as("command", event["id"])
    listed = (await command.get(f"{base}/devices"))["devices"]
    assert [(d["name"], d["role"], d["gate"], d["gate_name"]) for d in listed] == [
        ("Door phone 1", "door", gate["id"], "North door")
    ]
    assert listed[0]["last_seen_at"] is not None and listed[0]["revoked_at"] is None
    device_id = listed[0]["id"]
    await command.post(f"{base}/devices/{device_id}/revoke", expect=403)
    revoked = await organiser.post(f"{base}/devices/{device_id}/revoke", expect=200)
    assert revoked["revoked_at"] is not None
    phone = Api(client, paired["token"])
    await phone.get("/api/v1/devices/me", expect=401)
    await organiser.post(f"{base}/devices/999999/revoke", expect=404)
    staff = await api_as("staff", event["id"])
    await staff.get(f"{base}/devices", expect=403)


@pytest.mark.parametrize("raw", ["abcd-efgh", " ABCD EFGH ", "ABCDEFGH"])
def test_normalise_code(raw: str) -> None:
    assert normalise_code(raw) == "ABCDEFGH"
