"""The topics of an event, who may subscribe to which, and where snapshots come from.

State topics (``headcount``, ``gates``, ``stock``) are a snapshot and then
coalesced updates, each a whole new snapshot. Stream topics (``incidents``,
``alerts``, ``admissions``, ``revocations``, ``broadcasts``, ``annulments``,
``tasks``)
are every message in order, with offsets that are database ids, so they can
be replayed.

Snapshots come from providers registered by topic: the hub knows nothing of
headcounts or stock. A provider is named by module and function and
imported on first use, so a topic whose module is missing (a part not
installed yet) is refused clearly at subscribe time instead of breaking the
hub.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from server.auth import COMMAND, DOOR, ORGANISER, STAFF
from server.db import Database

STATE_TOPICS = ("headcount", "gates", "stock", "evacuation")
STREAM_TOPICS = (
    "incidents",
    "alerts",
    "admissions",
    "revocations",
    "broadcasts",
    "annulments",
    "tasks",
)
TOPICS = STATE_TOPICS + STREAM_TOPICS
#: The stream topics carried by ``bus_messages`` rows (``realtime.outbox``,
#: read by ``realtime.bus.BusMessages``). Admissions and revocations are read
#: straight from the ``scans`` and ``revocations`` tables instead; an
#: annulment changes a scan row already read, so it is a message here
#: (written by ``checkin.admission.annul`` on its own connection).
MESSAGE_TOPICS = ("incidents", "alerts", "broadcasts", "annulments", "tasks")
#: Stream topics whose messages go to some sockets only: each message names
#: its audience (``server.broadcast_rules``), and the hub's fan-out and replay
#: of these topics check it per socket. The others' fan-out checks nothing.
#: ``tasks`` names its team and person the same way (``server.tasks``).
AUDIENCE_TOPICS = ("broadcasts", "tasks")

#: Which roles may subscribe to which topics. Door phones see the doors'
#: picture (and the alerts about their conflicts); floor staff see incidents
#: and stock; the command centre and organisers see everything.
TOPIC_ROLES: dict[str, frozenset[str]] = {
    "headcount": frozenset({ORGANISER, COMMAND, DOOR, STAFF}),
    "gates": frozenset({ORGANISER, COMMAND, DOOR}),
    "stock": frozenset({ORGANISER, COMMAND, STAFF}),
    # Every phone of the event: an evacuation goes to all of them at once.
    "evacuation": frozenset({ORGANISER, COMMAND, DOOR, STAFF}),
    "incidents": frozenset({ORGANISER, COMMAND, STAFF}),
    "alerts": frozenset({ORGANISER, COMMAND, DOOR, STAFF}),
    "admissions": frozenset({ORGANISER, COMMAND, DOOR}),
    "revocations": frozenset({ORGANISER, COMMAND, DOOR}),
    # Every phone, each given only what its audience includes (realtime.hub).
    "broadcasts": frozenset({ORGANISER, COMMAND, DOOR, STAFF}),
    # Every phone, each given its person's and its team's tasks (realtime.hub).
    "tasks": frozenset({ORGANISER, COMMAND, DOOR, STAFF}),
    "annulments": frozenset({ORGANISER, COMMAND, DOOR}),
}

Provider = Callable[[Database, int], Awaitable[dict[str, Any]]]


class TopicUnavailable(Exception):
    """The module that makes this topic's snapshots is not there."""


#: topic -> "module:function" of its snapshot provider.
PROVIDERS: dict[str, str] = {
    "headcount": "server.headcount:headcount_snapshot",
    "gates": "realtime.gates:gates_snapshot",
    "stock": "server.stock:stock_snapshot",
    "evacuation": "server.evacuations:evacuation_snapshot",
    "incidents": "server.incidents:incidents_snapshot",
    "alerts": "realtime.snapshots:alerts_snapshot",
    "admissions": "realtime.snapshots:admissions_snapshot",
    "revocations": "realtime.snapshots:revocations_snapshot",
    "broadcasts": "server.broadcasts:broadcasts_snapshot",
    "tasks": "server.tasks:tasks_snapshot",
    "annulments": "realtime.snapshots:annulments_snapshot",
}

_loaded: dict[str, Provider] = {}


def register(topic: str, provider: Provider) -> None:
    """Use ``provider`` for ``topic``'s snapshots (tests and plug-ins)."""
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}")
    _loaded[topic] = provider


def provider(topic: str) -> Provider:
    """The snapshot provider of a topic; raises TopicUnavailable when it cannot be loaded."""
    found = _loaded.get(topic)
    if found is not None:
        return found
    spec = PROVIDERS[topic]
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TopicUnavailable(f"The {topic} topic is not available: {exc}") from None
    function = getattr(module, name, None)
    if function is None:
        raise TopicUnavailable(f"The {topic} topic is not available: no {spec}.")
    _loaded[topic] = function
    return function  # type: ignore[no-any-return]


def available(topic: str) -> bool:
    try:
        provider(topic)
    except TopicUnavailable:
        return False
    return True
