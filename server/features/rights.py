"""Who may call what, and what each role sees of personal data.

Roles (DESIGN.md "Privacy and rights"): ``organiser`` does everything;
``command`` reads everything and runs the day; ``door`` admits at its gate
and looks people up by name; ``staff`` report incidents, move stock, do
tasks and account people at an assembly point.

``ROUTE_ROLES`` is the role × route table: for every operation of the HTTP
API, the roles that may call it; a token of another event never may, except
on the few ``UNSCOPED`` operations that answer about the caller itself.
Each route checks its roles beside its own code (``server.auth.authorize``);
this table is what they must agree with: ``tests/server/test_role_table.py``
calls every operation ``/openapi.json`` lists as every role, as another
event's token and with no token, on both databases, and fails on any
answer that disagrees and on an operation missing here. A new route needs
one line here. The websocket's topics have their own table,
``realtime.topics.TOPIC_ROLES``. docs/rights.md is the table for people.

An email or a phone number is for ``CONTACT_READERS``; a ticket's secret
(its QR: whoever holds it gets in) for ``SECRET_READERS``; the same test
looks for them in every answer to every other role.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.auth import COMMAND, DOOR, EVERYONE, OPERATORS, ORGANISER, READERS, SCANNERS, STAFF
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


ORGANISER_ONLY = frozenset({ORGANISER})

#: Routes that need no token: a phone pairing, a load balancer probing.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {("POST", "/api/v1/devices/pair"), ("GET", "/healthz"), ("GET", "/readyz")}
)

#: Routes that answer about the caller itself, whatever its event: the
#: events it may see, its own device.
UNSCOPED: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/devices/me"),
        ("POST", "/api/v1/devices/me/duty"),
    }
)

#: Roles the route lets in for their own things only (a scan a door made;
#: an incident a door reported or wrote on; one assigned to or reported by
#: a staff member): the route refuses them with 403 on anyone else's.
OWN_ONLY: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/events/{event_id}/scans/{nonce}/annul"): frozenset({DOOR}),
    **{
        (method, "/api/v1/events/{event_id}/incidents/{incident_id}" + tail): frozenset({DOOR})
        for method, tail in (
            ("GET", ""),
            ("POST", "/comments"),
            ("GET", "/photo"),
            ("GET", "/photos/{photo_id}"),
        )
    },
    ("POST", "/api/v1/events/{event_id}/incidents/{incident_id}/resolve"): frozenset({STAFF}),
    ("POST", "/api/v1/events/{event_id}/incidents/{incident_id}/reopen"): frozenset({STAFF}),
    ("POST", "/api/v1/broadcasts/{broadcast_id}/ack"): frozenset({DOOR, STAFF}),
    ("PATCH", "/api/v1/tasks/{task_id}"): frozenset({DOOR, STAFF}),
}

#: Roles the route lets in on a door supervisor's phone only (a roster member
#: with the supervisor flag: ``roster_rules.may_override``): refused with 403
#: ``not_a_supervisor`` otherwise. A supervisor's phone also holds its own
#: blank walk-in tickets (``blank_secret``), nobody's ticket until bound.
SUPERVISORS_ONLY: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/events/{event_id}/walk-ins"): frozenset({DOOR}),
}

#: The event option (``PATCH /api/v1/events/{event}`` ``{"options":
#: {"command_exports": true}}``) by which the organiser lets command export
#: the logs, which name people (attendees, reporters, whoever moved stock),
#: and list the attendees page by page (without it, a look-up of 20).
COMMAND_EXPORTS = "command_exports"


def may_export_personal_data(role: str, options: Mapping[str, Any] | None) -> bool:
    """Whether ``role`` may download an export that names people: the
    organiser always, command where the organiser allows it, nobody else."""
    if role == ORGANISER:
        return True
    return role == COMMAND and (options or {}).get(COMMAND_EXPORTS) is True


#: Roles the route lets in only where the organiser allows it (an event
#: option): refused with 403 ``export_not_allowed`` otherwise.
ORGANISER_ALLOWS: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/api/v1/events/{event_id}/exports/" + name): frozenset({COMMAND})
    for name in ("checkins.csv", "incidents.csv", "stock.csv", "tasks.csv", "broadcasts.csv")
}

_EVENT = "/api/v1/events/{event_id}"
_INCIDENT = _EVENT + "/incidents/{incident_id}"
_EVACUATION = "/api/v1/evacuations/{evacuation_id}"

#: (method, path as the routes declare it) -> the roles that may call it.
ROUTE_ROLES: dict[tuple[str, str], frozenset[str]] = {
    # the door line
    ("POST", _EVENT + "/scans"): SCANNERS,
    ("POST", _EVENT + "/scans/sync"): SCANNERS,
    ("POST", _EVENT + "/scans/{nonce}/annul"): SCANNERS,
    ("GET", _EVENT + "/offline-bundle"): SCANNERS,
    # walk-ins: registered and admitted by a door supervisor's phone
    ("POST", _EVENT + "/walk-ins"): frozenset({DOOR}),
    ("GET", _EVENT + "/headcount"): EVERYONE,
    # the venue: the organiser sets it up, every phone reads it
    ("POST", "/api/v1/events"): ORGANISER_ONLY,
    ("GET", "/api/v1/events"): EVERYONE,
    ("GET", _EVENT): EVERYONE,
    ("PATCH", _EVENT): ORGANISER_ONLY,
    ("POST", _EVENT + "/zones"): ORGANISER_ONLY,
    ("GET", _EVENT + "/zones"): EVERYONE,
    ("PATCH", _EVENT + "/zones/{zone_id}"): ORGANISER_ONLY,
    ("DELETE", _EVENT + "/zones/{zone_id}"): ORGANISER_ONLY,
    ("POST", _EVENT + "/gates"): ORGANISER_ONLY,
    ("GET", _EVENT + "/gates"): EVERYONE,
    ("PATCH", _EVENT + "/gates/{gate_id}"): ORGANISER_ONLY,
    ("DELETE", _EVENT + "/gates/{gate_id}"): ORGANISER_ONLY,
    ("POST", _EVENT + "/ticket-types"): ORGANISER_ONLY,
    ("GET", _EVENT + "/ticket-types"): EVERYONE,
    ("PATCH", _EVENT + "/ticket-types/{type_id}"): ORGANISER_ONLY,
    ("DELETE", _EVENT + "/ticket-types/{type_id}"): ORGANISER_ONLY,
    ("GET", _EVENT + "/keys"): READERS,
    ("POST", _EVENT + "/keys/rotate"): ORGANISER_ONLY,
    # tickets: a door looks up by name (no email, no secret: ticket_view)
    ("POST", _EVENT + "/tickets"): ORGANISER_ONLY,
    ("GET", _EVENT + "/tickets"): SCANNERS,
    ("GET", "/api/v1/tickets/{ticket_id}"): READERS,
    ("GET", "/api/v1/tickets/{ticket_id}/qr.png"): ORGANISER_ONLY,
    ("GET", "/api/v1/tickets/{ticket_id}/qr.svg"): ORGANISER_ONLY,
    ("POST", "/api/v1/tickets/{ticket_id}/revoke"): ORGANISER_ONLY,
    ("POST", _EVENT + "/mailings"): ORGANISER_ONLY,
    ("GET", _EVENT + "/mailings"): ORGANISER_ONLY,
    ("GET", "/api/v1/mailings/{mailing_id}"): ORGANISER_ONLY,
    # phones
    ("POST", _EVENT + "/pairing-codes"): ORGANISER_ONLY,
    ("GET", _EVENT + "/pairing-codes/{pairing_id}/qr.svg"): ORGANISER_ONLY,
    ("GET", _EVENT + "/pairing-codes/{pairing_id}/qr.png"): ORGANISER_ONLY,
    ("GET", "/api/v1/devices/me"): EVERYONE,
    ("GET", _EVENT + "/devices"): READERS,
    ("POST", _EVENT + "/devices/{device_id}/revoke"): ORGANISER_ONLY,
    # every token of every event: an organiser token of every event only
    ("GET", "/api/v1/tokens"): ORGANISER_ONLY,
    ("POST", "/api/v1/tokens/{token_id}/revoke"): ORGANISER_ONLY,
    # the roster: the organiser keeps it, command reads it (phone numbers:
    # contact data); a phone paired to a person starts and ends their shift
    ("GET", _EVENT + "/staff"): READERS,
    ("POST", _EVENT + "/staff"): ORGANISER_ONLY,
    ("GET", _EVENT + "/exports/staff.csv"): ORGANISER_ONLY,
    ("PATCH", "/api/v1/staff/{staff_id}"): ORGANISER_ONLY,
    ("DELETE", "/api/v1/staff/{staff_id}"): ORGANISER_ONLY,
    ("POST", "/api/v1/staff/{staff_id}/pairing-codes"): ORGANISER_ONLY,
    ("POST", "/api/v1/devices/me/duty"): EVERYONE,
    # stock: the floor moves it, the organiser names it
    ("POST", _EVENT + "/stock/items"): ORGANISER_ONLY,
    ("GET", _EVENT + "/stock/items"): OPERATORS,
    ("GET", _EVENT + "/stock/items/{item_id}"): OPERATORS,
    ("PATCH", _EVENT + "/stock/items/{item_id}"): ORGANISER_ONLY,
    ("POST", _EVENT + "/stock/movements"): OPERATORS,
    ("GET", _EVENT + "/stock/movements"): OPERATORS,
    # incidents: anyone reports and comments (a door on its own, and it lists
    # only its own); the floor takes them (incident_rules.may_act)
    ("POST", _EVENT + "/incidents"): EVERYONE,
    ("GET", _EVENT + "/incidents"): EVERYONE,
    ("GET", _INCIDENT): EVERYONE,
    ("POST", _INCIDENT + "/ack"): OPERATORS,
    ("POST", _INCIDENT + "/assign"): OPERATORS,
    ("POST", _INCIDENT + "/resolve"): OPERATORS,
    ("POST", _INCIDENT + "/reopen"): OPERATORS,
    ("POST", _INCIDENT + "/comments"): EVERYONE,
    ("GET", _INCIDENT + "/photo"): EVERYONE,
    ("GET", _INCIDENT + "/photos/{photo_id}"): EVERYONE,
    ("POST", _EVENT + "/plans"): ORGANISER_ONLY,
    ("GET", _EVENT + "/plans"): EVERYONE,
    ("GET", _EVENT + "/plans/{plan_id}"): EVERYONE,
    ("PATCH", _EVENT + "/plans/{plan_id}"): ORGANISER_ONLY,
    # broadcasts: command sends and reads receipts; every phone acknowledges
    # what reaches it (not_in_audience otherwise); a roster phone confirms plans
    ("POST", _EVENT + "/broadcasts"): READERS,
    ("GET", _EVENT + "/broadcasts"): EVERYONE,
    ("GET", "/api/v1/broadcasts/{broadcast_id}"): READERS,
    ("POST", "/api/v1/broadcasts/{broadcast_id}/ack"): EVERYONE,
    ("POST", "/api/v1/broadcasts/{broadcast_id}/resend"): READERS,
    ("POST", "/api/v1/plans/{plan_id}/ack"): EVERYONE,
    # tasks: command plans and runs the board; a phone works on its person's
    # and its team's tasks (not_your_task otherwise; status and steps only)
    ("POST", _EVENT + "/tasks"): READERS,
    ("GET", _EVENT + "/tasks"): EVERYONE,
    ("PATCH", "/api/v1/tasks/{task_id}"): EVERYONE,
    ("POST", _EVENT + "/run-sheets"): READERS,
    ("GET", _EVENT + "/run-sheets"): READERS,
    ("POST", _EVENT + "/run-sheets/check"): READERS,
    ("PATCH", "/api/v1/run-sheets/{run_sheet_id}"): READERS,
    ("DELETE", "/api/v1/run-sheets/{run_sheet_id}"): READERS,
    ("POST", _EVENT + "/run-sheets/{run_sheet_id}/apply"): READERS,
    # evacuation: every phone accounts people (names only; contact for readers)
    ("POST", _EVENT + "/muster-points"): ORGANISER_ONLY,
    ("GET", _EVENT + "/muster-points"): EVERYONE,
    ("PATCH", _EVENT + "/muster-points/{point_id}"): ORGANISER_ONLY,
    ("DELETE", _EVENT + "/muster-points/{point_id}"): ORGANISER_ONLY,
    ("POST", _EVENT + "/evacuations"): READERS,
    ("GET", _EVENT + "/evacuations"): EVERYONE,
    ("GET", _EVACUATION): EVERYONE,
    ("GET", _EVACUATION + "/missing"): EVERYONE,
    ("GET", _EVACUATION + "/people"): EVERYONE,
    # The roll for the fire service: command has it at once, whatever the option.
    ("GET", _EVACUATION + "/people.csv"): READERS,
    ("POST", _EVACUATION + "/accounts"): EVERYONE,
    ("POST", _EVACUATION + "/all-clear"): READERS,
    ("GET", _EVACUATION + "/report"): READERS,
    # the review: the figures for both; the logs that name people for command
    # only where the organiser allows it (ORGANISER_ALLOWS)
    ("GET", _EVENT + "/report"): READERS,
    ("GET", _EVENT + "/exports/checkins.csv"): READERS,
    ("GET", _EVENT + "/exports/incidents.csv"): READERS,
    ("GET", _EVENT + "/exports/stock.csv"): READERS,
    ("GET", _EVENT + "/exports/tasks.csv"): READERS,
    ("GET", _EVENT + "/exports/broadcasts.csv"): READERS,
    # personal data: the organiser's alone
    ("GET", _EVENT + "/retention"): ORGANISER_ONLY,
    ("POST", _EVENT + "/shred"): ORGANISER_ONLY,
    ("GET", _EVENT + "/audit"): ORGANISER_ONLY,
    ("GET", _EVENT + "/exports/personal-data.zip"): ORGANISER_ONLY,
    ("GET", "/api/v1/tickets/{ticket_id}/personal-data"): ORGANISER_ONLY,
    ("POST", "/api/v1/tickets/{ticket_id}/erase"): ORGANISER_ONLY,
    # alerts: every phone reads them, the command centre acknowledges
    ("GET", _EVENT + "/alerts"): EVERYONE,
    ("POST", _EVENT + "/alerts/{alert_id}/ack"): READERS,
}
