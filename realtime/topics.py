"""The topics of an event, who may subscribe to which, and where snapshots come from.

State topics (``headcount``, ``gates``, ``stock``) are a snapshot and then
coalesced updates, each a whole new snapshot. Stream topics (``incidents``,
``alerts``, ``admissions``, ``revocations``, ``broadcasts``, ``annulments``,
``tasks``)
are every message in order, with offsets that are database ids, so they can
be replayed.

Snapshots come from providers, one per topic, that the app factory hands the
hub (``server.app.TOPIC_PROVIDERS``): the hub knows nothing of headcounts or
stock. A topic the hub was given no provider for is refused clearly at
subscribe time (``topic_unavailable``) instead of breaking the hub.
"""

from __future__ import annotations

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
#: Messages for the hubs themselves, never sent to a socket: ``roster`` says a
#: roster member or a shift changed (``server.features.staff``), and each hub reads
#: the audience facts of that event's open sockets again (``Hub.on_rows``).
ROSTER = "roster"
HUB_TOPICS = (ROSTER,)
#: The topics carried by ``bus_messages`` rows (``realtime.outbox``, read by
#: ``realtime.tables.BusMessages``). Admissions and revocations are read
#: straight from the ``scans`` and ``revocations`` tables instead; an
#: annulment changes a scan row already read, so it is a message here
#: (written by ``checkin.annul.annul`` in the annulling transaction).
MESSAGE_TOPICS = ("incidents", "alerts", "broadcasts", "annulments", "tasks", *HUB_TOPICS)
#: Stream topics whose messages go to some sockets only: each message names
#: its audience (``server.features.broadcast_rules``), and the hub's fan-out and replay
#: of these topics check it per socket. The others' fan-out checks nothing.
#: ``tasks`` names its team and person the same way (``server.features.tasks``).
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

#: Makes the snapshot of one topic of one event.
Provider = Callable[[Database, int], Awaitable[dict[str, Any]]]
