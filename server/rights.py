"""What each role sees of personal data.

Roles (DESIGN.md "Privacy and rights"): ``organiser`` does everything;
``command`` reads everything and runs the day; ``door`` admits at its gate
and looks people up by name; ``staff`` report incidents, move stock, do
tasks and account people at an assembly point.

An email or a phone number is for ``CONTACT_READERS``; a ticket's secret
(its QR: whoever holds it gets in) for ``SECRET_READERS``.
"""

from __future__ import annotations

from typing import Any

from server.auth import ORGANISER, READERS
from server.models import Ticket
from server.serialize import door_ticket_json, ticket_json

#: Who reads contact data: attendees' emails, staff phone numbers.
CONTACT_READERS = READERS
#: Who reads ticket secrets (the QR itself: whoever holds it gets in).
SECRET_READERS = frozenset({ORGANISER})

#: Keys of an answer that carry personal data, and who may see them filled.
PERSONAL_FIELDS: dict[str, frozenset[str]] = {
    "holder_email": CONTACT_READERS,
    "email": CONTACT_READERS,
    "phone": CONTACT_READERS,
    "secret": SECRET_READERS,
}


def ticket_view(ticket: Ticket, role: str) -> dict[str, Any]:
    """A ticket as ``role`` may see it: a door what admitting needs, command
    the holder's contact too, the organiser also the secret."""
    if role not in CONTACT_READERS:
        return door_ticket_json(ticket)
    return ticket_json(ticket, with_secret=role in SECRET_READERS)
