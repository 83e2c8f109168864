"""CSV exports in the reader's language (``?lang=zh|en``) on SQLite and
PostgreSQL: headers and coded cells worded, text as written, a byte-order
mark first; without ``lang`` the machine-readable export, byte for byte."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.features.evacuation_report import CSV_COLUMNS, roll_csv
from server.features.export_words import catalogue
from tests.conftest import Api
from tests.server.test_report import scan_via_api

CHECKINS_HEADER = (
    "scan_id,scanned_at,scanned_at (Asia/Shanghai),received_at,ticket_id,code,holder_name,gate,"
    "direction,status,reason,device,offline,conflict_with,annulled_at,nonce"
)
TASKS_HEADER = (
    "task_id,title,team,staff_id,zone_id,priority,status,due_at,due_at (Asia/Shanghai),done_at,"
    "done_at (Asia/Shanghai),outcome,steps_done,steps,blocked_reason,description"
)
INCIDENTS_HEADER = (
    "incident_id,created_at,created_at (Asia/Shanghai),category,severity,title,status,zone_id,"
    "gate_id,location,equipment_tag,reporter,assignee,assignee_team,reports,acknowledged_at,"
    "acknowledged_at (Asia/Shanghai),resolved_at,resolved_at (Asia/Shanghai),escalation_level,"
    "description,resolution_note"
)


def rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff"), "no byte-order mark: Excel would read the Chinese as ANSI"
    return list(csv.DictReader(io.StringIO(text[1:])))


@pytest.fixture
async def logged(organiser: Api, api_as: Any, event: Any, gate: Any) -> str:
    """An event with an admission, a refusal, an incident and a task; its base path."""
    base = f"/api/v1/events/{event['id']}"
    issued = await organiser.post(
        f"{base}/tickets", {"tickets": [{"holder_name": "王伟"}]}, expect=201
    )
    door = await api_as("door", event["id"], gate["id"])
    secret = issued["tickets"][0]["secret"]
    await scan_via_api(door, event["id"], secret, gate["id"])
    await scan_via_api(door, event["id"], secret, gate["id"])
    staff = await api_as("staff", event["id"])
    await staff.post(
        f"{base}/incidents", {"category": "power", "title": "配电箱跳闸", "nonce": "p1"}, expect=201
    )
    due = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    task = await organiser.post(
        f"{base}/tasks",
        {"title": "Press desk", "team": "security", "priority": "high", "due_at": due},
        expect=201,
    )
    await organiser.patch(
        f"/api/v1/tasks/{task['id']}", {"nonce": uuid.uuid4().hex, "status": "doing"}
    )
    await organiser.post(f"{base}/tasks", {"title": "自定义", "team": "Press desk"}, expect=201)
    return base


async def test_without_lang_the_exports_stay_machine_readable(organiser: Api, logged: str):
    checkins = (await organiser.get(f"{logged}/exports/checkins.csv")).text
    assert checkins.splitlines()[0] == "\ufeff" + CHECKINS_HEADER
    found = rows(checkins)
    assert [(r["direction"], r["status"], r["reason"], r["offline"]) for r in found] == [
        ("in", "ok", "", "0"),
        ("in", "error", "already_inside", "0"),
    ]
    tasks = (await organiser.get(f"{logged}/exports/tasks.csv")).text
    assert tasks.splitlines()[0] == "\ufeff" + TASKS_HEADER
    assert [(r["team"], r["priority"], r["status"], r["outcome"]) for r in rows(tasks)] == [
        ("security", "high", "doing", "not_done"),
        ("Press desk", "normal", "todo", "not_done"),
    ]
    incidents = (await organiser.get(f"{logged}/exports/incidents.csv")).text
    assert incidents.splitlines()[0] == "\ufeff" + INCIDENTS_HEADER
    [incident] = rows(incidents)
    assert (incident["category"], incident["status"]) == ("power", "open")


async def test_lang_zh_words_headers_and_codes_in_chinese(organiser: Api, logged: str):
    checkins = rows((await organiser.get(f"{logged}/exports/checkins.csv?lang=zh")).text)
    assert list(checkins[0])[:3] == ["扫码编号", "扫码时间 (UTC)", "扫码时间 (Asia/Shanghai)"]
    assert [(r["方向"], r["状态"], r["原因"], r["离线"], r["持票人"]) for r in checkins] == [
        ("入场", "通过", "", "否", "王伟"),
        ("入场", "拒绝", "已在场内（重复入场）", "否", "王伟"),
    ]
    tasks = rows((await organiser.get(f"{logged}/exports/tasks.csv?lang=zh")).text)
    assert [(r["团队"], r["优先级"], r["状态"], r["结果"], r["标题"]) for r in tasks] == [
        ("安保", "高", "进行中", "未完成", "Press desk"),
        # A team of the event's own is text, not a code: as written.
        ("Press desk", "普通", "待办", "未完成", "自定义"),
    ]
    [incident] = rows((await organiser.get(f"{logged}/exports/incidents.csv?lang=zh")).text)
    assert (incident["类别"], incident["状态"], incident["标题"]) == (
        "供电",
        "待处理",
        "配电箱跳闸",
    )
    assert incident["级别"].startswith("P")


async def test_lang_en_words_headers_and_codes_in_english(organiser: Api, logged: str):
    checkins = rows((await organiser.get(f"{logged}/exports/checkins.csv?lang=en")).text)
    assert list(checkins[0])[:3] == ["Scan", "Scanned at (UTC)", "Scanned at (Asia/Shanghai)"]
    assert [(r["Direction"], r["Status"], r["Reason"], r["Offline"]) for r in checkins] == [
        ("In", "Admitted", "", "No"),
        ("In", "Refused", "Already inside (used twice)", "No"),
    ]
    tasks = rows((await organiser.get(f"{logged}/exports/tasks.csv?lang=en")).text)
    assert [(r["Team"], r["Priority"], r["Status"]) for r in tasks] == [
        ("Security", "High", "Doing"),
        ("Press desk", "Normal", "To do"),
    ]
    [incident] = rows((await organiser.get(f"{logged}/exports/incidents.csv?lang=en")).text)
    assert (incident["Category"], incident["Status"]) == ("Power", "Open")


async def test_every_export_has_every_header_worded(organiser: Api, logged: str):
    for name in ("checkins", "incidents", "stock", "tasks", "broadcasts", "staff"):
        for lang in ("zh", "en"):
            answer = await organiser.get(f"{logged}/exports/{name}.csv?lang={lang}")
            header = answer.text.lstrip("\ufeff").splitlines()[0]
            assert "_" not in header.replace("Asia/Shanghai", ""), (name, lang, header)
    refused = await organiser.get(f"{logged}/exports/tasks.csv?lang=fr", expect=422)
    assert refused["error"]["code"] == "unknown_export_language"
    twice = await organiser.get(f"{logged}/exports/tasks.csv?lang=zh&lang=en", expect=422)
    assert twice["error"]["code"] == "unknown_export_language"


async def test_the_personal_data_archive_is_worded_too(organiser: Api, logged: str):
    def files(body: bytes) -> dict[str, str]:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return {n: archive.read(n).decode("utf-8") for n in archive.namelist()}

    plain = files((await organiser.get(f"{logged}/exports/personal-data.zip")).content)
    assert plain["scans.csv"].startswith("\ufeffscan_id,scanned_at,ticket_id,holder_name,")
    zh = files((await organiser.get(f"{logged}/exports/personal-data.zip?lang=zh")).content)
    assert set(zh) == set(plain)
    for name, text in zh.items():
        assert "_" not in text.lstrip("\ufeff").splitlines()[0], (name, text)
    scans = rows(zh["scans.csv"])
    assert [(r["状态"], r["原因"], r["离线"]) for r in scans][1] == (
        "拒绝",
        "已在场内（重复入场）",
        "否",
    )
    assert rows(zh["tickets.csv"])[0]["状态"] == "有效"
    assert {r["操作"] for r in rows(zh["incident_log.csv"])} == {"上报"}


async def test_one_persons_record_is_worded_too(organiser: Api, logged: str):
    [ticket] = (await organiser.get(f"{logged}/tickets"))["tickets"]
    path = f"/api/v1/tickets/{ticket['id']}/personal-data?format=csv"
    plain = (await organiser.get(path)).text
    assert plain.startswith("\ufeffsection,row,field,value\r\nticket,1,id,")
    zh = rows((await organiser.get(f"{path}&lang=zh")).text)
    assert list(zh[0]) == ["部分", "行", "字段", "值"]
    # Every field of the ticket and its scans has its word.
    assert not [r for r in zh if r["部分"] in ("票", "扫码") and r["字段"].isascii()], zh
    cells = {(r["部分"], r["行"], r["字段"]): r["值"] for r in zh}
    assert cells[("票", "1", "状态")] == "有效"
    assert (cells[("扫码", "2", "状态")], cells[("扫码", "2", "离线")]) == ("拒绝", "否")


async def test_the_roster_exported_in_either_language_imports_again(
    organiser: Api, event: Any
) -> None:
    base = f"/api/v1/events/{event['id']}"
    member = {"name": "李娜", "phone": "+86 138 0000 0000", "team": "security", "role": "staff"}
    await organiser.post(f"{base}/staff", {**member, "supervisor": True}, expect=201)
    for lang in ("zh", "en"):
        sheet = (await organiser.get(f"{base}/exports/staff.csv?lang={lang}")).text
        [row] = rows(sheet)
        assert list(row.values())[3:6] == (
            ["安保", "现场人员", "是"] if lang == "zh" else ["Security", "Floor staff", "Yes"]
        )
        other = await organiser.post("/api/v1/events", {**event, "name": lang}, expect=201)
        roster = f"/api/v1/events/{other['id']}/staff"
        content = sheet.encode("utf-8")
        headers = {"Content-Type": "text/csv"}
        await organiser.post(roster, content=content, headers=headers, expect=201)
        [again] = (await organiser.get(roster))["staff"]
        assert (again["team"], again["role"], again["supervisor"]) == ("security", "staff", True)


def test_the_roll_is_worded_too() -> None:
    person = {c: None for c in CSV_COLUMNS} | {
        "name": "王伟",
        "reason": "inside",
        "status": "missing",
    }
    assert roll_csv([person]).splitlines()[1] == "王伟,,,,inside,missing,,"
    zh = roll_csv([person], catalogue("zh")).splitlines()
    assert zh[0].startswith("\ufeff姓名,票编号") and zh[1] == "王伟,,,,在场内,未到,,"
