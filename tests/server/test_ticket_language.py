"""The language of a ticket's mail: set per attendee (API, CSV column), else the event's."""

from __future__ import annotations

from tests.conftest import event_body


async def test_language_in_json_and_csv_and_the_events_default(organiser):
    event = await organiser.post("/api/v1/events", event_body(language="en"), expect=201)
    assert event["language"] == "en" and event["location"] == ""
    base = f"/api/v1/events/{event['id']}"
    one = await organiser.post(
        f"{base}/tickets", {"holder_name": "A", "language": "zh"}, expect=201
    )
    csv = "姓名,邮箱,语言\n王伟,wang@example.com,中文\nAnn,ann@example.com,English\nBo,,\n"
    imported = await organiser.post(
        f"{base}/tickets", content=csv.encode(), headers={"content-type": "text/csv"}, expect=201
    )
    found = await organiser.get(f"{base}/tickets?limit=10")
    languages = {t["holder_name"]: t["language"] for t in found["tickets"]}
    assert languages == {"A": "zh", "王伟": "zh", "Ann": "en", "Bo": ""}
    assert one["id"] and imported["count"] == 3
    bad = await organiser.post(
        f"{base}/tickets",
        content=b"name,language\nCy,fr\n",
        headers={"content-type": "text/csv"},
        expect=422,
    )
    assert bad["error"]["details"]["errors"][0]["field"] == "language"
    await organiser.post(f"{base}/tickets", {"holder_name": "D", "language": "fr"}, expect=422)
    patched = await organiser.patch(base, {"language": "zh", "location": "Hall 3"})
    assert (patched["language"], patched["location"]) == ("zh", "Hall 3")
    await organiser.patch(base, {"language": "de"}, expect=422)
