"""One event with phones in different teams, zones and roles, for the broadcast tests
(the HTTP ones and the real-socket ones share it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import Api, event_body
from tests.server.test_staff import add, pair_member


@dataclass
class Floor:
    event_id: int
    hall_a: int
    hall_b: int
    gate_a: int
    #: name -> roster member
    members: dict[str, dict[str, Any]]
    #: name -> that member's phone; "spare": a staff phone paired to nobody
    phones: dict[str, Api]

    def url(self, tail: str = "") -> str:
        return f"/api/v1/events/{self.event_id}/broadcasts{tail}"


async def make_floor(client: httpx.AsyncClient, organiser: Api) -> Floor:
    """李娜 (security, door at the north gate of Hall A), 王强 (logistics, staff in
    Hall B), Tom (tech, staff, no zone); each with a phone; and a spare staff phone."""
    event = await organiser.post("/api/v1/events", event_body(), expect=201)
    e = event["id"]
    base = f"/api/v1/events/{e}"
    hall_a = await organiser.post(f"{base}/zones", {"name": "Hall A"}, expect=201)
    hall_b = await organiser.post(f"{base}/zones", {"name": "Hall B"}, expect=201)
    gate_a = await organiser.post(
        f"{base}/gates", {"name": "North", "to_zone": hall_a["id"]}, expect=201
    )
    members = {
        "李娜": await add(organiser, e, name="李娜", team="安保", role="door", gate=gate_a["id"]),
        "王强": await add(
            organiser, e, name="王强", team="物资", role="staff", zone=hall_b["id"], phone=None
        ),
        "Tom": await add(organiser, e, name="Tom", team="tech", role="staff", phone=None),
    }
    phones = {name: await pair_member(client, organiser, m["id"]) for name, m in members.items()}
    spare = await organiser.post(f"{base}/pairing-codes", {"role": "staff"}, expect=201)
    paired = await client.post("/api/v1/devices/pair", json={"code": spare["code"]})
    assert paired.status_code == 201, paired.text
    phones["spare"] = Api(client, paired.json()["token"])
    return Floor(e, hall_a["id"], hall_b["id"], gate_a["id"], members, phones)


def urgent(audience: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "text_zh": "北门暂停入场，等待指挥。",
        "text_en": "North door: hold entry, wait for command.",
        "priority": "urgent",
        "audience": audience,
        **more,
    }


async def ack(phone: Api, broadcast_id: int, nonce: str | None = None, expect: int = 200) -> Any:
    return await phone.post(
        f"/api/v1/broadcasts/{broadcast_id}/ack",
        {"nonce": nonce or uuid.uuid4().hex},
        expect=expect,
    )
