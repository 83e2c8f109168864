"""The door keeps working with no network: the phone checks signatures
itself, refuses a duplicate on its own, queues every scan, and when the
network is back the queue drains and the server's headcount matches. A
ticket that another door let in meanwhile comes back as a conflict, shown
on the phone. Screenshots: ``test-artifacts/staff-app-offline-*.png``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser.staff_app import (
    SYNC_TIMEOUT_MS,
    answer,
    headcount_inside,
    open_paired_phone,
    set_up_venue,
    shot,
    wait_for_queue,
    wedge,
)
from tests.servers import LiveServer

pytestmark = pytest.mark.browser


def test_offline_scans_queue_and_drain(
    live_server: LiveServer, browser: Any, artifacts: Path
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · offline", tickets=4)
    context, page = open_paired_phone(browser, live_server, venue, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    a, b, c, d = venue.tickets

    wedge(page, a["secret"])  # one online scan, so the phone has seen something
    assert answer(page)["status"] == "ok"

    context.set_offline(True)
    wedge(page, b["secret"])
    first = answer(page, artifacts, "offline-01-admitted")
    assert first["status"] == "ok"
    assert first["note"] == "离线判定"
    assert page.get_attribute("#online", "data-state") == "offline"
    wedge(page, c["secret"])
    assert answer(page)["status"] == "ok"
    wedge(page, b["secret"])  # the duplicate: refused here, with no server
    dup = answer(page, artifacts, "offline-02-duplicate")
    assert dup["status"] == "error" and dup["reason"] == "already_inside"
    wedge(page, a["secret"])  # admitted online before going offline: still known
    assert answer(page)["reason"] == "already_inside"
    wedge(page, d["secret"][:-1] + ("A" if d["secret"][-1] != "A" else "Q"))  # a forged code
    assert answer(page)["reason"] == "invalid"
    wedge(page, d["secret"])
    assert answer(page)["status"] == "ok"
    wait_for_queue(page, 6)
    assert page.is_visible("#queue")
    shot(page, artifacts, "offline-03-queued")
    assert headcount_inside(live_server, venue) == 1  # the server has seen none of it

    context.set_offline(False)
    wait_for_queue(page, 0, timeout=SYNC_TIMEOUT_MS)
    assert page.get_attribute("#online", "data-state") == "online"
    assert headcount_inside(live_server, venue) == 4
    assert page.is_hidden("#conflicts")
    shot(page, artifacts, "offline-04-drained")

    # Every scan is in the server's log, refused ones too.
    with live_server.api() as api:
        counts = api.get(f"{venue.base}/headcount").json()
    gate = next(g for g in counts["gates"] if g["id"] == venue.gate["id"])
    assert gate["in"] == 4
    context.close()
    assert errors == []


def test_conflict_from_another_door_is_shown(
    live_server: LiveServer, browser: Any, artifacts: Path
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · conflict", tickets=2)
    context, page = open_paired_phone(browser, live_server, venue, locale="en-GB")
    ticket = venue.tickets[0]

    context.set_offline(True)
    wedge(page, ticket["secret"])
    assert answer(page)["status"] == "ok"  # this phone let the holder in...

    with live_server.api() as api:  # ...and so did another door, online
        other = api.post(
            f"{venue.base}/scans",
            json={
                "secret": ticket["secret"],
                "gate": venue.gate["id"],
                "direction": "in",
                "nonce": uuid.uuid4().hex,
                "scanned_at": datetime.now(UTC).isoformat(),
            },
        ).json()
    assert other["status"] == "ok"

    context.set_offline(False)
    page.wait_for_selector("#conflicts:not(.hidden)", timeout=SYNC_TIMEOUT_MS)
    assert page.inner_text("#conflicts-title") == "Offline conflicts: 1"
    assert "王伟" in page.inner_text("#conflict-list")
    assert page.is_hidden("#undo")  # that scan is a conflict now: nothing to undo here
    assert headcount_inside(live_server, venue) == 1  # a conflict never counts twice
    shot(page, artifacts, "offline-05-conflict")
    page.click("#conflicts-clear")
    page.wait_for_selector("#conflicts.hidden", state="attached")
    context.close()
