"""Hostile input gets a clear 4xx, never a 5xx: JSON nested past the bound,
search terms past the bound or with NUL, offsets past 64 bits."""

from __future__ import annotations

from typing import Any

from server.http import MAX_JSON_DEPTH, json_depth
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
    for q in ("x" * 50_000, "a\x00b"):
        answer = await organiser.get(base, params={"q": q}, expect=422)
        assert answer["error"]["code"] == "search_too_long"
    await organiser.get(base, params={"q": "x" * 512})
    await organiser.get(base, params={"offset": str(2**70)})
