"""A door never waits on the network (issue 19): the phone decides each scan
at once and asks the server in parallel, same nonce. A quick server's answer
is shown; a slow one's is not waited for — the phone's own answer is shown
and queued — and when the late answer comes, the screen does not change: an
agreeing answer takes the scan off the queue, a disagreeing one is a
conflict, shown on the phone and raised to the command centre (and when the
server admitted someone the door turned away, the phone annuls it). The
timings are in ``bench/door_verdict.py``; this test is about behaviour.
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
    device_token,
    headcount_inside,
    open_paired_phone,
    set_up_venue,
    shot,
    use_app_budget,
    wait_for_queue,
    wedge,
)
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

#: Every time the full-screen answer appears, what it said.
WATCH_ANSWERS = """() => {
  window.shownAnswers = [];
  const box = document.getElementById("answer");
  let visible = !box.classList.contains("hidden");
  new MutationObserver(() => {
    const now = !box.classList.contains("hidden");
    if (now && !visible) window.shownAnswers.push(box.dataset.status);
    else if (now) window.shownAnswers.push("changed:" + box.dataset.status);
    visible = now;
  }).observe(box, { attributes: true, attributeFilter: ["class", "data-status"] });
}"""


def test_the_door_decides_at_once_and_late_answers_change_nothing(
    live_server: LiveServer, browser: Any, artifacts: Path
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · door never waits", tickets=3)
    context, page = open_paired_phone(browser, live_server, venue, locale="en-GB")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.evaluate(WATCH_ANSWERS)
    synced: list[str] = []
    page.on(
        "request",
        lambda r: (
            synced.extend(s["nonce"] for s in r.post_data_json["scans"])
            if r.url.endswith("/scans/sync")
            else None
        ),
    )
    a, b, c = venue.tickets

    # A server that answers within the budget: its answer is the one shown.
    # (The budget is a patient one here, so a loaded machine cannot make the
    # server late; from here on it is the app's own.)
    wedge(page, a["secret"])
    quick = answer(page)
    assert (quick["status"], quick["note"], quick["name"]) == ("ok", "", "王伟")
    first_nonce = page.evaluate("window.musterApp.scanner.last.nonce")
    use_app_budget(page)

    # A slow server: the phone's own answer, queued; the late answer agrees.
    held: list[Any] = []
    page.route("**/api/v1/events/*/scans", lambda route: held.append(route))
    wedge(page, b["secret"])
    slow = answer(page, artifacts, "verdict-01-not-waiting")
    assert (slow["status"], slow["note"]) == ("ok", "Decided offline")
    slow_nonce = page.evaluate("window.musterApp.scanner.last.nonce")
    # Kept, but not counted as waiting (nor synced) while its own request is out.
    kept = page.evaluate("window.musterApp.queue.pending().then((q) => q.map((s) => s.nonce))")
    assert kept == [slow_nonce]
    assert page.get_attribute("#queue", "data-scans") == "0"
    held.pop().continue_()
    # The server had it: off the queue, and not sent again.
    page.wait_for_function(
        "() => window.musterApp.queue.pending().then((q) => q.length === 0)", polling=100
    )
    assert headcount_inside(live_server, venue) == 2
    assert slow_nonce not in synced

    # The phone lets someone in, the server (late) says the zone is full.
    with live_server.api() as api:
        full = api.patch(f"{venue.base}/zones/{venue.zone['id']}", json={"capacity": 0})
        assert full.status_code == 200, full.text
    wedge(page, c["secret"])
    assert answer(page)["status"] == "ok"
    held.pop().continue_()
    page.wait_for_selector("#conflict-list li[data-kind='door_admitted']", timeout=SYNC_TIMEOUT_MS)
    with live_server.api() as api:
        api.patch(f"{venue.base}/zones/{venue.zone['id']}", json={"capacity": 500})
        # The first admission is annulled elsewhere: the phone hears it at
        # once (the annulments topic), not at its next bundle.
        undone = api.post(f"{venue.base}/scans/{first_nonce}/annul", json={})
        assert undone.status_code == 200, undone.text
    page.wait_for_function(f"() => window.musterApp.book.lookup({a['id']})?.checkedIn === false")

    # Someone leaves by another door while this phone hears nothing (its
    # socket stopped): it still knows them inside and turns them away as
    # they come back; the server (late) would have let them in.
    page.evaluate("window.musterApp.live.stop()")
    with live_server.api(device_token(live_server, venue)) as api:
        left = api.post(
            f"{venue.base}/scans",
            json={
                "secret": b["secret"],
                "gate": venue.gate["id"],
                "direction": "out",
                "nonce": uuid.uuid4().hex,
                "scanned_at": datetime.now(UTC).isoformat(),
            },
        )
        assert left.json()["status"] == "ok", left.text
    wedge(page, b["secret"])
    refused = answer(page)
    assert (refused["status"], refused["reason"]) == ("error", "already_inside")
    held.pop().continue_()
    page.wait_for_selector("#conflict-list li[data-kind='door_refused']", timeout=SYNC_TIMEOUT_MS)
    wait_for_queue(page, 0)
    shot(page, artifacts, "verdict-02-conflicts")
    page.evaluate("window.musterApp.live.start()")
    # The door's verdicts stand: the one turned away is not counted (the
    # phone annulled the server's admission), nor the one let into the full
    # zone (its conflict says so), nor the one annulled.
    assert headcount_inside(live_server, venue) == 0
    assert page.evaluate("window.shownAnswers") == ["ok", "ok", "ok", "error"]
    sources = page.evaluate("window.musterApp.scanner.timings.map((t) => t.source)")
    assert sources == ["server", "phone", "phone", "phone"]

    # What reached the command centre: both conflicts, as alerts.
    command = context.browser.new_context(viewport={"width": 1920, "height": 1080})
    screen = command.new_page()
    token = device_token(live_server, venue, "command")
    screen.goto(f"{live_server.base_url}/command/#token={token}&event={venue.event['id']}")
    screen.wait_for_function(
        "() => document.querySelectorAll(\"li.alert[data-kind='conflict']\").length === 2"
    )
    command.close()
    context.close()
    assert errors == []
