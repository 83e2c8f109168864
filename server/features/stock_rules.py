"""Stock's rules, pure: an item's level, when a threshold alert is raised,
what a movement changes and when it is refused.

The service (``server.features.stock``) calls them for every movement,
online or replayed from a phone's offline queue. ``stock_level`` has a copy
on the phone (pwa/app/stock.js ``levelOf``, which names this one); the
command centre shows the server's level.
"""

from __future__ import annotations

from server.fields import MAX_COUNT

OK, LOW, CRITICAL = "ok", "low", "critical"
LEVELS = (OK, LOW, CRITICAL)
ISSUE, RECEIVE, ADJUST, TRANSFER = "issue", "receive", "adjust", "transfer"
KINDS = (ISSUE, RECEIVE, ADJUST, TRANSFER)

#: Stable refusal code: the movement would take an item below zero.
INSUFFICIENT_STOCK = "insufficient_stock"
#: A movement that would take an item's quantity past ``MAX_COUNT`` either way.
STOCK_OVER_LIMIT = "stock_over_limit"

ALERT_KINDS = {LOW: "low_stock", CRITICAL: "critical_stock"}


def stock_level(quantity: int, low: int | None, critical: int | None) -> str:
    """ "critical" at or below the critical threshold, "low" at or below the low one."""
    if critical is not None and quantity <= critical:
        return CRITICAL
    if low is not None and quantity <= low:
        return LOW
    return OK


def threshold_alert(alerted_level: str, level: str) -> str | None:
    """The alert kind to raise when an item moves from ``alerted_level`` to ``level``.

    Only a worse level raises one, so a hundred issues below the threshold
    raise one alert, not a hundred; the caller then stores ``level`` as the
    alerted one, which re-arms the alert once the item is restocked above
    its threshold.
    """
    if LEVELS.index(level) > LEVELS.index(alerted_level):
        return ALERT_KINDS[level]
    return None


def movement_delta(kind: str, quantity: int) -> int:
    """The signed change a movement makes to its (source) item."""
    if kind == RECEIVE:
        return quantity
    if kind in (ISSUE, TRANSFER):
        return -quantity
    if kind == ADJUST:
        return quantity
    raise ValueError(f"unknown movement kind {kind!r}")


def refusal(kind: str, delta: int, available: int, reason: str) -> str | None:
    """Why a movement must be refused, or None.

    Quantity never silently goes below zero: only an ``adjust`` that gives a
    reason may (a recount found fewer than the books say, and someone signs
    for it).
    """
    if available + delta >= 0 or delta >= 0:
        return None
    if kind == ADJUST and reason.strip():
        return None
    return INSUFFICIENT_STOCK


def past_limit(available: int, delta: int) -> bool:
    """Whether ``available + delta`` leaves the range a quantity is kept in
    (``MAX_COUNT`` either way; the column is a 32-bit integer, and a sum past
    it would be a database error, not an answer)."""
    return abs(available + delta) > MAX_COUNT
