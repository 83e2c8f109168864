"""An event full of personal data, made through the API, and a search of the
whole database for it (shared by the in-process and the process tests)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from server.models import Base
from tests.conftest import event_body

#: The seeded holders: every one of these strings must be gone after the shred.
HOLDERS = [
    ("欧阳娜娜", "nana.ouyang@example.com"),
    ("Margarethe Quist", "mquist@example.org"),
    ("司马光耀", "guangyao@example.cn"),
]
#: Free text naming a holder, a staff name, a device name, a phone number.
INCIDENT_TEXT = "欧阳娜娜 fainted near the stage; call +86 138 0013 8000"
COMMENT_TEXT = "Margarethe Quist's friend says she is diabetic"
STOCK_REASON = "given to 司马光耀 at the first-aid desk"
REPORTER_PHONE = "+86 138 0013 8000"
#: A staff member's phone, named after them.
DEVICE_NAME = "Phone of Ingeborg Vasquez"
#: A member of the roster and their phone number (contact data).
STAFF_NAME = "诸葛晓岚"
STAFF_PHONE = "+86 139 2468 1357"
#: A broadcast that names a person.
BROADCAST_TEXT = "请寻找走失儿童：欧阳小宝，蓝色外套"
#: A task's description, its blocked reason and a run sheet's note that name people.
TASK_NOTE = "把轮椅交给司马青云"
BLOCKED_REASON = "等候上官明月的钥匙"
RUN_SHEET_NOTE = "贵宾慕容飞燕提前到场"
#: A walk-in registered at the door by a supervisor's phone, with contact data.
WALK_IN = ("端木蓉", "duanmu.rong@example.net", "+86 137 1122 3344")

SEEDED = [
    *(v for pair in HOLDERS for v in pair),
    INCIDENT_TEXT,
    COMMENT_TEXT,
    STOCK_REASON,
    REPORTER_PHONE,
    DEVICE_NAME,
    STAFF_NAME,
    STAFF_PHONE,
    BROADCAST_TEXT,
    "欧阳小宝",
    TASK_NOTE,
    "司马青云",
    BLOCKED_REASON,
    "上官明月",
    RUN_SHEET_NOTE,
    "慕容飞燕",
    *WALK_IN,
    "Ingeborg",
    "fainted near the stage",
    "diabetic",
    "first-aid desk",
]


def scan_body(secret: str, gate: int, direction: str = "in") -> dict[str, Any]:
    return {
        "secret": secret,
        "gate": gate,
        "direction": direction,
        "nonce": uuid.uuid4().hex,
        "scanned_at": datetime.now(UTC).isoformat(),
    }


async def seed_event(post: Any, patch: Any, get: Any, photo: Any = None) -> dict[str, Any]:
    """The event, its tickets (secrets), the door gate; scans, an incident with a
    comment (and a photo when a ``photo(path, incident_form)`` sender is given),
    stock with a reason, a roster member with a phone, a broadcast naming a child, a
    task and a run sheet with notes naming people, an evacuation drill, a walk-in registered
    at the door. ``post/patch/get`` are awaited API calls returning JSON (``post(…,
    token=…)``: as that token instead of the organiser's)."""
    event = await post("/api/v1/events", event_body())
    eid = event["id"]
    base = f"/api/v1/events/{eid}"
    zone = await post(f"{base}/zones", {"name": "Hall A", "capacity": 100})
    gate = await post(
        f"{base}/gates", {"name": "North door", "from_zone": None, "to_zone": zone["id"]}
    )
    issued = await post(
        f"{base}/tickets",
        {"tickets": [{"holder_name": n, "holder_email": e} for n, e in HOLDERS]},
    )
    tickets = issued["tickets"]
    for t in tickets[:2]:
        assert (await post(f"{base}/scans", scan_body(t["secret"], gate["id"])))["status"] == "ok"
    refused = await post(f"{base}/scans", scan_body(tickets[0]["secret"], gate["id"]))
    assert refused["reason"] == "already_inside"
    form = {
        "category": "medical",
        "severity": "P2",
        "title": "欧阳娜娜 unwell",
        "description": INCIDENT_TEXT,
        "location": "by 司马光耀's seat",
        "nonce": uuid.uuid4().hex,
    }
    incident = await (
        photo(f"{base}/incidents", form) if photo else post(f"{base}/incidents", form)
    )
    await post(
        f"{base}/incidents/{incident['id']}/comments",
        {"text": COMMENT_TEXT, "nonce": uuid.uuid4().hex},
    )
    await post(f"{base}/incidents/{incident['id']}/ack", {})
    item = await post(f"{base}/stock/items", {"name": "矿泉水", "unit": "瓶", "quantity": 10})
    await post(
        f"{base}/stock/movements",
        {"kind": "issue", "item": item["id"], "quantity": 2, "reason": STOCK_REASON, "nonce": "s1"},
    )
    await post(
        f"{base}/staff",
        {"name": STAFF_NAME, "phone": STAFF_PHONE, "team": "安保", "role": "door"},
    )
    await post(
        f"{base}/broadcasts",
        {
            "text_zh": BROADCAST_TEXT,
            "text_en": "Lost child 欧阳小宝, blue coat",
            "audience": {"everyone": True},
        },
    )
    task = await post(
        f"{base}/tasks", {"title": "wheelchair", "description": TASK_NOTE, "steps": ["fetch"]}
    )
    await patch(
        f"/api/v1/tasks/{task['id']}",
        {"nonce": "t1", "status": "blocked", "blocked_reason": BLOCKED_REASON},
    )
    await post(
        f"{base}/run-sheets",
        {
            "name": "day",
            "items": [{"offset_minutes": -60, "title": "VIP", "description": RUN_SHEET_NOTE}],
        },
    )
    lead = await post(
        f"{base}/staff", {"name": "周队长", "team": "安保", "role": "door", "supervisor": True}
    )
    code = await post(f"/api/v1/staff/{lead['id']}/pairing-codes", {})
    phone = await post("/api/v1/devices/pair", {"code": code["code"]})
    name, email, number = WALK_IN
    walked_in = await post(
        f"{base}/walk-ins",
        {
            "nonce": uuid.uuid4().hex,
            "blank": phone["walk_in_blanks"][0]["ticket"],
            "holder_name": name,
            "holder_email": email,
            "holder_phone": number,
            "gate": gate["id"],
        },
        token=phone["token"],
    )
    assert walked_in["scan"]["status"] == "ok", walked_in
    # …and leaves again: the drills and roll calls of the tests count the others.
    secret = phone["walk_in_blanks"][0]["blank_secret"]
    left = await post(f"{base}/scans", scan_body(secret, gate["id"], "out"))
    assert left["status"] == "ok", left
    drill = await post(
        f"{base}/evacuations", {"kind": "drill", "message": "drill for 欧阳娜娜's hall"}
    )
    await post(f"/api/v1/evacuations/{drill['id']}/all-clear", {})
    return {"event": event, "zone": zone, "gate": gate, "tickets": tickets, "drill": drill}


def past_retention(event: dict[str, Any], days_ago: int = 3) -> dict[str, Any]:
    """A PATCH that puts the event's end ``days_ago`` back with a retention of 1 day."""
    ended = datetime.now(UTC) - timedelta(days=days_ago)
    return {
        "starts_at": (ended - timedelta(hours=9)).isoformat(),
        "ends_at": ended.isoformat(),
        "retention_days": 1,
    }


async def find_in_database(url: str, needles: list[str]) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a needle is found in any value of any
    table (text, JSON, bytes) — the whole database, not the columns we know."""
    engine = create_async_engine(url)
    found = []
    try:
        async with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                rows = (await conn.execute(select(table))).mappings().all()
                for row in rows:
                    for column, value in row.items():
                        text = _as_text(value)
                        if text is None:
                            continue
                        for needle in needles:
                            if needle.casefold() in text.casefold():
                                found.append((table.name, column, needle))
    finally:
        await engine.dispose()
    return sorted(set(found))


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None


async def count_rows(url: str, table_name: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return len((await conn.execute(select(Base.metadata.tables[table_name]))).all())
    finally:
        await engine.dispose()
