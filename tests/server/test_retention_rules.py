"""The pure retention rules: when an event is due, the lease, what a payload keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.features.retention_rules import (
    ERASED_MARK,
    SHRED_LEASE,
    STOCK_CODE_KEYS,
    EventClock,
    due_events,
    mentions,
    redact,
    redact_json,
    reminder,
    scrub,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def clock(ended_days_ago: float, days: int | None = None, **kw) -> EventClock:
    return EventClock(
        kw.pop("event_id", 1), NOW - timedelta(days=ended_days_ago), days,
        kw.pop("shredded_at", None), kw.pop("claimed_at", None),
    )  # fmt: skip


def test_an_event_is_due_once_its_retention_has_passed():
    assert due_events([clock(29)], NOW, 30) == []
    assert due_events([clock(30)], NOW, 30) == [1]
    # Its own retention beats the default, both ways.
    assert due_events([clock(5, days=3)], NOW, 30) == [1]
    assert due_events([clock(40, days=90)], NOW, 30) == []
    assert due_events([clock(0, days=0)], NOW, 30) == [1]


def test_a_shredded_event_is_never_due_and_a_live_claim_is_left_alone():
    assert due_events([clock(40, shredded_at=NOW)], NOW, 30) == []
    assert due_events([clock(40, claimed_at=NOW - timedelta(minutes=1))], NOW, 30) == []
    # A claim left by a process that died is taken over once the lease ran out.
    assert due_events([clock(40, claimed_at=NOW - SHRED_LEASE)], NOW, 30) == [1]


def test_the_reminder_says_when_and_how_soon():
    shown = reminder(clock(28), NOW, 30)
    assert shown["effective_days"] == 30 and shown["retention_days"] is None
    assert shown["due_at"] == NOW + timedelta(days=2) and shown["due_in_days"] == 2.0


def test_scrub_keeps_codes_ids_and_times_and_blanks_every_other_string():
    answer = {
        "status": "error",
        "reason": "already_inside",
        "ticket": {"id": 7, "holder_name": "欧阳娜娜", "code": "K7Q2", "type_name": "VIP"},
        "scanned_at": "2026-12-01T09:00:00+00:00",
        "offline": False,
        "notes": ["call 138 0013 8000"],
    }
    assert scrub(answer) == {
        "status": "error",
        "reason": "already_inside",
        "ticket": {"id": 7, "holder_name": "", "code": "K7Q2", "type_name": ""},
        "scanned_at": "2026-12-01T09:00:00+00:00",
        "offline": False,
        "notes": [""],
    }
    assert scrub(scrub(answer)) == scrub(answer)  # idempotent: a resumed shred changes nothing
    assert scrub({"reason": "given to 王伟"}, codes=STOCK_CODE_KEYS) == {"reason": ""}


def test_redact_replaces_the_name_wherever_it_is_and_keeps_the_rest():
    text = "Margarethe QUIST fainted; margarethe quist's friend called"
    assert redact(text, ["Margarethe Quist"]) == (
        f"{ERASED_MARK} fainted; {ERASED_MARK}'s friend called"
    )
    assert redact("欧阳娜娜晕倒了", ["欧阳娜娜", ""]) == f"{ERASED_MARK}晕倒了"
    assert redact("nothing here", ["x"]) == "nothing here"  # one letter is no name
    assert mentions("mail nana@example.com", ["NANA@example.com"])
    assert redact_json({"a": ["王伟 here", 3]}, ["王伟"]) == {"a": [f"{ERASED_MARK} here", 3]}
