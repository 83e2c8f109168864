"""PostgreSQL stopped mid-event (a throwaway cluster, ``tests/pgcluster.py``):
the door phone keeps giving green answers on its own while the server
answers 5xx (503 ``database_unavailable``) — never red for the steward — and
when the database is back it drains its queue by itself, to the headcount
the doors saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.staff_app import (
    answer,
    headcount_inside,
    open_paired_phone,
    set_up_venue,
    shot,
    use_app_budget,
    wait_for_queue,
    wedge,
)
from tests.pgcluster import PgCluster
from tests.servers import start_server

pytestmark = pytest.mark.browser


def test_green_answers_while_postgresql_is_down_and_the_queue_drains_after(
    pg_cluster: PgCluster, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    server = start_server(tmp_path, {"MUSTER_DATABASE_URL": pg_cluster.create_database()})
    try:
        venue = set_up_venue(server, "新品发布会 · database down", tickets=6)
        context, page = open_paired_phone(browser, server, venue, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        statuses: list[int] = []
        page.on(
            "response",
            lambda r: statuses.append(r.status) if r.url.endswith("/scans") else None,
        )
        first, *rest = venue.tickets
        wedge(page, first["secret"])
        assert answer(page)["status"] == "ok"
        assert statuses == [200]
        use_app_budget(page)  # from here the door waits no longer than it would

        pg_cluster.stop()
        # The first scan after the stop is asked of the server (the phone has
        # not noticed yet: believed online and scanned in one task, so no
        # probe answer comes in between); the rest go as the phone decides.
        with page.expect_response(lambda r: r.url.endswith("/scans"), timeout=60_000) as sick:
            page.evaluate(
                """(secret) => {
                  window.musterApp.connection.online = true;
                  window.musterApp.scanner.enqueue(secret);
                }""",
                rest[0]["secret"],
            )
            shown = [answer(page, artifacts, "database-down")]
        assert sick.value.status >= 500
        for ticket in rest[1:]:
            wedge(page, ticket["secret"])
            shown.append(answer(page))
        # Green every time, decided on the phone; the server could only say 5xx.
        assert [s["status"] for s in shown] == ["ok"] * len(rest)
        assert {s["note"] for s in shown} == {"离线判定"}
        assert all(s >= 500 for s in statuses[1:]), statuses
        assert page.get_attribute("#online", "data-state") == "offline"
        assert page.get_attribute("#queue", "data-scans") == str(len(rest))

        pg_cluster.start()
        wait_for_queue(page, 0)
        assert page.get_attribute("#online", "data-state") == "online"
        assert headcount_inside(server, venue) == len(venue.tickets)
        shot(page, artifacts, "database-back")
        assert page.is_hidden("#conflicts")
        context.close()
        assert errors == []
    finally:
        server.stop()
