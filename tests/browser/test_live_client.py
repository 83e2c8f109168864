"""The one websocket client of the pages (``pwa/shared/live.js``) against a
real ``muster serve``: refusals (4401 bad token, 4403 no rights, 4404 no
such event) are final — no retry is scheduled and the state says why — a
socket that stays silent past its limit is dropped and resumed from its
positions, and the staff phone shows a refusal in the person's language.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.staff_app import device_token, open_paired_phone, set_up_venue
from tests.servers import LiveServer

pytestmark = pytest.mark.browser

START = """async ([eventId, token, topics, silenceMs]) => {
  const { LiveSocket, socketUrl } = await import("/shared/live.js");
  const states = [];
  const messages = [];
  const socket = new LiveSocket({
    url: socketUrl(eventId), token, topics, silenceMs,
    onMessage: (m) => messages.push(m),
    onState: (s) => states.push(s.name),
  });
  window.probe = { socket, states, messages };
  socket.start();
}"""


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Any:
    context = browser.new_context()
    opened = context.new_page()
    opened.goto(f"{live_server.base_url}/shared/base.css")  # our origin, nothing running
    yield opened
    context.close()


@pytest.mark.parametrize(
    ("who", "event", "state"),
    [
        ("bad token", "own", "refused_token"),
        ("door of another event", "other", "refused_rights"),
        ("organiser", "missing", "no_event"),
    ],
)
def test_refusals_are_final_and_said(
    live_server: LiveServer, page: Any, who: str, event: str, state: str
) -> None:
    venue = set_up_venue(live_server, f"refusal · {who}", tickets=0)
    other = set_up_venue(live_server, f"refusal · other · {who}", tickets=0)
    token = {
        "bad token": "mst_not_a_token",
        "door of another event": device_token(live_server, other, "door"),
        "organiser": live_server.token,
    }[who]
    event_id = {"own": venue.event["id"], "other": venue.event["id"], "missing": 999_999}[event]
    page.evaluate(START, [event_id, token, ["headcount"], 50_000])
    page.wait_for_function(f"() => window.probe.states.includes('{state}')", timeout=10_000)
    found = page.evaluate(
        "({ last: window.probe.socket.state.name, timer: window.probe.socket.retryTimer,"
        " socket: window.probe.socket.socket, refused: window.probe.socket.refused,"
        " close: window.probe.socket.lastClose })"
    )
    # Nothing scheduled: the client gave up for good, and says so.
    assert found == {
        "last": state,
        "timer": None,
        "socket": None,
        "refused": True,
        "close": {"refused_token": 4401, "refused_rights": 4403, "no_event": 4404}[state],
    }
    page.evaluate("window.probe.socket.reconnectNow()")  # an "online" event: still nothing
    assert page.evaluate("window.probe.socket.socket") is None


def test_a_silent_socket_is_dropped_and_resumed_from_its_positions(
    live_server: LiveServer, page: Any
) -> None:
    venue = set_up_venue(live_server, "silence", tickets=0)
    hellos: list[dict[str, Any]] = []

    def watch(ws: Any) -> None:
        ws.on(
            "framesent",
            lambda payload: (
                hellos.append(json.loads(payload)) if '"hello"' in str(payload) else None
            ),
        )

    page.on("websocket", watch)
    # The server pings every 20 s; a client that trusts silence for 1.5 s drops first.
    page.evaluate(START, [venue.event["id"], live_server.token, ["headcount", "alerts"], 1500])
    page.wait_for_function("() => window.probe.states.includes('live')")
    page.wait_for_function("() => window.probe.messages.some((m) => m.topic === 'alerts')")
    page.wait_for_function(
        "() => window.probe.states.filter((s) => s === 'live').length >= 2", timeout=15_000
    )
    assert page.evaluate("window.probe.socket.lastClose") == 4000  # dropped by the client
    states = page.evaluate("window.probe.states")
    assert states.index("reconnecting") > states.index("live")
    assert len(hellos) >= 2
    first, again = hellos[0], hellos[1]
    assert first["since"] == {}
    positions = page.evaluate("window.probe.socket.positions")
    assert again["since"]["alerts"]["epoch"] == positions["alerts"]["epoch"]
    assert set(again["since"]) == {"headcount", "alerts"}


@pytest.mark.parametrize(
    ("locale", "text"),
    [("zh-CN", "服务器拒绝了本机对此活动的权限"), ("en-GB", "no longer gives this phone rights")],
)
def test_the_phone_says_why_the_server_refused_it(
    live_server: LiveServer, browser: Any, locale: str, text: str
) -> None:
    venue = set_up_venue(live_server, f"phone refusal {locale}", tickets=0)
    other = set_up_venue(live_server, f"phone refusal other {locale}", tickets=0)
    context, page = open_paired_phone(browser, live_server, venue, "door", locale=locale)
    assert page.is_hidden("#notice")
    # The phone's socket asks for an event its token has no rights to (as
    # after the organiser moved the phone's account off this event).
    page.evaluate(
        """(eventId) => {
          const live = window.musterApp.live;
          live.url = live.url.replace(/\\/ws\\/events\\/\\d+/, `/ws/events/${eventId}`);
          live.drop();
        }""",
        other.event["id"],
    )
    page.wait_for_selector("#notice:not(.hidden)")
    assert text in page.inner_text("#notice")
    assert page.evaluate("window.musterApp.live.lastClose") == 4403
    assert page.evaluate("window.musterApp.live.retryTimer") is None
    context.close()
