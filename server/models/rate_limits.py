"""Counters of the rate limits, shared by every server process."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base


class RateCounter(Base):
    """How many attempts of one kind one client made in one fixed window.

    One row per (limit, client, window), counted up by one upsert per attempt
    (``server.rate_limits``); rows of windows that have passed are deleted.
    The database is the one place every ``muster serve`` process shares, so
    a client that spreads its guesses over several processes meets one limit.
    """

    __tablename__ = "rate_counters"

    #: Which limit: "auth_failures", "pairing_claims".
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: Who: the client's address.
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The window's first second (Unix time, a multiple of the window's length).
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
