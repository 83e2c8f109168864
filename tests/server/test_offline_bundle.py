"""GET /offline-bundle: what a door phone needs offline, full then incremental."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import orjson
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from checkin.admitted import Admitted, decode_admitted
from checkin.display import open_box
from checkin.secrets import KeyRing
from tests.conftest import Api
from tests.server.test_scans import issue, scan
from tests.server.test_staff import add, pair_member


async def test_full_bundle(
    api_as: Any, organiser: Api, event: Any, zone: Any, gate: Any, ticket: Any
) -> None:
    door = await api_as("door", event["id"], gate["id"])
    await scan(door, event["id"], ticket["secret"], gate["id"])
    bundle = await door.get(f"/api/v1/events/{event['id']}/offline-bundle")
    assert bundle["incremental"] is False and bundle["cursor"]
    [key] = bundle["keys"]
    raw = base64.b64decode(key["public_key"])
    assert raw.hex() == key["public_key_hex"]
    Ed25519PublicKey.from_public_bytes(raw)
    claims = KeyRing(event["id"], {key["kid"]: raw}).verify(ticket["secret"])  # verifies offline
    assert claims.ticket_id == ticket["id"]
    # The admitted set, compact as the admissions snapshot sends it.
    assert "admitted" not in bundle and bundle["admitted_set"]["format"] == "runs-1"
    assert decode_admitted(bundle["admitted_set"]) == [Admitted(ticket["id"], zone["id"], True)]
    assert bundle["gates"] == [
        {"id": gate["id"], "name": "North door", "from_zone": None, "to_zone": zone["id"]}
    ]
    assert [z["id"] for z in bundle["zones"]] == [zone["id"]]
    assert bundle["ticket_types"][0]["zones"] is None
    assert bundle["event"]["id"] == event["id"] and bundle["event"]["ends_at"]
    text = str(bundle)
    assert "王伟" not in text and "wang@example.com" not in text


async def test_incremental_cursor(
    api_as: Any, organiser: Api, event: Any, zone: Any, gate: Any, ticket: Any
) -> None:
    door = await api_as("door", event["id"], gate["id"])
    other = await issue(organiser, event["id"])
    first = await door.get(f"/api/v1/events/{event['id']}/offline-bundle")
    assert decode_admitted(first["admitted_set"]) == [] and first["revocations"] == []
    await scan(door, event["id"], ticket["secret"], gate["id"])
    await organiser.post(f"/api/v1/tickets/{other['id']}/revoke", {}, expect=200)
    later = await door.get(f"/api/v1/events/{event['id']}/offline-bundle?since={first['cursor']}")
    assert later["incremental"] is True
    assert [(a["ticket"], a["zone"], a["checked_in"]) for a in later["admitted"]] == [
        (ticket["id"], zone["id"], True)
    ]
    assert [(r["ticket"], r["generation"]) for r in later["revocations"]] == [(other["id"], 1)]
    await scan(door, event["id"], ticket["secret"], gate["id"], "out", nonce="leave-1")
    latest = await door.get(f"/api/v1/events/{event['id']}/offline-bundle?since={later['cursor']}")
    # The changed ticket with its state now (outside); nothing is lost by overlap.
    assert (ticket["id"], None, True) in [
        (a["ticket"], a["zone"], a["checked_in"]) for a in latest["admitted"]
    ]
    bad = await door.get(f"/api/v1/events/{event['id']}/offline-bundle?since=yesterday", expect=422)
    assert bad["error"]["code"] == "bad_cursor"


async def test_bundle_rights(api_as: Any, event: Any) -> None:
    staff = await api_as("staff", event["id"])
    await staff.get(f"/api/v1/events/{event['id']}/offline-bundle", expect=403)
    command = await api_as("command", event["id"])
    await command.get(f"/api/v1/events/{event['id']}/offline-bundle", expect=200)


async def test_display_data_opens_only_with_its_own_secret(
    api_as: Any, organiser: Api, event: Any, gate: Any, ticket: Any
) -> None:
    door = await api_as("door", event["id"], gate["id"])
    other = await issue(organiser, event["id"], name="李娜")
    gone = await issue(organiser, event["id"], name="Revoked")
    await organiser.post(f"/api/v1/tickets/{gone['id']}/revoke", {}, expect=200)
    bundle = await door.get(f"/api/v1/events/{event['id']}/offline-bundle")
    boxes = {d["ticket"]: d for d in bundle["display"]}
    assert sorted(boxes) == sorted([ticket["id"], other["id"]])  # valid tickets only
    assert open_box(ticket["secret"], boxes[ticket["id"]]["box"]) == {"name": "王伟"}
    assert open_box(other["secret"], boxes[other["id"]]["box"]) == {"name": "李娜"}
    with pytest.raises(InvalidTag):
        open_box(other["secret"], boxes[ticket["id"]]["box"])
    assert "王伟" not in str(bundle) and "李娜" not in str(bundle)

    # Incremental: tickets issued or re-issued since, with their new secret.
    later = await issue(organiser, event["id"], name="张敏")
    reissued = await organiser.post(
        f"/api/v1/tickets/{other['id']}/revoke", {"reissue": True}, expect=200
    )
    since = await door.get(f"/api/v1/events/{event['id']}/offline-bundle?since={bundle['cursor']}")
    fresh = {d["ticket"]: d for d in since["display"]}
    assert sorted(fresh) == sorted([later["id"], other["id"]])
    assert fresh[other["id"]]["generation"] == 2
    assert open_box(reissued["secret"], fresh[other["id"]]["box"]) == {"name": "李娜"}
    assert open_box(later["secret"], fresh[later["id"]]["box"]) == {"name": "张敏"}


async def test_only_a_supervisor_phone_gets_names_in_the_clear(
    client: Any, organiser: Api, event: Any, gate: Any, ticket: Any
) -> None:
    """A door supervisor looks people up and admits them by hand offline, so
    its bundle lists each valid ticket's holder; a plain door phone's holds
    no name in the clear (only the sealed display lines)."""
    base = f"/api/v1/events/{event['id']}"
    supervisor = await add(organiser, event["id"], name="周队长", role="door", supervisor=True)
    steward = await add(organiser, event["id"], name="小李", role="door")
    lead = await pair_member(client, organiser, supervisor["id"])
    plain = await pair_member(client, organiser, steward["id"])

    full = await lead.get(f"{base}/offline-bundle")
    [person] = full["people"]
    assert person == {
        "ticket": ticket["id"],
        "generation": 1,
        "name": "王伟",
        "code": ticket["code"],
        "type": ticket["ticket_type"],
        "valid_from": person["valid_from"],
        "valid_until": person["valid_until"],
    }
    assert person["valid_from"] and person["valid_until"]
    assert "people" not in await plain.get(f"{base}/offline-bundle")
    assert "王伟" not in str(await plain.get(f"{base}/offline-bundle"))

    # Incremental: a ticket issued since comes; a revoked one does not.
    later = await organiser.post(f"{base}/tickets", {"holder_name": "李娜"}, expect=201)
    await organiser.post(f"/api/v1/tickets/{ticket['id']}/revoke", {}, expect=200)
    since = await lead.get(f"{base}/offline-bundle", params={"since": full["cursor"]})
    assert [p["name"] for p in since["people"]] == ["李娜"]
    assert since["people"][0]["ticket"] == later["id"]

    # No longer a supervisor: the next bundle carries no names.
    await organiser.patch(f"/api/v1/staff/{supervisor['id']}", {"supervisor": False})
    assert "people" not in await lead.get(f"{base}/offline-bundle")


async def test_a_large_bundle_is_gzipped_for_a_client_that_takes_it(
    api_as: Any, organiser: Api, client: Any, event: Any, zone: Any, gate: Any
) -> None:
    """A first bundle of a big event is megabytes of sealed names: gzipped
    when asked (every browser asks), the same JSON once undone; as it was
    for a client that does not take gzip, and for a small bundle."""
    door = await api_as("door", event["id"], gate["id"])
    path = f"/api/v1/events/{event['id']}/offline-bundle"

    async def fetch(coding: str) -> Any:
        # httpx undoes gzip itself: read the bytes on the wire.
        async with client.stream(
            "GET", path, headers={**door.headers, "Accept-Encoding": coding}
        ) as response:
            assert response.status_code == 200
            return response.headers, b"".join([chunk async for chunk in response.aiter_raw()])

    small_headers, small = await fetch("gzip, deflate")
    assert "content-encoding" not in small_headers and orjson.loads(small)["display"] == []
    await organiser.post(
        f"/api/v1/events/{event['id']}/tickets",
        {"tickets": [{"holder_name": f"观众 Guest {i}"} for i in range(700)]},
        expect=201,
    )
    headers, packed = await fetch("gzip, deflate, br")
    assert headers["content-encoding"] == "gzip" and "Accept-Encoding" in headers["vary"]
    bundle = orjson.loads(gzip.decompress(packed))
    plain_headers, plain = await fetch("identity")
    assert "content-encoding" not in plain_headers
    assert len(packed) < len(plain) * 0.7
    assert len(bundle["display"]) == 700
    assert bundle["display"] == orjson.loads(plain)["display"]
    refused_headers, _ = await fetch("gzip;q=0, identity")
    assert "content-encoding" not in refused_headers
