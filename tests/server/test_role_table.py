"""The role × route table (server/features/rights.py) is what the server does.

Every operation that Muster's own ``/openapi.json`` lists is called with
each caller: the organiser, a command screen, a door phone, a door
supervisor's phone, a staff phone, a token of each role of another event, a
bad token and no token at all. The answer must
be the table's: 401 without a token (unless the route is public), 403 with
a token of another event or a role the table leaves out, and anything but
401, 403 or a 5xx for a role it lets in. An operation the document lists
and the table does not (a new route) fails with the line to add.

The answers to the roles let in are read too: an attendee's email or a
ticket's secret in an answer to a role that may not see it fails
(``server.features.rights.PERSONAL_FIELDS``), by value and by key, wherever it sits;
so does a staff member's phone number.

Every path parameter is a real object of the event (a ticket, a mailing, an
evacuation…), so a refusal is the rights check and not a 404. Refused calls
go first, for every operation, and change nothing; then the calls let in,
reads before writes, so a write (a revoke, an erasure) cannot hide a leak.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.features.alerts import raise_alert
from server.features.mailings import MailingRequest, create_mailing
from server.features.rights import (
    ORGANISER_ALLOWS,
    OWN_ONLY,
    PERSONAL_FIELDS,
    PUBLIC,
    ROUTE_ROLES,
    SUPERVISORS_ONLY,
    UNSCOPED,
)
from server.settings import Settings
from tests.conftest import Api, event_body, token_for

ROLES = ("organiser", "command", "door", "staff")
#: A token of each role bound to another event ("door@other").
STRANGERS = tuple(f"{role}@other" for role in ROLES)
#: A door phone paired to a door supervisor of the roster: the door role,
#: with more in its offline bundle (names in the clear) and no more rights.
SUPERVISOR = "door-supervisor"
ANONYMOUS = "anonymous"
BAD_TOKEN = "bad-token"
CALLERS = (*ROLES, SUPERVISOR, *STRANGERS, ANONYMOUS, BAD_TOKEN)

EMAIL = "wang.privacy@example.com"
NAME = "王伟"
PHONE = "13800000000"


@dataclass
class World:
    """One event with one of everything, and a caller per kind."""

    event_id: int
    params: dict[str, str]
    secret: str
    callers: dict[str, dict[str, str]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No limit on invalid tokens: the bad token's ~90 calls are to be 401s
    here, not 429s (tests/server/test_rate_limits.py has the limit)."""
    return replace(settings, auth_failures_per_minute=0)


async def build_world(ctx: Any, client: httpx.AsyncClient, organiser: Api) -> World:
    event = await organiser.post("/api/v1/events", event_body(), expect=201)
    e = event["id"]
    base = f"/api/v1/events/{e}"
    zone = await organiser.post(f"{base}/zones", {"name": "Hall A"}, expect=201)
    gate = await organiser.post(
        f"{base}/gates", {"name": "North", "to_zone": zone["id"]}, expect=201
    )
    [ticket_type] = (await organiser.get(f"{base}/ticket-types"))["ticket_types"]
    ticket = await organiser.post(
        f"{base}/tickets", {"holder_name": NAME, "holder_email": EMAIL}, expect=201
    )
    scanned = await organiser.post(
        f"{base}/tickets", {"holder_name": "李娜", "holder_email": "li@example.com"}, expect=201
    )
    nonce = uuid.uuid4().hex
    await organiser.post(
        f"{base}/scans",
        {
            "secret": scanned["secret"],
            "gate": gate["id"],
            "direction": "in",
            "nonce": nonce,
            "scanned_at": datetime.now(UTC).isoformat(),
        },
        expect=200,
    )
    pairing = await organiser.post(f"{base}/pairing-codes", {"role": "door"}, expect=201)
    spare = await organiser.post(f"{base}/pairing-codes", {"role": "staff"}, expect=201)
    paired = await client.post("/api/v1/devices/pair", json={"code": spare["code"]})
    assert paired.status_code in (200, 201), paired.text
    device_id = paired.json()["device"]["id"]
    item = await organiser.post(
        f"{base}/stock/items", {"name": "Water", "unit": "瓶", "quantity": 10}, expect=201
    )
    incident = await organiser.post(
        f"{base}/incidents",
        {"category": "other", "severity": "P3", "title": "x", "nonce": uuid.uuid4().hex},
        expect=201,
    )
    plan = await organiser.post(
        f"{base}/plans",
        {
            "category": "medical",
            "title_zh": "预案",
            "title_en": "Plan",
            "steps_zh": "1",
            "steps_en": "1",
        },
        expect=201,
    )
    point = await organiser.post(
        f"{base}/muster-points", {"name": "P1", "zones": [zone["id"]]}, expect=201
    )
    evacuation = await organiser.post(f"{base}/evacuations", {"kind": "drill"}, expect=201)
    member = await organiser.post(
        f"{base}/staff", {"name": "赵磊", "phone": PHONE, "team": "tech"}, expect=201
    )
    broadcast = await organiser.post(
        f"{base}/broadcasts",
        {"text_zh": "集合", "audience": {"everyone": True}, "plan_id": plan["id"]},
        expect=201,
    )
    task = await organiser.post(
        f"{base}/tasks", {"title": "signage", "team": "安保", "steps": ["north"]}, expect=201
    )
    run_sheet = await organiser.post(
        f"{base}/run-sheets",
        {"name": "day", "items": [{"offset_minutes": -30, "title": "phones"}]},
        expect=201,
    )
    mailing, _queued = await create_mailing(ctx.db, e, MailingRequest("unsent"), None)
    async with ctx.db.writing() as session:
        alert = await raise_alert(session, e, "conflict", data={"ticket": ticket["id"]})
        assert alert is not None
    params = {
        "event_id": e,
        "zone_id": zone["id"],
        "gate_id": gate["id"],
        "type_id": ticket_type["id"],
        "ticket_id": ticket["id"],
        "nonce": nonce,
        "pairing_id": pairing["id"],
        "device_id": device_id,
        "token_id": device_id,
        "item_id": item["id"],
        "incident_id": incident["id"],
        "photo_id": 1,
        "plan_id": plan["id"],
        "point_id": point["id"],
        "evacuation_id": evacuation["id"],
        "mailing_id": mailing.id,
        "alert_id": alert.id,
        "staff_id": member["id"],
        "broadcast_id": broadcast["id"],
        "task_id": task["id"],
        "run_sheet_id": run_sheet["id"],
    }
    other = await organiser.post("/api/v1/events", event_body(name="Other"), expect=201)
    callers = {
        ANONYMOUS: {},
        BAD_TOKEN: {"Authorization": "Bearer mst_not-a-token"},
        "organiser": organiser.headers,
    }
    tokens = {role: await token_for(ctx, role, e) for role in ROLES if role != "organiser"}
    lead = await organiser.post(
        f"{base}/staff",
        {
            "name": "周队长",
            "phone": "13900000000",
            "team": "安保",
            "role": "door",
            "supervisor": True,
        },
        expect=201,
    )
    lead_code = await organiser.post(f"/api/v1/staff/{lead['id']}/pairing-codes", {}, expect=201)
    lead_phone = await client.post("/api/v1/devices/pair", json={"code": lead_code["code"]})
    assert lead_phone.status_code == 201, lead_phone.text
    tokens[SUPERVISOR] = lead_phone.json()["token"]
    lead_bundle = await Api(client, tokens[SUPERVISOR]).get(f"{base}/offline-bundle")
    assert lead_bundle["people"], "the supervisor's phone is to hold names in the clear"
    for stranger in STRANGERS:
        tokens[stranger] = await token_for(ctx, role_of(stranger), other["id"])
    callers.update({who: {"Authorization": f"Bearer {t}"} for who, t in tokens.items()})
    return World(e, {k: str(v) for k, v in params.items()}, ticket["secret"], callers)


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, methods in document["paths"].items()
        for method in methods
        if method in ("get", "post", "put", "patch", "delete")
    ]


def role_of(caller: str) -> str:
    return "door" if caller == SUPERVISOR else caller.removesuffix("@other")


def expected(caller: str, method: str, path: str) -> str:
    """``allowed``, ``own`` (allowed on its own things, or where the organiser
    allows it: may be 403 with a code of its own here),
    ``unauthorized`` or ``forbidden``, as the table says."""
    key = (method, path)
    if key in PUBLIC:
        return "allowed"
    if caller in (ANONYMOUS, BAD_TOKEN):
        return "unauthorized"
    if caller in STRANGERS and key not in UNSCOPED:
        return "forbidden"
    if role_of(caller) not in ROUTE_ROLES[key]:
        return "forbidden"
    role = role_of(caller)
    if role in OWN_ONLY.get(key, ()) or role in ORGANISER_ALLOWS.get(key, ()):
        return "own"
    if role in SUPERVISORS_ONLY.get(key, ()) and caller != SUPERVISOR:
        return "own"
    return "allowed"


def leaks(caller: str, answer: httpx.Response, world: World) -> list[str]:
    """Personal data in ``answer`` that ``caller`` may not see."""
    role = role_of(caller)
    found = []
    text = answer.text
    if role not in PERSONAL_FIELDS["secret"] and world.secret in text:
        found.append("a ticket's secret")
    if role not in PERSONAL_FIELDS["holder_email"] and EMAIL in text:
        found.append("an attendee's email")
    if role not in PERSONAL_FIELDS["phone"] and PHONE in text:
        found.append("a staff member's phone number")
    if answer.headers.get("content-type", "").startswith("application/json"):
        for key in filled_keys(answer.json()):
            if key in PERSONAL_FIELDS and role not in PERSONAL_FIELDS[key]:
                found.append(f"the field {key!r}")
    return found


def filled_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        keys = {k for k, v in value.items() if v not in (None, "", [], {})}
        return keys.union(*(filled_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(filled_keys(v) for v in value))
    return set()


def url_of(path: str, params: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in params, f"{path}: make a real {{{name}}} in build_world (params)"
        return params[name]

    return re.sub(r"{(\w+)}", value, path)


async def test_every_operation_answers_every_caller_as_the_table_says(ctx, client, organiser):
    document = (await client.get("/openapi.json")).json()
    found = operations(document)
    missing = [
        f'    ("{m}", "{p}"): ...,'
        for m, p in found
        if (m, p) not in ROUTE_ROLES and (m, p) not in PUBLIC
    ]
    assert not missing, "server/features/rights.py has no roles for:\n" + "\n".join(missing)
    stale = sorted(set(ROUTE_ROLES) - set(found))
    assert not stale, f"server/features/rights.py lists operations /openapi.json does not: {stale}"

    world = await build_world(ctx, client, organiser)
    calls = [(caller, op) for op in found for caller in CALLERS]
    refused = [(c, op) for c, op in calls if expected(c, *op) in ("unauthorized", "forbidden")]
    allowed = [(c, op) for c, op in calls if expected(c, *op) in ("allowed", "own")]
    allowed.sort(key=lambda call: call[1][0] != "GET")  # reads first, stable otherwise
    wrong = []
    for caller, (method, path) in refused + allowed:
        body = {} if method in ("POST", "PUT", "PATCH") else None
        # A search term on every read: the ticket look-up answers a door
        # only when asked for someone (the others ignore it).
        query = {"q": NAME} if method == "GET" else None
        answer = await client.request(
            method,
            url_of(path, world.params),
            json=body,
            params=query,
            headers=world.callers[caller],
        )
        want = expected(caller, method, path)
        status = answer.status_code
        if want in ("allowed", "own"):
            ok = status not in (401, 403) and status < 500
            if want == "own" and status == 403:
                # Not theirs: a code of its own, not the role refusal's.
                ok = answer.json()["error"]["code"] != "forbidden"
            problems = leaks(caller, answer, world) if ok and status < 300 else []
        else:
            ok = status == (401 if want == "unauthorized" else 403)
            problems = []
        if not ok or problems:
            wrong.append(f"{caller:10} {method:5} {path}: {status} (table: {want}) {problems}")
    assert not wrong, (
        f"{len(wrong)} answers disagree with server/features/rights.py:\n" + "\n".join(wrong)
    )


def test_the_table_names_known_roles_only():
    for key, roles in ROUTE_ROLES.items():
        assert roles and roles <= set(ROLES), key
    assert not PUBLIC & set(ROUTE_ROLES)
    assert UNSCOPED <= set(ROUTE_ROLES)
    for key, own in (OWN_ONLY | ORGANISER_ALLOWS | SUPERVISORS_ONLY).items():
        assert own <= ROUTE_ROLES[key], key


RIGHTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "rights.md"


def mark(role: str, key: tuple[str, str], roles: frozenset[str]) -> str:
    if role in OWN_ONLY.get(key, ()):
        return "own"
    if role in ORGANISER_ALLOWS.get(key, ()):
        return "if allowed"
    if role in SUPERVISORS_ONLY.get(key, ()):
        return "supervisor"
    return "✓" if role in roles else ""


def table_rows() -> list[str]:
    """docs/rights.md's table, one line per operation, from server/features/rights.py."""
    rows = [
        "| method and path | organiser | command | door | staff |",
        "| --- | --- | --- | --- | --- |",
    ]
    for (method, path), roles in ROUTE_ROLES.items():
        marks = [mark(role, (method, path), roles) for role in ROLES]
        scope = " (any event)" if (method, path) in UNSCOPED else ""
        rows.append(f"| `{method} {path}`{scope} | " + " | ".join(marks) + " |")
    rows += [f"| `{method} {path}` (no token) | ✓ | ✓ | ✓ | ✓ |" for method, path in sorted(PUBLIC)]
    return rows


def test_docs_rights_is_the_table():
    """docs/rights.md shows server/features/rights.py as it is (``python -m
    tests.server.test_role_table`` writes the table there again)."""
    text = RIGHTS_DOC.read_text(encoding="utf-8")
    assert "\n".join(table_rows()) in text, "run: python -m tests.server.test_role_table"


if __name__ == "__main__":
    old = RIGHTS_DOC.read_text(encoding="utf-8")
    start = old.index("| method and path |")
    end = old.find("\n\n", start)
    rest = old[end:] if end >= 0 else "\n"
    RIGHTS_DOC.write_text(old[:start] + "\n".join(table_rows()) + rest, encoding="utf-8")
