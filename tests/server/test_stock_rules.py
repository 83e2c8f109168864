"""The pure low-stock rules (``server.features.stock_rules``)."""

from __future__ import annotations

import pytest

from server.features.stock_rules import (
    ADJUST,
    INSUFFICIENT_STOCK,
    ISSUE,
    RECEIVE,
    TRANSFER,
    movement_delta,
    refusal,
    stock_level,
    threshold_alert,
)


def test_stock_level():
    assert stock_level(50, 20, 5) == "ok"
    assert stock_level(20, 20, 5) == "low"
    assert stock_level(6, 20, 5) == "low"
    assert stock_level(5, 20, 5) == "critical"
    assert stock_level(-1, None, None) == "ok"
    assert stock_level(3, None, 5) == "critical"


def test_threshold_alert_only_when_worse():
    assert threshold_alert("ok", "low") == "low_stock"
    assert threshold_alert("ok", "critical") == "critical_stock"
    assert threshold_alert("low", "critical") == "critical_stock"
    assert threshold_alert("low", "low") is None
    assert threshold_alert("critical", "low") is None
    assert threshold_alert("critical", "ok") is None


def test_movement_delta():
    assert movement_delta(ISSUE, 3) == -3
    assert movement_delta(TRANSFER, 3) == -3
    assert movement_delta(RECEIVE, 3) == 3
    assert movement_delta(ADJUST, -2) == -2
    with pytest.raises(ValueError):
        movement_delta("steal", 1)


def test_refusal_below_zero():
    assert refusal(ISSUE, -5, 5, "") is None
    assert refusal(ISSUE, -6, 5, "") == INSUFFICIENT_STOCK
    assert refusal(TRANSFER, -6, 5, "") == INSUFFICIENT_STOCK
    assert refusal(ADJUST, -6, 5, "recount: 2 boxes damaged") is None
    assert refusal(ADJUST, -6, 5, "  ") == INSUFFICIENT_STOCK
    assert refusal(RECEIVE, 4, -3, "") is None
