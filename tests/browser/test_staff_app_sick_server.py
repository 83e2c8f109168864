"""A door never waits on a sick server: the phone treats a 500, a 503 with
Retry-After, a request that never answers and a dropped connection alike —
it decides on its own with the same nonce, queues the scan, shows that it is
offline, and sends the queue when the server says it is ready again
(``/readyz``). No red answer for the steward from the server's trouble.

The server's trouble is made by Playwright's request routing in front of a
real ``muster serve``; the same with PostgreSQL really stopped is in
``test_staff_app_database_down.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.staff_app import (
    answer,
    headcount_inside,
    open_paired_phone,
    set_up_venue,
    shot,
    wait_for_queue,
)
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

UNAVAILABLE = json.dumps(
    {"error": {"code": "database_unavailable", "message": "The database is unreachable."}}
)


def test_5xx_503_timeout_and_network_error_are_all_offline(
    live_server: LiveServer, browser: Any, artifacts: Path
) -> None:
    venue = set_up_venue(live_server, "新品发布会 · sick server", tickets=4)
    context, page = open_paired_phone(browser, live_server, venue, locale="en-GB")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    asked: list[str] = []  # nonces of online scans, as the server was asked
    held: list[Any] = []  # requests left unanswered (the phone gives up on them)
    failures = iter(["500", "503", "hang", "abort"])

    def sick_scan(route: Any) -> None:
        asked.append(route.request.post_data_json["nonce"])
        how = next(failures)
        if how == "500":
            route.fulfill(status=500, content_type="text/plain", body="Internal Server Error")
        elif how == "503":
            route.fulfill(
                status=503,
                content_type="application/json",
                headers={"Retry-After": "2"},
                body=UNAVAILABLE,
            )
        elif how == "hang":
            held.append(route)
        else:
            route.abort("connectionreset")

    def not_ready(route: Any) -> None:
        route.fulfill(status=503, content_type="application/json", body=UNAVAILABLE)

    synced: list[str] = []

    def watch_sync(request: Any) -> None:
        if request.url.endswith("/scans/sync"):
            synced.extend(s["nonce"] for s in request.post_data_json["scans"])

    page.on("request", watch_sync)
    page.route("**/readyz*", not_ready)
    page.route("**/scans/sync", not_ready)
    page.route("**/api/v1/events/*/scans", sick_scan)
    for ticket in venue.tickets:
        # Each scan is asked online first: the phone believes the server is
        # there (as after a good probe, without the flush that follows one),
        # and scans in the same task, so no probe answer comes in between.
        page.evaluate(
            """(secret) => {
              window.musterApp.connection.online = true;
              window.musterApp.scanner.enqueue(secret);
            }""",
            ticket["secret"],
        )
        seen = answer(page, artifacts, f"sick-{len(asked)}")
        assert (seen["status"], seen["note"]) == ("ok", "Decided offline"), seen
        assert page.get_attribute("#online", "data-state") == "offline"
    assert len(asked) == 4
    queued = page.evaluate("window.musterApp.queue.pending().then((q) => q.map((s) => s.nonce))")
    assert sorted(queued) == sorted(asked)  # the same nonces, queued
    shot(page, artifacts, "sick-queued")
    for route in held:
        route.abort("timedout")
    assert headcount_inside(live_server, venue) == 0

    page.unroute("**/api/v1/events/*/scans", sick_scan)
    page.unroute("**/scans/sync", not_ready)
    page.unroute("**/readyz*", not_ready)  # the server is well again
    wait_for_queue(page, 0)
    assert page.get_attribute("#online", "data-state") == "online"
    assert sorted(set(synced)) == sorted(asked)
    assert headcount_inside(live_server, venue) == 4
    context.close()
    assert errors == []
