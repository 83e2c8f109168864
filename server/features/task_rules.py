"""The task board's rules, pure: status transitions, overdue, run-sheet times,
which steps a new checklist keeps.

``transition`` is the one place that decides whether a task may move from
one status to another; the service (``server.features.tasks``) calls it for every
change, online or replayed from a phone's offline queue. ``overdue`` decides
the ``task_overdue`` alert; the clock (``server.features.tasks.check_overdue_tasks``)
claims each one once across processes, like incident escalation.

The phone ticks steps offline and shows the same statuses; it never moves a
status itself without the server (pwa/app/tasks.js sends the change and
shows the server's answer), so this rule has no JavaScript copy.
"""

from __future__ import annotations

from datetime import datetime, timedelta

TODO, DOING, DONE, BLOCKED = "todo", "doing", "done", "blocked"
STATUSES = (TODO, DOING, DONE, BLOCKED)
#: Statuses in which a task still has to be done (and so can be overdue).
OPEN_STATUSES = (TODO, DOING, BLOCKED)
PRIORITIES = ("low", "normal", "high")

#: Stable refusal codes of a status change.
BAD_TRANSITION = "task_bad_transition"
REASON_NEEDED = "task_blocked_needs_reason"

#: Where each status may go. ``todo → doing → done`` is the day's path; any
#: open task may be ``blocked`` (with a reason) and unblocked back to where
#: work resumes; a task done by mistake is reopened to ``doing``. Skipping
#: ``doing`` (``todo → done``) is allowed: a two-minute task is ticked done.
_NEXT: dict[str, frozenset[str]] = {
    TODO: frozenset({DOING, DONE, BLOCKED}),
    DOING: frozenset({TODO, DONE, BLOCKED}),
    BLOCKED: frozenset({TODO, DOING}),
    DONE: frozenset({DOING}),
}


def transition(current: str, target: str, reason: str = "") -> str | None:
    """Why ``current → target`` is refused (a stable code), or None when allowed.

    The same status again is allowed and changes nothing (a phone's queue
    resending a change another phone already made); ``blocked`` needs a
    reason.
    """
    if target not in STATUSES or current not in STATUSES:
        return BAD_TRANSITION
    if target == BLOCKED and not reason.strip():
        return REASON_NEEDED
    if target == current:
        return None
    if target not in _NEXT[current]:
        return BAD_TRANSITION
    return None


def overdue(status: str, due_at: datetime | None, alerted: bool, now: datetime) -> bool:
    """Whether a ``task_overdue`` alert is due for a task now.

    Only an open task past its due time, and only once per due time: the
    claim stores ``overdue_alerted_at``, and moving the due time clears it.
    """
    return status in OPEN_STATUSES and due_at is not None and not alerted and now >= due_at


#: How long before its due time a task reminds the phones of its owner; the
#: phone decides the same from the list it holds (pwa/app/tasks.js DUE_SOON_MS,
#: dueSoon), so a reminder comes with no network too.
REMIND_BEFORE = timedelta(minutes=15)


def due_soon(status: str, due_at: datetime | None, reminded: bool, now: datetime) -> bool:
    """Whether the due-soon reminder is to be pushed to a task's phones now.

    An open task due within ``REMIND_BEFORE`` and not yet past due (then it is
    overdue, the command centre's alert), once per due time: the claim stores
    ``reminded_at``, and moving the due time clears it.
    """
    return (
        status in OPEN_STATUSES
        and due_at is not None
        and not reminded
        and now < due_at <= now + REMIND_BEFORE
    )


ON_TIME, LATE, NOT_DONE = "on_time", "late", "not_done"


def outcome(status: str, due_at: datetime | None, done_at: datetime | None) -> str:
    """How a task ended, for the post-event review: done by its due time (or
    with none), done after it, or not done."""
    if status != DONE or done_at is None:
        return NOT_DONE
    return LATE if due_at is not None and done_at > due_at else ON_TIME


def due_from(doors_open: datetime, offset_minutes: int) -> datetime:
    """A run-sheet item's due time: its offset (T−120 is -120) from doors-open."""
    return doors_open + timedelta(minutes=offset_minutes)


def parse_offset(text: str) -> int | None:
    """Minutes from a run sheet's cell: "-120", "T-120", "T−30" (a minus sign),
    "T+15", "T0", "120"; None when it is none of these."""
    cleaned = text.strip().replace("\u2212", "-").replace(" ", "")
    if cleaned[:1] in ("T", "t"):
        cleaned = cleaned[1:]
    if cleaned in ("", "+", "-"):
        return 0 if text.strip()[:1] in ("T", "t") and cleaned == "" else None
    sign = -1 if cleaned[0] == "-" else 1
    digits = cleaned.lstrip("+-")
    if not digits.isdigit() or len(digits) > 5:
        return None
    return sign * int(digits)


def kept_steps(old: list[str], new: list[str]) -> list[int | None]:
    """For each title of a new checklist, the old step it keeps (its index in
    ``old``, so it keeps its tick) or None for a new step: a title keeps the
    first old step of that title not kept yet; old steps kept by none go."""
    free: dict[str, list[int]] = {}
    for index, title in enumerate(old):
        free.setdefault(title, []).append(index)
    return [free[title].pop(0) if free.get(title) else None for title in new]
