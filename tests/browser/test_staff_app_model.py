"""The staff app's and the shared clients' pure decisions, run in Chromium as
the pages run them: what counts as "no answer" (``shared/outbox.js``), what a
late server answer means (``app/verdict.js``), which kind a conflict is
(``app/scanqueue.js``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context()
    opened = context.new_page()
    opened.goto(f"{live_server.base_url}/shared/base.css")  # our origin, nothing running
    yield opened
    context.close()


def test_retryable_is_no_answer_or_a_sick_server(page: Any) -> None:
    found = page.evaluate(
        """async () => {
          const { ApiError } = await import("/shared/api.js");
          const { isRetryable } = await import("/shared/outbox.js");
          const cases = [new TypeError("Failed to fetch"), new DOMException("x", "AbortError"),
            new ApiError(500, "internal_error"), new ApiError(502, "http_error"),
            new ApiError(503, "database_unavailable"), new ApiError(408, "x"), new ApiError(429, "x"),
            new ApiError(409, "retry"), new ApiError(409, "superseded"), new ApiError(422, "invalid_request"),
            new ApiError(403, "wrong_gate"), new ApiError(401, "x")];
          return cases.map(isRetryable);
        }"""
    )
    assert found == [True] * 8 + [False] * 4


def test_a_late_answer_agrees_diverges_or_is_annulled(page: Any) -> None:
    found = page.evaluate(
        """import("/app/verdict.js").then((m) => [
          m.lateOutcome(true, "ok"), m.lateOutcome(false, "error"),
          m.lateOutcome(true, "error"), m.lateOutcome(false, "ok"),
        ])"""
    )
    assert found == ["agree", "agree", "diverged", "annul"]


def test_conflict_kinds(page: Any) -> None:
    found = page.evaluate(
        """import("/app/scanqueue.js").then((m) => [
          m.conflictKind(true, "already_inside"), m.conflictKind(true, "zone_full"),
          m.conflictKind(false, null),
        ])"""
    )
    assert found == ["twice", "door_admitted", "door_refused"]
