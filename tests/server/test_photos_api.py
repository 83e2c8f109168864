"""Incident photos through the API: multipart reports, refusals that lose nothing."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from PIL import ExifTags, Image
from sqlalchemy import func, select

from server.models import Incident, IncidentPhoto
from tests.server.test_incidents import nonce, url
from tests.server.test_photos import jpeg_with_gps, png_bomb


@pytest.fixture
def settings(settings):
    return replace(settings, photo_max_bytes=200_000, photo_max_side=300)


def fields(**extra: str) -> dict[str, str]:
    form = {
        "category": "equipment_failure",
        "severity": "P2",
        "title": "读卡器故障 Reader dead",
        "description": "No beep",
        "equipment_tag": "READER-2",
        "nonce": nonce(),
    }
    form.update(extra)
    return form


async def send(
    api: Any, event: dict[str, Any], photo: bytes, name: str = "p.jpg", **extra: str
) -> Any:
    response = await api.http.post(
        f"/api/v1/events/{event['id']}/incidents",
        data=fields(**extra),
        files={"photo": (name, photo, "image/jpeg")},
        headers=api.headers,
    )
    return response


async def stored_incidents(ctx: Any) -> int:
    async with ctx.db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(Incident)) or 0)


async def test_report_with_a_photo(ctx, api_as, event):
    staff = await api_as("staff", event["id"])
    response = await send(staff, event, jpeg_with_gps((900, 600)))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["equipment_tag"] == "READER-2" and created["severity"] == "P2"
    [photo] = created["photos"]
    image = await staff.http.get(photo["url"], headers=staff.headers)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    first = await staff.http.get(url(event, created, "photo"), headers=staff.headers)
    assert first.content == image.content
    with Image.open(io.BytesIO(image.content)) as stored:
        assert stored.size == (300, 200)
        assert not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)

    # A second report of the same reader, with its own photo, joins the first.
    linked = await send(staff, event, jpeg_with_gps((200, 200)))
    assert linked.status_code == 200 and linked.json()["report"]["outcome"] == "linked"
    assert len(linked.json()["photos"]) == 2
    async with ctx.db.reading() as session:
        photos = list(await session.scalars(select(IncidentPhoto).order_by(IncidentPhoto.id)))
    assert [p.log_id is not None for p in photos] == [True, True]


async def test_report_form_with_no_file_chosen(api_as, event):
    # A browser's FormData sends an empty file part when no photo was taken.
    staff = await api_as("staff", event["id"])
    response = await staff.http.post(
        f"/api/v1/events/{event['id']}/incidents",
        data=fields(force_new="true", zone=""),
        files={"photo": ("", b"", "application/octet-stream")},
        headers=staff.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["photos"] == []


@pytest.mark.parametrize(
    ("photo", "status", "code"),
    [
        (b"MZ\x90\x00 definitely a program", 422, "unsupported_photo"),
        (png_bomb(30_000, 30_000), 422, "photo_too_many_pixels"),
        (b"\xff\xd8\xff" + b"\x00" * 300_000, 413, "photo_too_large"),
    ],
    ids=["not-an-image", "decompression-bomb", "too-large"],
)
async def test_bad_photos_are_refused_cleanly(ctx, api_as, event, photo, status, code):
    staff = await api_as("staff", event["id"])
    response = await send(staff, event, photo)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await stored_incidents(ctx) == 0
    # The phone keeps the report and resends it without the bad photo: nothing is lost.
    retry = await staff.http.post(
        f"/api/v1/events/{event['id']}/incidents",
        data=fields(),
        files={"photo": ("", b"", "application/octet-stream")},
        headers=staff.headers,
    )
    assert retry.status_code == 201


async def test_missing_photo_is_404(api_as, event):
    staff = await api_as("staff", event["id"])
    created = await staff.post(
        f"/api/v1/events/{event['id']}/incidents",
        {"category": "other", "title": "x", "nonce": nonce()},
        expect=201,
    )
    missing = await staff.http.get(url(event, created, "photo"), headers=staff.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
