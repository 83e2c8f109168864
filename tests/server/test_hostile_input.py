"""Hostile input gets a clear 4xx, never a 5xx: JSON nested past the bound,
search terms past the bound or with NUL, offsets past 64 bits."""

from __future__ import annotations

from typing import Any

from server.fields import MAX_COUNT
from server.http import MAX_JSON_DEPTH, first_unstorable, json_depth
from tests.conftest import Api, event_body


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_json_depth_counts_levels() -> None:
    assert json_depth(1) == 0
    assert json_depth([]) == 1
    assert json_depth({"a": [1, {"b": 2}]}) == 3
    assert json_depth(nested(10_000)) > MAX_JSON_DEPTH  # no RecursionError


async def test_options_nested_900_deep_are_refused_and_events_still_list(organiser: Api) -> None:
    answer = await organiser.post(
        "/api/v1/events", event_body(options={"deep": nested(900)}), expect=422
    )
    assert answer["error"]["code"] == "json_too_deep"
    assert answer["error"]["details"] == {"max_depth": MAX_JSON_DEPTH}
    await organiser.post("/api/v1/events", event_body(options={"x": nested(20)}), expect=201)
    await organiser.get("/api/v1/events")


async def test_search_terms_are_bounded(organiser: Api, event: dict[str, Any]) -> None:
    base = f"/api/v1/events/{event['id']}/tickets"
    answer = await organiser.get(base, params={"q": "x" * 50_000}, expect=422)
    assert answer["error"]["code"] == "search_too_long"
    await organiser.get(base, params={"q": "x" * 512})
    await organiser.get(base, params={"offset": str(2**70)})
    ledger = f"/api/v1/events/{event['id']}/stock/movements"
    for name in ("item", "before"):
        await organiser.get(ledger, params={name: str(2**70)}, expect=422)
        await organiser.get(ledger, params={name: str(2**62)})


def test_unstorable_values_are_found_anywhere() -> None:
    assert first_unstorable({"a": [1, "ok", {"b": "x\x00"}]}) == "a.2.b"
    assert first_unstorable({"n": 2**63}) == "n"
    assert first_unstorable({"n": -(2**63), "t": True, "f": 1.5}) is None
    assert first_unstorable({"k\x00": 1}) == ""


async def test_nul_and_huge_numbers_are_refused_on_both_databases(
    organiser: Api, event: dict[str, Any]
) -> None:
    for body in (event_body(name="a\x00b"), event_body(options={"n": 2**63})):
        answer = await organiser.post("/api/v1/events", body, expect=422)
        assert answer["error"]["code"] == "unstorable_value"
    answer = await organiser.post(
        f"/api/v1/events/{event['id']}/zones", {"name": "z", "capacity": 2**63}, expect=422
    )
    assert answer["error"]["code"] == "unstorable_value"


async def test_counts_past_a_32_bit_column_are_refused(
    organiser: Api, event: dict[str, Any]
) -> None:
    """Capacities, stock quantities and thresholds are 32-bit columns on
    PostgreSQL: a number between 2^31 and 2^63 passed the 64-bit screen and
    was a 500 there (schemathesis found both)."""
    base = f"/api/v1/events/{event['id']}"
    big = 265704393617845280
    for path, body in (
        ("/zones", {"name": "z", "capacity": MAX_COUNT + 1}),
        ("/stock/items", {"name": "w", "quantity": 2**31}),
        ("/stock/items", {"name": "w", "low_threshold": big}),
        ("/stock/items", {"name": "w", "critical_threshold": big}),
    ):
        answer = await organiser.post(base + path, body, expect=422)
        assert answer["error"]["details"][0]["code"] == "less_than_equal", (path, body)
    item = await organiser.post(
        base + "/stock/items", {"name": "w", "quantity": MAX_COUNT}, expect=201
    )
    await organiser.patch(f"{base}/stock/items/{item['id']}", {"low_threshold": big}, expect=422)
    movement = {"kind": "receive", "item": item["id"], "nonce": "m1"}
    await organiser.post(base + "/stock/movements", {**movement, "quantity": 2**40}, expect=422)
    await organiser.post(base + "/stock/movements", {**movement, "item": 2**63}, expect=422)
    # Each count in range, the sum past it: refused before the column overflows.
    answer = await organiser.post(
        base + "/stock/movements", {**movement, "quantity": 1}, expect=409
    )
    assert answer["error"]["code"] == "stock_over_limit"
    assert answer["error"]["details"]["max"] == MAX_COUNT
    adjust = {"kind": "adjust", "reason": "recount", "nonce": "m2", "quantity": -MAX_COUNT}
    await organiser.post(base + "/stock/movements", {**adjust, "item": item["id"]}, expect=201)
    await organiser.post(
        base + "/stock/movements",
        {**adjust, "item": item["id"], "nonce": "m3", "quantity": -(MAX_COUNT)},
        expect=201,
    )
    answer = await organiser.post(
        base + "/stock/movements",
        {**adjust, "item": item["id"], "nonce": "m4", "quantity": -1},
        expect=409,
    )
    assert answer["error"]["code"] == "stock_over_limit"


async def test_path_ids_past_64_bits_name_nothing(organiser: Api, event: dict[str, Any]) -> None:
    for path in (
        f"/api/v1/events/{2**64}",
        f"/api/v1/events/{-(2**63) - 1}/zones",
        f"/api/v1/events/{event['id']}/stock/items/{'9' * 40}",
        f"/api/v1/tickets/{2**64}/qr.png",
        f"/api/v1/evacuations/{2**64}",
    ):
        answer = await organiser.get(path, expect=404)
        assert answer["error"]["code"] == "not_found", path


async def test_event_times_a_ticket_cannot_carry_are_refused(
    organiser: Api, event: dict[str, Any]
) -> None:
    """A ticket's secret holds its times as 32-bit seconds since 1970: an
    event moved to the year 1 or 9999 was stored, then every ticket issued
    for it (and its report) was a 500; a time at the calendar's edge with an
    offset (``0001-01-01T00:00+14:00``) did not even convert to UTC."""
    base = f"/api/v1/events/{event['id']}"
    for body in (
        {"starts_at": "0001-01-01T00:00:00+00:00"},
        {"starts_at": "0001-01-01T00:00:00+14:00"},
        {"ends_at": "9999-12-31T23:59:59-14:00"},
        {"ends_at": "2100-01-01T00:00:00+00:00"},
    ):
        answer = await organiser.patch(base, body, expect=422)
        assert answer["error"]["details"][0]["field"] in body
    await organiser.post(
        "/api/v1/events", event_body(ends_at="9999-12-31T23:59:59+00:00"), expect=422
    )
    await organiser.post(
        f"{base}/ticket-types",
        {"name": "Early", "valid_from": "1969-12-31T23:00:00+00:00"},
        expect=422,
    )
    movement_time = {"occurred_at": "0001-01-01T00:00:00+14:00"}
    item = await organiser.post(f"{base}/stock/items", {"name": "w"}, expect=201)
    await organiser.post(
        f"{base}/stock/movements",
        {"kind": "receive", "item": item["id"], "quantity": 1, "nonce": "t1", **movement_time},
        expect=422,
    )
    await organiser.post(f"{base}/tickets", {"holder_name": "王伟"}, expect=201)
    await organiser.get(f"{base}/report")


async def test_urls_with_a_nul_byte_are_refused_before_any_route(
    organiser: Api, event: dict[str, Any]
) -> None:
    """A NUL in a query parameter reached PostgreSQL from the incident list's
    ``category`` (a 500; schemathesis found it); every route is covered now."""
    base = f"/api/v1/events/{event['id']}"
    for path, params in (
        ("/incidents", {"category": "a\x00b"}),
        ("/tickets", {"q": "a\x00b"}),
        ("/stock/movements", {"x\x00": "1"}),
    ):
        answer = await organiser.get(base + path, params=params, expect=422)
        assert answer["error"]["code"] == "unstorable_value"
        assert "\x00" not in answer["error"]["details"]["field"]
    await organiser.post(f"{base}/scans/a%00b/annul", {}, expect=404)
    await organiser.get(f"{base}/incidents", params={"category": "power"})
