"""The staff app's and the shared clients' pure decisions, run in Chromium as
the pages run them: what counts as "no answer" (``shared/outbox.js``), what a
late server answer means and when the server is not waited for
(``app/verdict.js``), which kind a conflict is
(``app/scanqueue.js``), the compact admitted set the server sends
(``app/admitted.js``, on sets ``checkin/admitted.py`` made) and the door
book's layers over it (``app/doorbook.js``)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from checkin.admitted import Admitted, encode_admitted
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


#: A door's verdicts on a made-up phone: the server answers "refused" after
#: 300 ms, the phone's own decision is "ok"; which one is shown depends only on
#: what the recent round trips were (the budget is 1 s).
DOOR_WITH_ROUND_TRIPS = """async (roundTrips) => {
  const { Verdicts } = await import("/app/verdict.js");
  const app = {
    eventId: 1,
    connection: { online: true, set() {} },
    queue: { asked() {}, settled() {}, add: async () => {}, drop: async () => {} },
    book: {
      ready: true,
      personOfCode: () => null,
      decide: async () => ({ ok: true, reason: null, ticketId: 7, zoneAfter: 2, who: null }),
    },
    api: {
      post: () => new Promise((resolve) =>
        setTimeout(() => resolve({ status: "error", reason: "already_inside" }), 300)),
    },
  };
  const verdicts = new Verdicts(app);
  verdicts.budgetMs = 1000;
  verdicts.roundTrips = roundTrips;
  const scan = { nonce: "n1", secret: "NOT-A-PRINTED-CODE-1", gate: 1, direction: "in",
    scanned_at: new Date().toISOString() };
  const shown = await verdicts.decide(scan, { id: 1, to_zone: 2 }, performance.now());
  return [shown.source, shown.ok];
}"""


def test_a_server_that_lately_answered_late_is_not_waited_for(page: Any) -> None:
    # No history, or quick answers (one slow one changes nothing): the door
    # waits, and the server's refusal is what it shows.
    assert page.evaluate(DOOR_WITH_ROUND_TRIPS, []) == ["server", False]
    assert page.evaluate(DOOR_WITH_ROUND_TRIPS, [20, 5000, 30]) == ["server", False]
    # Answers lately slower than the budget (a venue Wi-Fi): the phone's own
    # verdict, at once; the late refusal is then a divergence (verdict.js).
    assert page.evaluate(DOOR_WITH_ROUND_TRIPS, [1500, 20, 2000]) == ["phone", True]


def test_conflict_kinds(page: Any) -> None:
    found = page.evaluate(
        """import("/app/scanqueue.js").then((m) => [
          m.conflictKind(true, "already_inside"), m.conflictKind(true, "zone_full"),
          m.conflictKind(false, null),
        ])"""
    )
    assert found == ["twice", "door_admitted", "door_refused"]


DECODE = """async (encoded) => {
  const { AdmittedSet } = await import("/app/admitted.js");
  const set = new AdmittedSet(encoded);
  return [...set.records()].map((r) => [Number(r.ticket), r.zone, r.checkedIn, r.generation]);
}"""


def sets() -> Iterator[tuple[str, list[Admitted]]]:
    rng = random.Random(19)
    places = [(None, True), (3, True), (4, True), (4, False), (9, True)]
    yield "nobody", []
    yield "one", [Admitted(7, 3, True)]
    yield "one place, one run", [Admitted(t, 5, True) for t in range(1000, 1300)]
    scattered = sorted(rng.sample(range(1, 2**44), 300))  # ids past 2^32: varints of 7 bytes
    yield "scattered", [Admitted(t, *rng.choice(places), rng.choice([1, 2])) for t in scattered]
    holes = [t for t in range(50, 2050) if rng.random() < 0.8]  # short runs: the bitmap
    yield "holes", [Admitted(t, *rng.choice(places)) for t in holes]
    many = [(z, True) for z in range(300)]  # 9 bits a ticket: values across three bytes
    yield "300 places", [Admitted(t, *rng.choice(many)) for t in range(1, 2001)]


@pytest.mark.parametrize(("name", "tickets"), list(sets()), ids=[n for n, _ in sets()])
def test_the_phone_decodes_what_the_server_encodes(
    page: Any, name: str, tickets: list[Admitted]
) -> None:
    encoded = encode_admitted(tickets)
    if name == "holes":
        assert encoded["bitmap_from"] == tickets[0].ticket
    found = page.evaluate(DECODE, encoded)
    assert found == [[a.ticket, a.zone, a.checked_in, a.generation] for a in tickets]


def test_lookups_and_a_broken_set(page: Any) -> None:
    encoded = encode_admitted([Admitted(t, 3, True) for t in (5, 6, 7, 20)])
    found = page.evaluate(
        """async (encoded) => {
          const { AdmittedSet } = await import("/app/admitted.js");
          const set = new AdmittedSet(encoded);
          const refused = [];
          for (const broken of [{ ...encoded, format: "runs-0" }, { ...encoded, count: 5 }, { ...encoded, ids: "gA==" }]) {
            try { new AdmittedSet(broken); refused.push(false); } catch { refused.push(true); }
          }
          return { size: set.size, found: ["5", 7, "20", 8, 4, "x", null].map((t) => set.get(t)?.zone ?? null), refused };
        }""",
        encoded,
    )
    assert found == {"size": 4, "found": [3, 3, 3, None, None, None, None], "refused": [True] * 3}


def test_the_door_book_layers_live_news_over_the_set_and_keeps_both(page: Any) -> None:
    """A snapshot, then an admission, an exit, an annulled first entry and this
    phone's own scan: lookups see the newest; a reload (a new book from
    IndexedDB) sees the same; a new snapshot replaces all but queued scans."""
    first = encode_admitted([Admitted(t, 3, True) for t in range(100, 200)])
    later = encode_admitted([Admitted(150, None, True)])
    found = page.evaluate(
        """async ([first, later]) => {
          const { DoorBook } = await import("/app/doorbook.js");
          const book = new DoorBook(1);
          const view = (b) => ["100", "150", "199", "300", "301"].map((t) => {
            const r = b.lookup(t);
            return r ? [r.zone, r.checkedIn] : null;
          });
          await book.admissionsSnapshot(first);
          await book.admitted({ ticket: 300, zone: 3, generation: 1, scanned_at: "2026-12-01T09:00:00Z", gate: 1 });
          await book.admitted({ ticket: 150, zone: null, generation: 1 });
          await book.moved(199, null, false);
          await book.record(301, 4, 2);
          const live = view(book);
          const again = new DoorBook(1);
          await again.restore();
          const restored = view(again);
          const queued = [{ local_ok: true, ticket: 301, zone_after: 4, scanned_at: "2026-12-01T09:01:00Z", gate: 2 }];
          await again.admissionsSnapshot(later, queued);
          const replaced = view(again);
          const third = new DoorBook(1);
          await third.restore();
          return { live, restored, replaced, reloaded: view(third) };
        }""",
        [first, later],
    )
    live = [[3, True], [None, True], [None, False], [3, True], [4, True]]
    replaced = [None, [None, True], None, None, [4, True]]
    assert found == {"live": live, "restored": live, "replaced": replaced, "reloaded": replaced}


def test_annulments_drop_an_admission_whichever_topic_comes_first(page: Any) -> None:
    found = page.evaluate(
        """async () => {
          const { DoorBook } = await import("/app/doorbook.js");
          const book = new DoorBook(2);
          await book.admissionsSnapshot(null);
          const view = () => ["400", "500", "600"].map((t) => {
            const r = book.lookup(t);
            return r ? [r.zone, r.checkedIn] : null;
          });
          // In order: admitted, then annulled.
          await book.admitted({ scan: 10, ticket: 400, zone: 3, generation: 1 });
          await book.annulled([{ scan: 10, ticket: 400, zone: null, checked_in: false }]);
          // The annulment first, its admission late: dropped.
          await book.annulled([{ scan: 20, ticket: 500, zone: null, checked_in: false }]);
          await book.admitted({ scan: 20, ticket: 500, zone: 3, generation: 1 });
          // A later scan known already: the older annulment is old news.
          await book.admitted({ scan: 31, ticket: 600, zone: 4, generation: 1 });
          await book.annulled([{ scan: 30, ticket: 600, zone: 3, checked_in: true }]);
          return view();
        }"""
    )
    assert found == [[None, False], [None, False], [4, True]]
