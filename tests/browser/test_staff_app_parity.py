"""The phone's copies of the check-in rules agree with the server's:
``pwa/shared/rules.js`` with ``checkin/rules.py`` over a grid of cases, and
``pwa/shared/secret.js`` with ``checkin/secrets.py`` on real and forged
secrets, with WebCrypto's Ed25519 and with the vendored fallback. Also:
the app installs (manifest, service worker) and opens with no network.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from checkin.rules import GateMove, TicketState, decide
from checkin.secrets import KeyRing, SecretError, Signer, TicketClaims, generate_key
from tests.browser.staff_app import open_paired_phone, set_up_venue, wedge
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
HALL, VIP, OTHER = 1, 2, 3


def rule_cases() -> list[dict[str, Any]]:
    """Every combination that matters to ``decide``, as plain data for both copies."""
    cases = []
    windows = [(None, None), (NOW + timedelta(hours=1), None), (None, NOW - timedelta(hours=1))]
    moves = [(None, HALL), (HALL, VIP), (None, VIP)]
    for (
        status,
        generation,
        window,
        zone,
        checked_in,
        allowed,
        reentry,
        move,
        direction,
        room,
    ) in itertools.product(
        ["valid", "revoked", "retired", "blank"],
        [1, 2],
        windows,
        [None, HALL, VIP, OTHER],
        [False, True],
        [None, [HALL], [VIP]],
        [True, False],
        moves,
        ["in", "out"],
        [True, False],
    ):
        cases.append(
            {
                "ticket": {
                    "status": status,
                    "generation": generation,
                    "valid_from": window[0].isoformat() if window[0] else None,
                    "valid_until": window[1].isoformat() if window[1] else None,
                    "zone": zone,
                    "checked_in": checked_in,
                    "allowed": allowed,
                    "reentry": reentry,
                },
                "move": {"from": move[0], "to": move[1], "direction": direction},
                "room": room,
            }
        )
    return cases


def python_decision(case: dict[str, Any]) -> list[Any]:
    t = case["ticket"]
    state = TicketState(
        status=t["status"],
        generation=t["generation"],
        allowed_zones=None if t["allowed"] is None else frozenset(t["allowed"]),
        reentry=t["reentry"],
        valid_from=datetime.fromisoformat(t["valid_from"]) if t["valid_from"] else None,
        valid_until=datetime.fromisoformat(t["valid_until"]) if t["valid_until"] else None,
        zone_id=t["zone"],
        checked_in=t["checked_in"],
    )
    move = GateMove(case["move"]["from"], case["move"]["to"], case["move"]["direction"])
    found = decide(state, 1, move, NOW, case["room"])
    return [found.ok, found.reason, found.zone_after]


JS_DECIDE = """async ([cases, now]) => {
  const { decide } = await import("/shared/rules.js");
  const date = (s) => (s ? new Date(s) : null);
  return cases.map((c) => {
    const t = c.ticket;
    const ticket = { status: t.status, generation: t.generation, allowedZones: t.allowed,
      reentry: t.reentry, validFrom: date(t.valid_from), validUntil: date(t.valid_until),
      zoneId: t.zone, checkedIn: t.checked_in };
    const move = { fromZone: c.move.from, toZone: c.move.to, direction: c.move.direction };
    const d = decide(ticket, 1, move, new Date(now), c.room);
    return [d.ok, d.reason, d.zoneAfter];
  });
}"""


def test_rules_js_matches_rules_py(live_server: LiveServer, browser: Any) -> None:
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/app/")
    cases = rule_cases()
    assert len(cases) > 3000
    in_browser = page.evaluate(JS_DECIDE, [cases, NOW.isoformat()])
    expected = [python_decision(c) for c in cases]
    mismatches = [(c, e, b) for c, e, b in zip(cases, expected, in_browser, strict=True) if e != b]
    assert mismatches == []
    reasons = {e[1] for e in expected}
    assert reasons == {
        None, "revoked", "retired", "not_yet_valid", "expired", "already_inside", "not_inside",
        "zone_full", "wrong_zone", "invalid",  # invalid: an unbound walk-in blank
    }  # fmt: skip
    page.close()


JS_VERIFY = """async ([secrets, eventId, keys, engine]) => {
  const s = await import("/shared/secret.js");
  s.useSignatureEngine(engine);
  const out = [];
  for (const secret of secrets) {
    try {
      const c = await s.verifySecret(secret, eventId, keys);
      out.push(["ok", c.ticketId, c.typeId, c.generation, c.kid,
                c.validFrom ? c.validFrom.getTime() / 1000 : null,
                c.validUntil ? c.validUntil.getTime() / 1000 : null]);
    } catch (e) {
      out.push(["error", e.reason || String(e)]);
    }
  }
  return out;
}"""


def secret_cases() -> tuple[list[str], dict[int, str], KeyRing]:
    first, second, stranger = generate_key(1), generate_key(2), generate_key(1)
    start, end = NOW - timedelta(hours=2), NOW + timedelta(hours=10)
    claims = [
        TicketClaims(7, 1, 3, 1, None, None, 1),
        TicketClaims(7, 4_000_000_000, 65_000, 65_535, start, end, 2),
        TicketClaims(8, 2, 3, 1, None, None, 1),  # another event
    ]
    good = [
        Signer(1, first.private).sign(claims[0]),
        Signer(2, second.private).sign(claims[1]),
        Signer(1, first.private).sign(claims[2]),
        Signer(1, stranger.private).sign(claims[0]),  # not our key
    ]
    flipped = good[0][:30] + ("B" if good[0][30] != "B" else "C") + good[0][31:]
    secrets = [
        *good,
        flipped,
        good[0].lower(),  # a scanner that types lower case
        good[0][:-1],  # truncated
        good[0][:-1] + "7",  # a non-canonical last character
        "HELLO",
        "0" * 141,  # not base32
    ]
    ring = KeyRing(7, {1: first.public, 2: second.public})
    keys = {1: first.public.hex(), 2: second.public.hex()}
    return secrets, keys, ring


def python_verdict(ring: KeyRing, secret: str) -> list[Any]:
    try:
        c = ring.verify(secret)
    except SecretError as exc:
        return ["error", exc.reason]
    stamp = lambda d: None if d is None else int(d.timestamp())  # noqa: E731
    return [
        "ok",
        c.ticket_id,
        c.type_id,
        c.generation,
        c.kid,
        stamp(c.valid_from),
        stamp(c.valid_until),
    ]


@pytest.mark.parametrize("engine", ["webcrypto", "noble"])
def test_secret_js_matches_secrets_py(live_server: LiveServer, browser: Any, engine: str) -> None:
    secrets, keys, ring = secret_cases()
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/app/")
    in_browser = page.evaluate(JS_VERIFY, [secrets, 7, keys, engine])
    expected = [python_verdict(ring, s) for s in secrets]
    assert in_browser == expected
    assert [e[0] for e in expected[:4]] == ["ok", "ok", "error", "error"]
    page.close()


def test_installable_and_opens_offline(live_server: LiveServer, browser: Any) -> None:
    venue = set_up_venue(live_server, "新品发布会 · install", tickets=2)
    context, page = open_paired_phone(browser, live_server, venue, locale="en-GB")
    manifest = page.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then((r) => r.json())"
    )
    assert manifest["scope"] == "/app/" and manifest["display"] == "standalone"
    assert {icon["sizes"] for icon in manifest["icons"]} >= {"192x192", "512x512"}
    for icon in manifest["icons"]:
        assert page.evaluate(f"fetch('{icon['src']}').then((r) => r.status)") == 200
    page.wait_for_function(
        "() => navigator.serviceWorker.controller !== null || navigator.serviceWorker.ready.then(() => true)"
    )
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()  # now controlled by the service worker
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.wait_for_function("() => window.musterApp && window.musterApp.book.ready")
    cached = page.evaluate(
        "caches.keys().then(async (names) => (await (await caches.open(names[0])).keys()).map((r) => new URL(r.url).pathname))"
    )
    assert "/vendor/zxing-wasm/zxing_reader.wasm" in cached and "/app/" in cached

    context.set_offline(True)
    page.reload()
    page.wait_for_function("() => window.musterApp && window.musterApp.book.ready")
    page.wait_for_function("() => document.querySelector('#online').dataset.state === 'offline'")
    wedge(page, venue.tickets[0]["secret"])
    page.wait_for_selector("#answer.ok")
    assert page.inner_text("#answer-note") == "Decided offline"
    context.set_offline(False)
    page.wait_for_function(
        "() => document.querySelector('#queue').dataset.scans === '0'", timeout=30_000
    )
    context.close()


def test_display_js_opens_what_display_py_seals(live_server: LiveServer, browser: Any) -> None:
    from checkin.display import seal
    from checkin.secrets import generate_key
    from server.features.issuance import ticket_code

    key = generate_key(1)
    secret = Signer(1, key.private).sign(TicketClaims(7, 42, 3, 1, None, None, 1))
    other = Signer(1, key.private).sign(TicketClaims(7, 43, 3, 1, None, None, 1))
    box = seal(secret, {"name": "王伟 Wang Wei"})
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/app/")
    found = page.evaluate(
        """async ([secret, other, box, ids]) => {
          const m = await import("/app/display.js");
          return [await m.openBox(secret, box), await m.openBox(secret.toLowerCase(), box),
                  await m.openBox(other, box), ids.map(m.ticketCode),
                  ids.map((i) => m.ticketIdOfCode(m.ticketCode(i))), m.ticketIdOfCode("NOT-A-CODE")];
        }""",
        [secret, other, box, [1, 31, 32, 42, 1_000_000, 2**40]],
    )
    ids = [1, 31, 32, 42, 1_000_000, 2**40]
    assert found[0] == found[1] == {"name": "王伟 Wang Wei"}
    assert found[2] is None  # another ticket's code opens nothing
    assert found[3] == [ticket_code(i) for i in ids]
    assert found[4] == ids and found[5] is None
    page.close()


def test_walkin_js_checks_a_person_as_walk_in_rules_py(
    live_server: LiveServer, browser: Any
) -> None:
    """``checkContact`` (pwa/app/walkin.js) and ``contact_problem`` agree."""
    from server.features.walk_in_rules import contact_problem

    people = [
        (name, email, phone)
        for name in ("", "  ", "陈静")
        for email in ("", "chen@example.com", "chen example.com", "no-at", " a@b ")
        for phone in ("", "+86 136 5555 0101", "abc", "  ")
    ]
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/app/")
    found = page.evaluate(
        """async (people) => {
          const m = await import("/app/walkin.js");
          return people.map(([name, email, phone]) => m.checkContact(name, email, phone));
        }""",
        people,
    )
    assert found == [contact_problem(*person) for person in people]
    assert set(found) == {None, "name_empty", "contact_required", "email_invalid", "phone_invalid"}
    page.close()
