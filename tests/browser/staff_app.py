"""Helpers shared by the staff app's browser tests: an event set up through
the API of a live ``muster serve``, and a phone paired the way staff pair one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.servers import LiveServer

PHONE = {"width": 390, "height": 844}
#: Offline answers wait for the phone's next probe (every 10 s) or an event.
SYNC_TIMEOUT_MS = 30_000


@dataclass
class Venue:
    event: dict[str, Any]
    zone: dict[str, Any]
    gate: dict[str, Any]
    tickets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"/api/v1/events/{self.event['id']}"


def set_up_venue(live: LiveServer, name: str, tickets: int = 6) -> Venue:
    """An event happening now, one zone, one gate in from outside, some tickets."""
    now = datetime.now(UTC)
    with live.api() as api:
        event = api.post(
            "/api/v1/events",
            json={
                "name": name,
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=8)).isoformat(),
                "timezone": "Asia/Shanghai",
            },
        ).json()
        base = f"/api/v1/events/{event['id']}"
        zone = api.post(f"{base}/zones", json={"name": "主会场 Hall A", "capacity": 500}).json()
        gate = api.post(
            f"{base}/gates", json={"name": "北门 North", "from_zone": None, "to_zone": zone["id"]}
        ).json()
        holders = ["王伟", "李娜", "Chen Jie", "张敏", "刘洋", "Sarah Lee", "赵磊", "周婷"]
        if not tickets:
            return Venue(event, zone, gate, [])
        issued = api.post(
            f"{base}/tickets",
            json={
                "tickets": [
                    {
                        "holder_name": holders[i % len(holders)],
                        "holder_email": f"guest{i}@example.com",
                    }
                    for i in range(tickets)
                ]
            },
        )
        assert issued.status_code == 201, issued.text
    return Venue(event, zone, gate, issued.json()["tickets"])


def pairing_url(live: LiveServer, venue: Venue, role: str = "door", gate: bool = True) -> str:
    body: dict[str, Any] = {"role": role, "device_name": f"{role} test phone"}
    if gate:
        body["gate"] = venue.gate["id"]
    with live.api() as api:
        made = api.post(f"{venue.base}/pairing-codes", json=body)
    assert made.status_code == 201, made.text
    url: str = made.json()["pairing_url"]
    return url


def supervisor_pairing_url(live: LiveServer, venue: Venue) -> str:
    """The pairing link of a phone for 周队长, a door supervisor of the roster at the gate."""
    with live.api() as api:
        member = api.post(
            f"{venue.base}/staff",
            json={
                "name": "周队长",
                "team": "安保",
                "role": "door",
                "supervisor": True,
                "gate": venue.gate["id"],
            },
        ).json()
        made = api.post(f"/api/v1/staff/{member['id']}/pairing-codes", json={}).json()
    return str(made["pairing_url"])


def device_token(live: LiveServer, venue: Venue, role: str = "door") -> str:
    """A device token of ``role`` for the venue's event, paired through the API."""
    body: dict[str, Any] = {"role": role, "device_name": f"{role} token"}
    if role == "door":
        body["gate"] = venue.gate["id"]
    with live.api() as api:
        made = api.post(f"{venue.base}/pairing-codes", json=body)
        assert made.status_code == 201, made.text
        paired = api.post("/api/v1/devices/pair", json={"code": made.json()["code"]})
    assert paired.status_code in (200, 201), paired.text
    return str(paired.json()["token"])


#: The wait for the server's answer in tests that are not about it: a loaded
#: CI machine's slow answer must not turn into the phone's own answer there.
PATIENT_BUDGET_MS = 2500


def be_patient(page: Any) -> None:
    """Let the door wait PATIENT_BUDGET_MS for the server (see open_paired_phone)."""
    page.evaluate(f"window.musterApp.scanner.verdicts.budgetMs = {PATIENT_BUDGET_MS}")


def use_app_budget(page: Any) -> None:
    """Back to the app's own short wait for the server (``ANSWER_BUDGET_MS``)."""
    page.evaluate(
        """import("/app/verdict.js").then((m) => {
          window.musterApp.scanner.verdicts.budgetMs = m.ANSWER_BUDGET_MS;
        })"""
    )


def open_paired_phone(
    browser: Any,
    live: LiveServer,
    venue: Venue,
    role: str = "door",
    patient: bool = True,
    **context_args: Any,
) -> tuple[Any, Any]:
    """A new phone-sized context with the app paired through its pairing link.

    ``patient``: the door waits up to PATIENT_BUDGET_MS for the server's
    answer instead of the app's short budget (``pwa/app/verdict.js``), for
    tests that check what the server answered; tests of the budget itself
    pass False.
    """
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, **context_args)
    page = context.new_page()
    page.goto(pairing_url(live, venue, role))
    page.wait_for_function(
        "() => window.musterApp && document.querySelector('#online').dataset.state === 'online'"
    )
    if role in ("door", "command"):
        # The offline bundle has arrived: the phone could decide on its own.
        page.wait_for_function("() => window.musterApp.book.ready")
        if patient:
            be_patient(page)
    return context, page


def headcount_inside(live: LiveServer, venue: Venue) -> int:
    with live.api() as api:
        found = api.get(f"{venue.base}/headcount").json()
    zone = next(z for z in found["zones"] if z["id"] == venue.zone["id"])
    return int(zone["inside"])


def wait_for_queue(page: Any, scans: int, timeout: float = SYNC_TIMEOUT_MS) -> None:
    """Wait until the header says ``scans`` scans wait to be sent."""
    page.wait_for_function(
        f"() => document.querySelector('#queue').dataset.scans === '{scans}'", timeout=timeout
    )


def wedge(page: Any, text: str) -> None:
    """What a keyboard-wedge scanner does: type the code, press Enter."""
    page.locator("#wedge").press_sequentially(text, delay=0)
    page.keyboard.press("Enter")


def answer(page: Any, artifacts: Path | None = None, name: str = "") -> dict[str, str]:
    """Wait for the full-screen answer, read it (screenshot it), and dismiss it."""
    box = page.locator("#answer")
    box.wait_for(state="visible")
    if artifacts is not None:
        shot(page, artifacts, name)
    found = {
        "status": box.get_attribute("data-status") or "",
        "reason": box.get_attribute("data-reason") or "",
        "name": page.inner_text("#answer-name"),
        "note": page.inner_text("#answer-note"),
        "word": page.inner_text("#answer-word"),
        "why": page.inner_text("#answer-reason"),
    }
    page.evaluate("window.musterApp.scanner.hideAnswer()")
    return found


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"staff-app-{name}.png"))


def admit_everyone(live: LiveServer, venue: Venue) -> None:
    """Every ticket of the venue scanned in at its gate, now."""
    token = device_token(live, venue, "door")
    with live.api(token) as door:
        for i, ticket in enumerate(venue.tickets):
            scanned = door.post(
                f"{venue.base}/scans",
                json={
                    "secret": ticket["secret"],
                    "gate": venue.gate["id"],
                    "direction": "in",
                    "nonce": f"evac-in-{venue.event['id']}-{i}",
                    "scanned_at": datetime.now(UTC).isoformat(),
                },
            )
            assert scanned.json()["status"] == "ok", scanned.text


def muster_scan(page: Any, text: str) -> None:
    """A badge scanned by wedge in the phone's muster mode."""
    page.locator("#evac-wedge").press_sequentially(text, delay=0)
    page.keyboard.press("Enter")


def add_muster_point(live: LiveServer, venue: Venue, name: str, map_note: str) -> None:
    """An assembly point the venue's zone sends people to."""
    with live.api() as api:
        api.post(
            f"{venue.base}/muster-points",
            json={"name": name, "zones": [venue.zone["id"]], "map_note": map_note},
        ).raise_for_status()
