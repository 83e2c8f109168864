"""What every request handler reaches through ``request.app.state.muster``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from starlette.requests import HTTPConnection

from server.auth import TokenVerifier
from server.db import Database
from server.rate_limits import RateLimiter
from server.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Slot(Generic[T]):
    """The key of one long-lived part in ``Muster.parts``, defined once beside
    the part it holds (``server.features.keys.KEYS``, ``realtime.hub.HUB``,
    ``server.features.mail_sender.MAIL``…),
    so whoever reads the part gets its type and no name is spelled twice."""

    name: str


@dataclass
class Muster:
    settings: Settings
    db: Database
    tokens: TokenVerifier
    #: Long-lived parts added by other packages, by their ``Slot``: read them
    #: with ``part``; ``keep`` one for the context's life (the key store, kept
    #: by whoever makes the context and holds the KEK; ``checkin.venue.VENUES``
    #: and ``checkin.admission.DOOR_LINES``, made on first use), ``holding``
    #: one for an app part's lifetime (the realtime hub, background tasks).
    parts: dict[Slot[Any], Any] = field(default_factory=dict)
    #: Called with (event_id, topics) after a transaction that changed those
    #: topics has committed; the realtime hub listens here.
    listeners: list[Callable[[int, tuple[str, ...]], None]] = field(default_factory=list)
    #: Failed authentications, pairing claims, door look-ups (``server.rate_limits``).
    limits: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limits = RateLimiter(
            self.db,
            auth_failures=self.settings.auth_failures_per_minute,
            pairing_claims=self.settings.pairing_claims_per_minute,
            door_lookups=self.settings.door_lookups_per_minute,
        )

    def part(self, slot: Slot[T]) -> T | None:
        """The part held in ``slot``, or None while it is not running."""
        return cast("T | None", self.parts.get(slot))

    def keep(self, slot: Slot[T], part: T) -> T:
        """Keep ``part`` in ``slot`` for the context's life; returns it."""
        self.parts[slot] = part
        return part

    @contextlib.contextmanager
    def holding(self, slot: Slot[T], part: T) -> Iterator[T]:
        """Hold ``part`` in ``slot`` for the block (an app part's lifetime)."""
        self.parts[slot] = part
        try:
            yield part
        finally:
            self.parts.pop(slot, None)

    def changed(self, event_id: int, *topics: str) -> None:
        """Say that committed data of ``topics`` of an event changed.

        Cheap and synchronous (an in-memory mark): call it after every commit
        that changes what a topic shows, however often.
        """
        for listener in self.listeners:
            listener(event_id, topics)


def muster(conn: HTTPConnection) -> Muster:
    ctx: Muster = conn.app.state.muster
    return ctx
