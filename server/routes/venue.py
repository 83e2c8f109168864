"""Events and their venue layout: zones, gates and ticket types."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.routing import Route

from checkin.capacity import new_shards, reslice_zone
from checkin.venue import venues
from realtime.outbox import publish
from realtime.topics import ROSTER
from server.auth import EVERYONE, ORGANISER, authenticate, authorize, check_rights
from server.context import muster
from server.errors import Conflict, InvalidRequest
from server.features.keys import create_event_key, key_store
from server.fields import Count, TicketTime
from server.http import json_response, parse_body, path_int
from server.lookup import event_rows, get_event, get_in_event
from server.models import (
    Account,
    DutyShift,
    Evacuation,
    Event,
    Gate,
    Incident,
    MusterPoint,
    PairingCode,
    RunSheetItem,
    Scan,
    StaffMember,
    Task,
    Ticket,
    TicketType,
    Zone,
    ZoneShard,
    utcnow,
)
from server.openapi import accepts, answers
from server.responses import JSONResponse
from server.serialize import event_json, gate_json, ticket_type_json, zone_json

Name = Annotated[str, Field(min_length=1, max_length=200)]
#: Up to ten years; 0 shreds at the event's end.
RetentionDays = Annotated[int, Field(ge=0, le=3650)]


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "unknown_timezone", "unknown timezone {zone}", {"zone": name[:64]}
        ) from None
    return name


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options pages read must have their shape: ``incident_categories``
    a list of keys, ``category_labels`` {key: {"zh": name, "en": name}}."""
    keys = options.get("incident_categories")
    if keys is not None and (
        not isinstance(keys, list)
        or not keys
        or any(not isinstance(k, str) or not 0 < len(k) <= 32 for k in keys)
    ):
        raise PydanticCustomError("bad_categories", "incident_categories: a list of keys")
    labels = options.get("category_labels")
    if labels is not None:
        if not isinstance(labels, dict) or len(labels) > 100:
            raise PydanticCustomError("bad_category_labels", "category_labels: {key: {zh, en}}")
        for key, names in labels.items():
            if (
                len(key) > 32
                or not isinstance(names, dict)
                or set(names) - {"zh", "en"}
                or any(not isinstance(v, str) or len(v) > 100 for v in names.values())
            ):
                raise PydanticCustomError("bad_category_labels", "category_labels: {key: {zh, en}}")
    return options


Options = Annotated[dict[str, Any], AfterValidator(_check_options)]


class EventIn(BaseModel):
    name: Name
    starts_at: TicketTime
    ends_at: TicketTime
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"
    #: The language of mail to attendees who chose none.
    language: Literal["zh", "en"] = "zh"
    #: Where it takes place (printed in ticket mail and calendar entries).
    location: Annotated[str, Field(max_length=300)] = ""
    options: Options = Field(default_factory=dict)
    #: The name of the ticket type every event starts with, in the
    #: organiser's language (the console sends "标准票" or "Standard").
    default_ticket_type: Name = "Standard"
    #: Days after the end that personal data is kept (None: the server's default).
    retention_days: RetentionDays | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventIn:
        if self.ends_at < self.starts_at:
            raise PydanticCustomError("ends_before_start", "ends_at is before starts_at")
        return self


class EventPatch(BaseModel):
    name: Name | None = None
    starts_at: TicketTime | None = None
    ends_at: TicketTime | None = None
    timezone: Annotated[str, AfterValidator(_check_timezone)] | None = None
    language: Literal["zh", "en"] | None = None
    location: Annotated[str, Field(max_length=300)] | None = None
    options: Options | None = None
    #: null puts the event back on the server's default (MUSTER_RETENTION_DAYS).
    retention_days: RetentionDays | None = None


class ZoneIn(BaseModel):
    name: Name
    capacity: Count | None = None
    soft_warning: Annotated[float, Field(gt=0, le=1)] | None = None


class ZonePatch(BaseModel):
    name: Name | None = None
    #: false restores an archived zone (DELETE archives one with history).
    archived: Literal[False] | None = None
    capacity: Count | None = None
    soft_warning: Annotated[float, Field(gt=0, le=1)] | None = None


class GateIn(BaseModel):
    name: Name
    from_zone: int | None = None
    to_zone: int


class GatePatch(BaseModel):
    name: Name | None = None
    archived: Literal[False] | None = None
    from_zone: int | None = None
    to_zone: int | None = None


class TicketTypeIn(BaseModel):
    name: Name
    zones: list[int] | None = None
    reentry: bool = True
    is_default: bool = False
    valid_from: TicketTime | None = None
    valid_until: TicketTime | None = None


class TicketTypePatch(BaseModel):
    name: Name | None = None
    archived: Literal[False] | None = None
    zones: list[int] | None = None
    reentry: bool | None = None
    is_default: bool | None = None
    valid_from: TicketTime | None = None
    valid_until: TicketTime | None = None


async def _check_zones(session: AsyncSession, event_id: int, zone_ids: list[int | None]) -> None:
    wanted = {z for z in zone_ids if z is not None}
    if not wanted:
        return
    query = select(Zone.id, Zone.archived_at).where(Zone.event_id == event_id, Zone.id.in_(wanted))
    found = {zone_id: archived_at for zone_id, archived_at in (await session.execute(query)).all()}
    missing = sorted(wanted - set(found))
    if missing:
        raise InvalidRequest(
            f"No zone {missing[0]} in this event.", {"zones": missing}, code="unknown_zone"
        )
    archived = sorted(z for z, at in found.items() if at is not None)
    if archived:
        raise InvalidRequest(
            f"Zone {archived[0]} is archived.", {"zones": archived}, code="zone_archived"
        )


# --- events -----------------------------------------------------------------


@accepts(EventIn)
@answers(201)
async def create_event(request: Request) -> JSONResponse:
    await authorize(request, None, {ORGANISER})
    body = await parse_body(request, EventIn)
    async with muster(request).db.writing() as session:
        event = Event(**body.model_dump(exclude={"default_ticket_type"}))
        session.add(event)
        await session.flush()
        await create_event_key(session, key_store(muster(request)).kek, event.id)
        session.add(TicketType(event_id=event.id, name=body.default_ticket_type, is_default=True))
    return json_response(event_json(event), status=201)


async def list_events(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    check_rights(principal, principal.event_id, EVERYONE)
    query = select(Event).order_by(Event.starts_at.desc(), Event.id.desc())
    if principal.event_id is not None:
        query = query.where(Event.id == principal.event_id)
    async with muster(request).db.reading() as session:
        events = (await session.scalars(query)).all()
    return json_response({"events": [event_json(e) for e in events]})


async def read_event(request: Request) -> JSONResponse:
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, EVERYONE)
    async with muster(request).db.reading() as session:
        event = await get_event(session, event_id)
    return json_response(event_json(event))


@accepts(EventPatch)
async def update_event(request: Request) -> JSONResponse:
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, EventPatch)
    async with muster(request).db.writing() as session:
        event = await get_event(session, event_id)
        for key, value in body.model_dump(exclude_unset=True).items():
            if value is not None or key == "retention_days":
                setattr(event, key, value)
        if event.ends_at < event.starts_at:
            raise InvalidRequest("ends_at is before starts_at", code="ends_before_start")
    return json_response(event_json(event))


# --- zones ------------------------------------------------------------------


@accepts(ZoneIn)
@answers(201)
async def create_zone(request: Request) -> JSONResponse:
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, ZoneIn)
    ctx = muster(request)
    async with ctx.db.writing() as session:
        await get_event(session, event_id)
        zone = Zone(
            event_id=event_id,
            name=body.name,
            capacity=body.capacity,
            soft_warning=body.soft_warning or ctx.settings.zone_soft_warning,
        )
        session.add(zone)
        await session.flush()
        session.add_all(new_shards(zone.id, body.capacity, ctx.settings.capacity_shards))
    return json_response(zone_json(zone), status=201)


async def list_zones(request: Request) -> JSONResponse:
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, EVERYONE)
    async with muster(request).db.reading() as session:
        zones = await event_rows(session, Zone, event_id, Zone.id)
    return json_response({"zones": [zone_json(z) for z in zones]})


@accepts(ZonePatch)
async def update_zone(request: Request) -> JSONResponse:
    event_id, zone_id = path_int(request, "event_id"), path_int(request, "zone_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, ZonePatch)
    changes = body.model_dump(exclude_unset=True)
    async with muster(request).db.writing() as session:
        zone: Zone = await get_in_event(session, Zone, event_id, zone_id)
        if "archived" in changes:
            zone.archived_at = None
        if changes.get("name"):
            zone.name = changes["name"]
        if changes.get("soft_warning"):
            zone.soft_warning = changes["soft_warning"]
        if "capacity" in changes:
            zone.capacity = changes["capacity"]
            await reslice_zone(session, zone)
    return json_response(zone_json(zone))


# --- gates ------------------------------------------------------------------


@accepts(GateIn)
@answers(201)
async def create_gate(request: Request) -> JSONResponse:
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, GateIn)
    if body.from_zone is not None and body.from_zone == body.to_zone:
        raise InvalidRequest("A gate must lead from one zone into another.", code="gate_loop")
    async with muster(request).db.writing() as session:
        await get_event(session, event_id)
        await _check_zones(session, event_id, [body.from_zone, body.to_zone])
        gate = Gate(
            event_id=event_id, name=body.name, from_zone_id=body.from_zone, to_zone_id=body.to_zone
        )
        session.add(gate)
    return json_response(gate_json(gate), status=201)


async def list_gates(request: Request) -> JSONResponse:
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, EVERYONE)
    async with muster(request).db.reading() as session:
        gates = await event_rows(session, Gate, event_id, Gate.id)
    return json_response({"gates": [gate_json(g) for g in gates]})


@accepts(GatePatch)
async def update_gate(request: Request) -> JSONResponse:
    event_id, gate_id = path_int(request, "event_id"), path_int(request, "gate_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, GatePatch)
    changes = body.model_dump(exclude_unset=True)
    ctx = muster(request)
    async with ctx.db.writing() as session:
        gate: Gate = await get_in_event(session, Gate, event_id, gate_id)
        moved = changes.get("to_zone") not in (None, gate.to_zone_id)
        if "archived" in changes:
            gate.archived_at = None
        await _check_zones(session, event_id, [changes.get("from_zone"), changes.get("to_zone")])
        if gate.archived_at is None:
            # A live gate may not lead into an archived zone (one restored included).
            await _check_zones(session, event_id, [gate.from_zone_id, gate.to_zone_id])
        if changes.get("name"):
            gate.name = changes["name"]
        if "from_zone" in changes:
            gate.from_zone_id = changes["from_zone"]
        if changes.get("to_zone") is not None:
            gate.to_zone_id = changes["to_zone"]
        if gate.from_zone_id == gate.to_zone_id:
            raise InvalidRequest("A gate must lead from one zone into another.", code="gate_loop")
        if moved:
            # The gate's staff without a zone of their own are in the gate's
            # zone: their open sockets' audiences move with it (realtime.hub).
            publish(session, event_id, ROSTER, {"gate": gate.id})
    if moved:
        ctx.changed(event_id, ROSTER)
    return json_response(gate_json(gate))


# --- ticket types -------------------------------------------------------------


@accepts(TicketTypeIn)
@answers(201)
async def create_ticket_type(request: Request) -> JSONResponse:
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, TicketTypeIn)
    async with muster(request).db.writing() as session:
        await get_event(session, event_id)
        await _check_zones(session, event_id, list(body.zones or []))
        if body.is_default:
            await _clear_default(session, event_id)
        ticket_type = TicketType(
            event_id=event_id,
            name=body.name,
            zone_ids=body.zones,
            reentry=body.reentry,
            is_default=body.is_default,
            valid_from=body.valid_from,
            valid_until=body.valid_until,
        )
        session.add(ticket_type)
    return json_response(ticket_type_json(ticket_type), status=201)


async def _clear_default(session: AsyncSession, event_id: int) -> None:
    for other in await session.scalars(
        select(TicketType).where(TicketType.event_id == event_id, TicketType.is_default.is_(True))
    ):
        other.is_default = False


async def list_ticket_types(request: Request) -> JSONResponse:
    event_id = path_int(request, "event_id")
    await authorize(request, event_id, EVERYONE)
    async with muster(request).db.reading() as session:
        types = await event_rows(session, TicketType, event_id, TicketType.id)
    return json_response({"ticket_types": [ticket_type_json(t) for t in types]})


@accepts(TicketTypePatch)
async def update_ticket_type(request: Request) -> JSONResponse:
    event_id, type_id = path_int(request, "event_id"), path_int(request, "type_id")
    await authorize(request, event_id, {ORGANISER})
    body = await parse_body(request, TicketTypePatch)
    changes = body.model_dump(exclude_unset=True)
    async with muster(request).db.writing() as session:
        ticket_type: TicketType = await get_in_event(session, TicketType, event_id, type_id)
        if "archived" in changes:
            ticket_type.archived_at = None
        if changes.get("is_default") and ticket_type.archived_at is not None:
            raise Conflict(
                "An archived ticket type cannot be the default.", code="ticket_type_archived"
            )
        if "zones" in changes:
            await _check_zones(session, event_id, list(changes["zones"] or []))
            ticket_type.zone_ids = changes["zones"]
        if changes.get("is_default"):
            await _clear_default(session, event_id)
        for key in ("name", "reentry", "is_default"):
            if changes.get(key) is not None:
                setattr(ticket_type, key, changes[key])
        for key in ("valid_from", "valid_until"):
            if key in changes:
                setattr(ticket_type, key, changes[key])
    return json_response(ticket_type_json(ticket_type))


# --- removing: delete what has no history, archive what has ------------------
#
# A scan row names its gate and zones by id, a ticket its type: removing one
# that any scan, ticket, phone or plan refers to would leave the log and the
# review with holes. Those are archived instead (hidden from the console's
# choices, refused as a new reference, restored with PATCH {"archived": false})
# and keep working for what already holds them: a phone paired at an archived
# gate still admits, a ticket of an archived type still opens its zones.


async def _any(session: AsyncSession, *queries: Any) -> bool:
    for query in queries:
        if (await session.execute(query.limit(1))).first() is not None:
            return True
    return False


async def _remove(
    request: Request,
    model: Any,
    id_param: str,
    kind: str,
    to_json: Any,
    refuse: Any,
    history: Any,
) -> JSONResponse:
    """DELETE one venue part: ``refuse(session, row)`` raises when it may not
    go at all; ``history(session, row)`` (anything refers to it) decides
    between archiving and deleting. An archived part
    answers as archived again."""
    event_id, item_id = path_int(request, "event_id"), path_int(request, id_param)
    await authorize(request, event_id, {ORGANISER})
    async with muster(request).db.writing() as session:
        row = await get_in_event(session, model, event_id, item_id)
        archived = row.archived_at is not None
        if not archived:
            await refuse(session, row)
            archived = await history(session, row)
            if archived:
                row.archived_at = utcnow()
            else:
                await session.delete(row)
        body = to_json(row)
    venues(muster(request)).forget(event_id)
    return json_response({"outcome": "archived" if archived else "deleted", kind: body})


async def _refuse_zone(session: AsyncSession, zone: Zone) -> None:
    inside = await session.scalar(
        select(func.coalesce(func.sum(ZoneShard.inside), 0)).where(ZoneShard.zone_id == zone.id)
    )
    if inside:
        raise Conflict(
            f"{inside} people are inside {zone.name}.", {"inside": inside}, code="zone_not_empty"
        )
    live_gates = (
        await session.scalars(select(Gate.id).where(_leads(zone.id), Gate.archived_at.is_(None)))
    ).all()
    if live_gates:
        raise Conflict(
            "Gates still lead into or out of this zone.",
            {"gates": list(live_gates)},
            code="zone_has_gates",
        )


def _leads(zone_id: int) -> Any:
    return or_(Gate.from_zone_id == zone_id, Gate.to_zone_id == zone_id)


async def _zone_history(session: AsyncSession, zone: Zone) -> bool:
    z, e = zone.id, zone.event_id
    for model in (TicketType, MusterPoint, Evacuation):  # zone lists kept as JSON
        lists = await session.scalars(select(model.zone_ids).where(model.event_id == e))
        if any(z in (ids or ()) for ids in lists):
            return True
    return await _any(
        session,
        select(Gate.id).where(_leads(z)),
        select(Scan.id).where(
            Scan.event_id == e, or_(Scan.from_zone_id == z, Scan.to_zone_id == z)
        ),
        select(Incident.id).where(Incident.zone_id == z),
        select(StaffMember.id).where(StaffMember.event_id == e, StaffMember.zone_id == z),
        select(DutyShift.id).where(DutyShift.zone_id == z),
        select(Task.id).where(Task.event_id == e, Task.zone_id == z),
        select(RunSheetItem.id).where(RunSheetItem.zone_id == z),
    )


async def _gate_history(session: AsyncSession, gate: Gate) -> bool:
    g, e = gate.id, gate.event_id
    return await _any(
        session,
        select(Scan.id).where(Scan.event_id == e, Scan.gate_id == g),
        select(Account.id).where(Account.event_id == e, Account.gate_id == g),
        select(PairingCode.id).where(PairingCode.event_id == e, PairingCode.gate_id == g),
        select(Incident.id).where(Incident.gate_id == g),
        select(StaffMember.id).where(StaffMember.event_id == e, StaffMember.gate_id == g),
        select(DutyShift.id).where(DutyShift.gate_id == g),
    )


async def _refuse_nothing(session: AsyncSession, row: Any) -> None:
    return None


async def _refuse_default_type(session: AsyncSession, ticket_type: TicketType) -> None:
    if ticket_type.is_default:
        raise Conflict("Make another ticket type the default first.", code="default_ticket_type")


@answers(409)
async def delete_zone(request: Request) -> JSONResponse:
    return await _remove(request, Zone, "zone_id", "zone", zone_json, _refuse_zone, _zone_history)


async def delete_gate(request: Request) -> JSONResponse:
    return await _remove(
        request, Gate, "gate_id", "gate", gate_json, _refuse_nothing, _gate_history
    )


@answers(409)
async def delete_ticket_type(request: Request) -> JSONResponse:
    return await _remove(
        request,
        TicketType,
        "type_id",
        "ticket_type",
        ticket_type_json,
        _refuse_default_type,
        lambda session, t: _any(session, select(Ticket.id).where(Ticket.type_id == t.id)),
    )


routes = [
    Route("/api/v1/events", create_event, methods=["POST"]),
    Route("/api/v1/events", list_events, methods=["GET"]),
    Route("/api/v1/events/{event_id}", read_event, methods=["GET"]),
    Route("/api/v1/events/{event_id}", update_event, methods=["PATCH"]),
    Route("/api/v1/events/{event_id}/zones", create_zone, methods=["POST"]),
    Route("/api/v1/events/{event_id}/zones", list_zones, methods=["GET"]),
    Route("/api/v1/events/{event_id}/zones/{zone_id}", update_zone, methods=["PATCH"]),
    Route("/api/v1/events/{event_id}/zones/{zone_id}", delete_zone, methods=["DELETE"]),
    Route("/api/v1/events/{event_id}/gates", create_gate, methods=["POST"]),
    Route("/api/v1/events/{event_id}/gates", list_gates, methods=["GET"]),
    Route("/api/v1/events/{event_id}/gates/{gate_id}", update_gate, methods=["PATCH"]),
    Route("/api/v1/events/{event_id}/gates/{gate_id}", delete_gate, methods=["DELETE"]),
    Route("/api/v1/events/{event_id}/ticket-types", create_ticket_type, methods=["POST"]),
    Route("/api/v1/events/{event_id}/ticket-types", list_ticket_types, methods=["GET"]),
    Route(
        "/api/v1/events/{event_id}/ticket-types/{type_id}", update_ticket_type, methods=["PATCH"]
    ),
    Route(
        "/api/v1/events/{event_id}/ticket-types/{type_id}",
        delete_ticket_type,
        methods=["DELETE"],
    ),
]
