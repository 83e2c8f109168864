"""What every request handler reaches through ``request.app.state.muster``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

from server.auth import TokenVerifier
from server.db import Database
from server.rate_limits import RateLimiter
from server.settings import Settings

if TYPE_CHECKING:
    from server.keys import KeyStore


@dataclass
class Muster:
    settings: Settings
    db: Database
    tokens: TokenVerifier
    keys: KeyStore
    #: Long-lived parts added by other packages (the realtime hub, background
    #: tasks), by name.
    parts: dict[str, Any] = field(default_factory=dict)
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
