"""What both databases can hold: bounded field types for request bodies.

Anything a column would refuse must be refused at the edge, before it joins
a batch (a door line batch or an offline sync shares one statement with
other people's scans): PostgreSQL's text holds no NUL byte, its integers
are 64-bit, and a time must convert to UTC (Python's calendar ends at 9999;
``9999-12-31T23:59-01:00`` does not fit). Lone surrogates never get this
far: the JSON parser refuses them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

#: The range of a 64-bit signed integer (``bigint``, SQLite's INTEGER).
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1

#: An id as the database holds it; an id out of this range names nothing.
DbInt = Annotated[int, Field(ge=MIN_INT, le=MAX_INT)]

#: The largest count a body may give: a zone's capacity, a stock quantity or
#: threshold, a movement. Their columns are 32-bit ``integer`` on PostgreSQL
#: (2^31 - 1), and a billion leaves room for the sums kept beside them (an
#: item's quantity after a receive is checked against it too, not left to
#: overflow).
MAX_COUNT = 1_000_000_000

#: A count of people or things: 0 to ``MAX_COUNT``.
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


def storable(text: str) -> bool:
    """Whether a text column can hold ``text`` (PostgreSQL refuses NUL bytes)."""
    return "\x00" not in text


def fits_int(value: int) -> bool:
    return MIN_INT <= value <= MAX_INT


def _no_nul(text: str) -> str:
    if not storable(text):
        raise ValueError("text must not contain NUL bytes")
    return text


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None


#: Text without NUL bytes (bound its length with ``Field(max_length=…)``).
Text = Annotated[str, AfterValidator(_no_nul)]

#: A time with an offset, given back in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]

#: The span a ticket's times must lie in: its secret holds them as seconds
#: since 1970 in 32 bits (``checkin/secrets.py``, good until 2106), and
#: issuing widens an event's span by hours either way. An event of the year
#: 1 or 9999 was stored, and then every ticket issued for it was a 500.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _ticket_time(moment: datetime) -> datetime:
    if not EARLIEST <= _in_utc(moment) < LATEST:
        raise ValueError("the time must be in the years 2000 to 2099")
    return moment


#: A time with an offset within ``EARLIEST``-``LATEST``, kept with its offset
#: (an event's start and end, a ticket type's validity).
TicketTime = Annotated[AwareDatetime, AfterValidator(_ticket_time)]
