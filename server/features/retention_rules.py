"""What personal data Muster holds, when an event's is due to go, and what it becomes.

Pure decisions, no I/O: ``server/features/retention.py`` reads and writes around them.

Where personal data lives (the inventory the shred and the erasure walk; a
new table or column that holds any must be added here, and
``tests/server/test_retention.py`` searches every table for seeded values):

=====================  ===========================================  ==========
table                  columns                                      becomes
=====================  ===========================================  ==========
tickets                holder_name, holder_email, language          ""
tickets                secret (the QR)                              retired
scans                  response (the answer: holder name)           scrubbed
incidents              title, description, location_text,           "" (title:
                       equipment_tag, reporter_name, assignee_name  category)
incident_log           actor_name, text; data (title…)              "", scrubbed
incident_photos        data (the JPEG)                              deleted
stock_movements        reason, actor_name; response                 "", scrubbed
alerts                 data (names, titles: the alert's parameters)  scrubbed
bus_messages           payload (live copies of all of the above)    deleted
mail_deliveries        smtp_reply (may quote the address)           ""
revocations            reason (free text)                           ""
evacuations            message (free text)                          ""
evacuation_people      name                                         ""
evacuation_accounts    response                                     scrubbed
accounts               name (device and staff names) of the event   ""
pairing_codes          device_name                                  ""
staff                  name, phone (the roster's contact data)      "", NULL
broadcasts             text_zh, text_en (free text: may name people) ""
tasks                  description, blocked_reason (free text)      ""
task_steps             done_by_name (who ticked it)                 ""
task_changes           changes, response (the texts sent)           scrubbed
run_sheet_items        description (free text)                      ""
walk_ins               holder_name, holder_email, holder_phone,     ""
                       language (a walk-in registered at a door)
=====================  ===========================================  ==========

Kept: ids, times, gates, zones, directions, statuses, reason codes,
categories, severities, quantities, ticket codes (a short lookup code, not
a person) and the event's own names — everything the post-event report and
the exports of figures are made of, so they read the same after the shred.
A ticket's ``checked_in_at`` and ``zone_id`` stay for the same reason.

The roster keeps its teams, roles, zones and duty shifts (ids and times).
Broadcasts keep their priority, audience, plan and acknowledgement times
(ids and times: the review's acknowledgement figures). Tasks keep their
titles, teams, people (ids), zones, statuses and times (the review's tasks
on time, late and not done by team); a step keeps who ticked it by id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

#: The ticket status a shredded (or erased) ticket gets: its secret is
#: replaced, and an old QR of it is refused with reason ``retired``
#: (``checkin.rules.RETIRED``).
RETIRED_STATUS = "retired"

#: Prefix of the value a retired ticket's secret column holds: unique per
#: ticket (the column is unique), never a signed secret, never upper case
#: (the ticket page looks secrets up upper-cased, so no page shows it).
RETIRED_SECRET_PREFIX = "retired:"

#: How long a claimed shred is left to the process that claimed it before
#: another may take it over (a process that died mid-shred): every step is
#: idempotent, so a takeover redoes the steps and ends in the same state.
SHRED_LEASE = timedelta(minutes=10)

#: In a JSON payload (a stored scan answer, an alert's data, a bus message)
#: strings under these keys are codes or times, never a person's words;
#: every other string is blanked. A whitelist, so a new field that holds a
#: name is scrubbed before anyone thinks of it.
CODE_KEYS = frozenset(
    {
        "status",
        "reason",
        "local_reason",
        "local_status",
        "direction",
        "severity",
        "category",
        "kind",
        "action",
        "divergence",
        "topic",
        "type",
        "code",
        "language",
        "error_code",
        "note",
    }
)


@dataclass(frozen=True)
class EventClock:
    """What the due rule needs to know of an event."""

    event_id: int
    ends_at: datetime
    #: None: the server's default (``MUSTER_RETENTION_DAYS``).
    retention_days: int | None
    shredded_at: datetime | None
    shred_claimed_at: datetime | None


def retention_of(event: EventClock, default_days: int) -> int:
    return default_days if event.retention_days is None else event.retention_days


def shred_due_at(event: EventClock, default_days: int) -> datetime:
    """When the event's personal data is due to go: its end plus the retention."""
    return event.ends_at + timedelta(days=retention_of(event, default_days))


def claimable(event: EventClock, now: datetime) -> bool:
    """Not shredded, and nobody holds a live claim on it."""
    if event.shredded_at is not None:
        return False
    return event.shred_claimed_at is None or event.shred_claimed_at <= now - SHRED_LEASE


def due_events(events: Iterable[EventClock], now: datetime, default_days: int) -> list[int]:
    """The ids of the events whose shred should start (or be taken over) now."""
    return [
        e.event_id for e in events if claimable(e, now) and shred_due_at(e, default_days) <= now
    ]


def reminder(event: EventClock, now: datetime, default_days: int) -> dict[str, Any]:
    """What the console shows of the policy: the days, when it runs, how soon."""
    due = shred_due_at(event, default_days)
    return {
        "retention_days": event.retention_days,
        "default_days": default_days,
        "effective_days": retention_of(event, default_days),
        "due_at": due,
        "due_in_days": round((due - now).total_seconds() / 86400, 1),
        "shredded_at": event.shredded_at,
    }


#: The stock ledger's ``reason`` is a person's words ("given to …"), not a code.
STOCK_CODE_KEYS = CODE_KEYS - {"reason"}


def scrub(value: Any, key: str | None = None, codes: frozenset[str] = CODE_KEYS) -> Any:
    """A JSON value with every string that may hold a person's words blanked.

    Numbers, booleans and nulls are kept (ids, counts, flags); strings are
    kept only under the keys of ``CODE_KEYS`` and keys naming a time
    (``*_at``, ``at``, ``from``, ``until``).
    """
    if isinstance(value, dict):
        return {k: scrub(v, k, codes) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, key, codes) for v in value]
    if isinstance(value, str):
        if key is not None and (key in codes or _names_a_time(key)):
            return value
        return ""
    return value


def _names_a_time(key: str) -> bool:
    return key == "at" or key.endswith("_at") or key in ("from", "until", "since")


def redact(text: str, needles: Iterable[str]) -> str:
    """``text`` with every occurrence of the needles (a person's name, email,
    phone…) replaced by a mark, case-insensitively; the rest of the text is
    kept (an incident note stays useful without the name in it)."""
    out = text
    for needle in sorted({n for n in needles if len(n.strip()) >= 2}, key=len, reverse=True):
        out = _replace_folded(out, needle.strip(), ERASED_MARK)
    return out


#: What an erased name becomes inside a kept text.
ERASED_MARK = "[erased]"


def _replace_folded(text: str, needle: str, mark: str) -> str:
    folded, target = text.casefold(), needle.casefold()
    if len(folded) != len(text):  # casefold changed lengths (ß…): exact match only
        return text.replace(needle, mark)
    pieces, start = [], 0
    while (found := folded.find(target, start)) >= 0:
        pieces.append(text[start:found])
        pieces.append(mark)
        start = found + len(target)
    pieces.append(text[start:])
    return "".join(pieces)


def redact_json(value: Any, needles: Iterable[str]) -> Any:
    """A JSON value with the needles redacted from every string in it."""
    kept = list(needles)
    if isinstance(value, dict):
        return {k: redact_json(v, kept) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, kept) for v in value]
    if isinstance(value, str):
        return redact(value, kept)
    return value


def mentions(text: str, needles: Iterable[str]) -> bool:
    """True when ``text`` names one of the needles (as ``redact`` would find it)."""
    return redact(text, needles) != text
