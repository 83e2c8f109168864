"""The staff roster: members of an event's team, their phones and their shifts.

The rules are in ``server/features/roster_rules.py`` (fields checked to codes, who is
on duty where); this module reads and writes the rows around them.

- **Members** are checked with ``member_problems`` and answered as import
  rows (``line``, ``field``, ``code``, ``params``), one list for a single
  member (422 ``staff_invalid``) and for a CSV import (422 ``bad_rows``):
  the console words both with ``import.row.<code>``. An import is all or
  nothing, like the ticket import whose CSV reader it shares.
- A team is a built-in code (``security``…) or the event's own name; the
  Chinese names of the built-in ones (安保, 接待, 物资, 技术) are read as
  their codes, so an imported sheet and the console agree.
- **Duty**: a phone paired to a member starts and ends their shift; a start
  while a shift runs ends that one (a member stands in one place). Contact
  data (the phone number) is for organiser and command only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.outbox import publish
from realtime.topics import ROSTER
from server.db import Database, dialect_name
from server.errors import Conflict, InvalidRequest, NotFound
from server.features import roster_rules
from server.features.export_words import BOOLEAN, ExportWords, catalogue, worded_table
from server.features.issuance import MAX_REPORTED_ERRORS, RowError, csv_records
from server.features.tokens import log_revocations
from server.fields import DbInt, UtcDatetime
from server.lookup import get_event
from server.models import Account, DutyShift, Gate, StaffMember, Zone, utcnow
from server.serialize import iso

#: The Chinese names of the built-in teams, read as their codes.
TEAM_ALIASES = {
    "安保": roster_rules.SECURITY,
    "接待": roster_rules.RECEPTION,
    "物资": roster_rules.LOGISTICS,
    "技术": roster_rules.TECH,
}
ROLE_ALIASES = {
    "检票员": "door",
    "检票": "door",
    "现场人员": "staff",
    "指挥中心": "command",
    # The roles as an export with ?lang=en words them ("Floor staff"), so
    # that the roster exported in either language imports again.
    **{word: code for code, word in catalogue("en").codes["role"].items()},
}
_YES = {"1", "yes", "y", "true", "x", "是", "主管"}
_NO = {"", "0", "no", "n", "false", "否"}

#: CSV header → column (lower-cased; English and Chinese).
HEADER_ALIASES = {
    "name": "name",
    "姓名": "name",
    "phone": "phone",
    "mobile": "phone",
    "电话": "phone",
    "手机": "phone",
    "手机号": "phone",
    "team": "team",
    "团队": "team",
    "组": "team",
    "分组": "team",
    "role": "role",
    "角色": "role",
    "supervisor": "supervisor",
    "主管": "supervisor",
    "zone": "zone",
    "区域": "zone",
    "gate": "gate",
    "出入口": "gate",
}

#: The field each problem code of ``member_problems`` is about.
_PROBLEM_FIELDS = {
    roster_rules.TEXT_HAS_NUL: "",
    roster_rules.NAME_REQUIRED: "name",
    roster_rules.NAME_TOO_LONG: "name",
    roster_rules.PHONE_INVALID: "phone",
    roster_rules.TEAM_REQUIRED: "team",
    roster_rules.TEAM_TOO_LONG: "team",
    roster_rules.ROLE_INVALID: "role",
}
_PROBLEM_PARAMS: dict[str, dict[str, Any]] = {
    roster_rules.NAME_TOO_LONG: {"max": roster_rules.NAME_MAX},
    roster_rules.TEAM_TOO_LONG: {"max": roster_rules.TEAM_MAX},
}

#: How far back a phone that was offline may date the start or end of a shift.
DUTY_BACKDATE = timedelta(hours=24)

#: Bounds that only keep absurd bodies out; the rules give the real limits as codes.
Loose = Annotated[str, Field(max_length=1000)]


class MemberIn(BaseModel):
    name: Loose
    phone: Loose | None = None
    team: Loose = ""
    role: Loose = "staff"
    supervisor: bool = False
    zone: DbInt | None = None
    gate: DbInt | None = None


class MemberPatch(BaseModel):
    name: Loose | None = None
    phone: Loose | None = None
    team: Loose | None = None
    role: Loose | None = None
    supervisor: bool | None = None
    zone: DbInt | None = None
    gate: DbInt | None = None


class DutyIn(BaseModel):
    action: Literal["start", "end"]
    #: Where the shift stands (default: the member's zone, or their gate's).
    zone: DbInt | None = None
    #: When it happened on the phone (a phone offline at the time sends it later).
    at: UtcDatetime | None = None


class MemberPairingIn(BaseModel):
    #: The phone paired with this code joins the member's others (a
    #: supervisor's second phone); by default it replaces them.
    keep_other_phones: bool = False


@dataclass(frozen=True)
class MemberRequest:
    """One member to add, from a JSON body or a CSV row (zone and gate by id or name)."""

    name: str
    phone: str | None
    team: str
    role: str
    supervisor: bool | str
    zone: int | str | None = None
    gate: int | str | None = None
    line: int | None = None


def normal_team(team: str) -> str:
    cleaned = team.strip()
    return TEAM_ALIASES.get(
        cleaned, cleaned.lower() if cleaned.lower() in roster_rules.TEAMS else cleaned
    )


def normal_role(role: str) -> str:
    cleaned = role.strip()
    return ROLE_ALIASES.get(cleaned, cleaned.lower())


def member_errors(
    line: int | None, name: str, phone: str | None, team: str, role: str
) -> list[RowError]:
    """``member_problems`` as import rows (line, field, code, params)."""
    found = []
    for code in roster_rules.member_problems(name, phone, team, role):
        params = dict(_PROBLEM_PARAMS.get(code, {}))
        if code == roster_rules.PHONE_INVALID:
            params["value"] = (phone or "")[: roster_rules.PHONE_MAX]
        found.append(RowError(line, _PROBLEM_FIELDS.get(code, ""), code, params))
    return found


def member_json(member: StaffMember, shift: DutyShift | None = None) -> dict[str, Any]:
    return {
        "id": member.id,
        "event": member.event_id,
        "name": member.name,
        "phone": member.phone,
        "team": member.team,
        "builtin_team": member.team in roster_rules.TEAMS,
        "role": member.role,
        "supervisor": member.supervisor,
        "zone": member.zone_id,
        "gate": member.gate_id,
        "on_duty": shift is not None,
        "duty": shift_json(shift) if shift is not None else None,
        "created_at": iso(member.created_at),
        "updated_at": iso(member.updated_at),
    }


def own_staff_json(
    member: StaffMember, role: str, shift: DutyShift | None = None
) -> dict[str, Any]:
    """What a member's own phone is told of them (no phone number), with their running shift."""
    return {
        "id": member.id,
        "name": member.name,
        "team": member.team,
        "supervisor": member.supervisor,
        "may_override": roster_rules.may_override(role, member.supervisor),
        "zone": member.zone_id,
        "gate": member.gate_id,
        "on_duty": shift is not None,
        "duty": shift_json(shift) if shift is not None else None,
    }


def shift_json(shift: DutyShift) -> dict[str, Any]:
    return {
        "id": shift.id,
        "staff": shift.staff_id,
        "zone": shift.zone_id,
        "gate": shift.gate_id,
        "started_at": iso(shift.started_at),
        "ended_at": iso(shift.ended_at),
    }


def parse_roster_csv(text: str, max_rows: int) -> list[MemberRequest | RowError]:
    """The rows of a roster CSV (name, phone, team, role, supervisor, zone, gate)."""
    found: list[MemberRequest | RowError] = []
    for record in csv_records(text, max_rows, HEADER_ALIASES, "name"):
        if isinstance(record, RowError):
            found.append(record)
            continue
        line, values = record
        found.append(
            MemberRequest(
                name=values.get("name", ""),
                # An exported phone starts "'+86…": the export's formula guard.
                phone=values.get("phone", "").removeprefix("'") or None,
                team=values.get("team", ""),
                role=values.get("role") or "staff",
                supervisor=values.get("supervisor", ""),
                zone=values.get("zone") or None,
                gate=values.get("gate") or None,
                line=line,
            )
        )
    return found


class _Places:
    """The event's zones and gates, found by id or by name. An archived one
    (``archived_at``) is refused for a new choice; ``keep`` holds the
    ("zone"|"gate", id) a member already has, which a change may leave as is."""

    def __init__(self, zones: list[Zone], gates: list[Gate]) -> None:
        self.zones = {z.id: z for z in zones}
        self.gates = {g.id: g for g in gates}
        self.keep: set[tuple[str, int | None]] = set()

    @staticmethod
    async def load(session: AsyncSession, event_id: int) -> _Places:
        zones = list(await session.scalars(select(Zone).where(Zone.event_id == event_id)))
        gates = list(await session.scalars(select(Gate).where(Gate.event_id == event_id)))
        return _Places(zones, gates)

    def zone(self, ref: int | str | None) -> int | Literal[False] | None:
        """The zone's id; None for no zone; False for one the event does not have."""
        return self._pick("zone", ref, self.zones)

    def gate(self, ref: int | str | None) -> int | Literal[False] | None:
        return self._pick("gate", ref, self.gates)

    def _pick(
        self, kind: str, ref: int | str | None, rows: dict[int, Any]
    ) -> int | Literal[False] | None:
        usable = {
            i: row for i, row in rows.items() if row.archived_at is None or (kind, i) in self.keep
        }
        names = {row.name.casefold(): i for i, row in usable.items()}
        return _find(ref, usable, names)

    def zone_of_gate(self, gate_id: int | None) -> int | None:
        gate = self.gates.get(gate_id) if gate_id is not None else None
        return gate.to_zone_id if gate is not None else None


def _find(
    ref: int | str | None, by_id: dict[int, Any], by_name: dict[str, int]
) -> int | Literal[False] | None:
    if ref is None or ref == "":
        return None
    if isinstance(ref, int):
        return ref if ref in by_id else False
    if ref.strip().isdigit() and int(ref) in by_id:
        return int(ref)
    return by_name.get(ref.strip().casefold(), False)


def _supervisor(value: bool | str, line: int | None) -> bool | RowError:
    if isinstance(value, bool):
        return value
    cleaned = value.strip().lower()
    if cleaned in _YES:
        return True
    if cleaned in _NO:
        return False
    return RowError(line, "supervisor", "supervisor_invalid", {"value": value[:16]})


def _checked(request: MemberRequest, places: _Places) -> tuple[StaffMember | None, list[RowError]]:
    """The member a request makes, or why not (every problem)."""
    team, role = normal_team(request.team), normal_role(request.role)
    errors = member_errors(request.line, request.name, request.phone, team, role)
    supervisor = _supervisor(request.supervisor, request.line)
    if isinstance(supervisor, RowError):
        errors.append(supervisor)
    zone, gate = places.zone(request.zone), places.gate(request.gate)
    if zone is False:
        errors.append(RowError(request.line, "zone", "unknown_zone", {"value": str(request.zone)}))
    if gate is False:
        errors.append(RowError(request.line, "gate", "unknown_gate", {"value": str(request.gate)}))
    if errors or isinstance(supervisor, RowError) or zone is False or gate is False:
        return None, errors
    now = utcnow()
    member = StaffMember(
        name=request.name.strip(),
        phone=(request.phone or "").strip() or None,
        team=team,
        role=role,
        supervisor=supervisor,
        zone_id=zone,
        gate_id=gate,
        created_at=now,
        updated_at=now,
    )
    return member, []


def _refuse_rows(errors: list[RowError], code: str) -> InvalidRequest:
    return InvalidRequest(
        f"{len(errors)} problem(s) with the roster; nothing was saved.",
        {
            "errors": [e.as_dict() for e in errors[:MAX_REPORTED_ERRORS]],
            "error_count": len(errors),
        },
        code=code,
    )


async def add_members(
    db: Database, event_id: int, requests: list[MemberRequest | RowError], *, many: bool
) -> list[dict[str, Any]]:
    """Check every request, then add all of them in one transaction, or none.

    Raises InvalidRequest with every problem: ``bad_rows`` for an import
    (``many``), ``staff_invalid`` for one member.
    """
    async with db.writing() as session:
        await get_event(session, event_id)
        places = await _Places.load(session, event_id)
        members: list[StaffMember] = []
        errors: list[RowError] = []
        for request in requests:
            if isinstance(request, RowError):
                errors.append(request)
                continue
            member, problems = _checked(request, places)
            errors.extend(problems)
            if member is not None:
                member.event_id = event_id
                members.append(member)
        if errors:
            raise _refuse_rows(errors, "bad_rows" if many else "staff_invalid")
        if not members:
            raise InvalidRequest("No roster rows to import.", code="nothing_to_import")
        session.add_all(members)
        await session.flush()
        return [member_json(m) for m in members]


async def _open_shifts(session: AsyncSession, event_id: int) -> dict[int, DutyShift]:
    """Each member's running shift (the latest started, when a phone started twice)."""
    found: dict[int, DutyShift] = {}
    for shift in await session.scalars(
        select(DutyShift)
        .where(DutyShift.event_id == event_id, DutyShift.ended_at.is_(None))
        .order_by(DutyShift.started_at, DutyShift.id)
    ):
        found[shift.staff_id] = shift
    return found


async def list_members(db: Database, event_id: int) -> list[dict[str, Any]]:
    """The roster in name order, each member with their running shift."""
    async with db.reading() as session:
        await get_event(session, event_id)
        members = list(
            await session.scalars(
                select(StaffMember)
                .where(StaffMember.event_id == event_id)
                .order_by(StaffMember.team, StaffMember.name, StaffMember.id)
            )
        )
        shifts = await _open_shifts(session, event_id)
    return [member_json(m, shifts.get(m.id)) for m in members]


#: The roster export's columns: the import reads the same file back.
ROSTER_COLUMNS = ("staff_id", "name", "phone", "team", "role", "supervisor", "zone", "gate")


async def roster_csv(db: Database, event_id: int, words: ExportWords | None = None) -> str:
    """The roster as CSV (zones and gates by name), cells safe in Excel
    (``server/features/spreadsheet.py``), in ``words``' language with them
    (``?lang=``); ``POST …/staff`` imports it again."""
    async with db.reading() as session:
        await get_event(session, event_id)
        places = await _Places.load(session, event_id)
        members = list(
            await session.scalars(
                select(StaffMember)
                .where(StaffMember.event_id == event_id)
                .order_by(StaffMember.team, StaffMember.name, StaffMember.id)
            )
        )
    zones = {z: zone.name for z, zone in places.zones.items()}
    gates = {g: gate.name for g, gate in places.gates.items()}
    rows = [
        (
            m.id,
            m.name,
            m.phone,
            m.team,
            m.role,
            m.supervisor,
            zones.get(m.zone_id) if m.zone_id is not None else None,
            gates.get(m.gate_id) if m.gate_id is not None else None,
        )
        for m in members
    ]
    coded = {"team": "team", "role": "role", "supervisor": BOOLEAN}
    return worded_table(words, ROSTER_COLUMNS, coded, rows)


async def event_of(db: Database, staff_id: int) -> int:
    """The event of a roster member (404 when there is none)."""
    async with db.reading() as session:
        event_id = await session.scalar(
            select(StaffMember.event_id).where(StaffMember.id == staff_id)
        )
    if event_id is None:
        raise NotFound(f"No staff member {staff_id}.", code="unknown_staff")
    return int(event_id)


async def read_member(session: AsyncSession, staff_id: int) -> StaffMember:
    member = await session.get(StaffMember, staff_id)
    if member is None:
        raise NotFound(f"No staff member {staff_id}.", code="unknown_staff")
    return member


async def update_member(db: Database, staff_id: int, patch: MemberPatch) -> dict[str, Any]:
    """Change a member's fields; the whole member is checked again."""
    changes = patch.model_dump(exclude_unset=True)
    async with db.writing() as session:
        member = await read_member(session, staff_id)
        places = await _Places.load(session, member.event_id)
        places.keep = {("zone", member.zone_id), ("gate", member.gate_id)}
        merged = MemberRequest(
            name=changes["name"] if changes.get("name") is not None else member.name,
            phone=changes["phone"] if "phone" in changes else member.phone,
            team=changes["team"] if changes.get("team") is not None else member.team,
            role=changes["role"] if changes.get("role") is not None else member.role,
            supervisor=(
                changes["supervisor"]
                if changes.get("supervisor") is not None
                else member.supervisor
            ),
            zone=changes["zone"] if "zone" in changes else member.zone_id,
            gate=changes["gate"] if "gate" in changes else member.gate_id,
        )
        checked, errors = _checked(merged, places)
        if checked is None:
            raise _refuse_rows(errors, "staff_invalid")
        for key in ("name", "phone", "team", "role", "supervisor", "zone_id", "gate_id"):
            setattr(member, key, getattr(checked, key))
        member.updated_at = utcnow()
        publish(session, member.event_id, ROSTER, {"staff": member.id})
        shift = (await _open_shifts(session, member.event_id)).get(member.id)
        return member_json(member, shift)


async def remove_member(db: Database, staff_id: int) -> tuple[int, list[int]]:
    """Take a member off the roster: their shifts go, their phones are unpaired.

    Returns the event and the accounts revoked (the caller announces them: ``server.features.tokens``).
    """
    async with db.writing() as session:
        member = await read_member(session, staff_id)
        event_id = member.event_id
        revoked = await unpair_phones(session, staff_id)
        await session.execute(delete(DutyShift).where(DutyShift.staff_id == staff_id))
        await session.delete(member)
    return event_id, revoked


#: Off only in ``tests/server/test_pairing_race.py``, to show the lock matters.
LOCKED = True


async def lock_member(session: AsyncSession, staff_id: int) -> None:
    """Hold the member's row until the caller's transaction ends (PostgreSQL;
    SQLite writes one transaction at a time already). Two phones claiming two
    codes for one member at once would each revoke the other phones it sees,
    and neither sees the other's uncommitted token: both stay paired. Locked,
    the second claim waits, then sees the first phone and revokes it.
    ``FOR NO KEY UPDATE``: rows that only point at the member (a new token,
    a shift) are not held up."""
    if LOCKED and dialect_name(session) == "postgresql":
        await session.execute(
            select(StaffMember.id).where(StaffMember.id == staff_id).with_for_update(key_share=True)
        )


async def unpair_phones(
    session: AsyncSession, staff_id: int, *, but: int | None = None
) -> list[int]:
    """Revoke the member's paired phones (all ``but`` one), in the caller's
    transaction; their open sockets are closed on every process
    (``server.features.tokens``; the caller announces the accounts returned)."""
    query = update(Account).where(Account.staff_id == staff_id, Account.revoked_at.is_(None))
    if but is not None:
        query = query.where(Account.id != but)
    revoked = list(await session.scalars(query.values(revoked_at=utcnow()).returning(Account.id)))
    log_revocations(session, revoked)
    return revoked


async def record_duty(db: Database, account_id: int, event_id: int, body: DutyIn) -> dict[str, Any]:
    """Start or end the shift of the member whose phone calls (409 ``not_a_roster_phone``
    for a phone paired without a member). Starting again moves the running
    shift (ends it, starts a new one); ending with none running changes nothing."""
    now = utcnow()
    at = now if body.at is None else max(min(body.at, now), now - DUTY_BACKDATE)
    async with db.writing() as session:
        staff_id = await session.scalar(select(Account.staff_id).where(Account.id == account_id))
        if staff_id is None:
            raise Conflict(
                "This phone was not paired to a roster member.", code="not_a_roster_phone"
            )
        member = await read_member(session, staff_id)
        running = list(
            await session.scalars(
                select(DutyShift)
                .where(DutyShift.staff_id == staff_id, DutyShift.ended_at.is_(None))
                .with_for_update()
            )
        )
        for shift in running:
            shift.ended_at = max(at, shift.started_at)
        publish(session, event_id, ROSTER, {"staff": staff_id})
        if body.action == "end":
            return {"on_duty": False, "member": member_json(member), "shift": None}
        places = await _Places.load(session, event_id)
        zone = places.zone(body.zone) if body.zone is not None else None
        if zone is False:
            raise InvalidRequest(
                f"No zone {body.zone} in this event.", {"zones": [body.zone]}, code="unknown_zone"
            )
        shift = DutyShift(
            event_id=event_id,
            staff_id=staff_id,
            zone_id=zone or member.zone_id or places.zone_of_gate(member.gate_id),
            gate_id=member.gate_id,
            account_id=account_id,
            started_at=at,
        )
        session.add(shift)
        await session.flush()
        return {"on_duty": True, "member": member_json(member, shift), "shift": shift_json(shift)}


async def shifts_of(session: AsyncSession, event_id: int) -> list[roster_rules.Shift]:
    """Every shift of the event as the rules read them."""
    rows = await session.execute(
        select(
            DutyShift.staff_id, DutyShift.zone_id, DutyShift.started_at, DutyShift.ended_at
        ).where(DutyShift.event_id == event_id)
    )
    return [roster_rules.Shift(s, z, a, b) for s, z, a, b in rows]


async def on_duty(
    session: AsyncSession, event_id: int, zones: frozenset[int] | None, instant: datetime
) -> list[tuple[int, str, int | None]]:
    """(staff id, name, zone) of everyone on duty in ``zones`` at ``instant``."""
    who = roster_rules.on_duty_in(await shifts_of(session, event_id), zones, instant)
    if not who:
        return []
    rows = await session.execute(
        select(StaffMember.id, StaffMember.name).where(StaffMember.id.in_(who))
    )
    names = {staff_id: name for staff_id, name in rows}
    return [
        (staff_id, names[staff_id], zone)
        for staff_id, zone in sorted(who.items())
        if staff_id in names
    ]


async def may_override_account(db: Database, account_id: int, role: str) -> bool:
    """Whether the phone of ``account_id`` is held by a door supervisor."""
    async with db.reading() as session:
        supervisor = await session.scalar(
            select(StaffMember.supervisor)
            .join(Account, Account.staff_id == StaffMember.id)
            .where(Account.id == account_id)
        )
    return roster_rules.may_override(role, bool(supervisor))


async def own_staff(session: AsyncSession, account_id: int, role: str) -> dict[str, Any] | None:
    """The roster member a phone was paired to, as their phone sees them; None for
    a phone paired without a member."""
    staff_id = await session.scalar(select(Account.staff_id).where(Account.id == account_id))
    member = await session.get(StaffMember, staff_id) if staff_id is not None else None
    if member is None:
        return None
    shift = await session.scalar(
        select(DutyShift)
        .where(DutyShift.staff_id == member.id, DutyShift.ended_at.is_(None))
        .order_by(DutyShift.started_at.desc(), DutyShift.id.desc())
        .limit(1)
    )
    return own_staff_json(member, role, shift)
