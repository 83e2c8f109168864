"""Stock of materials: the ledger service around the low-stock rules.

The rules are pure functions of plain numbers (``server.features.stock_rules``).
The service applies a movement in one transaction: it locks the item rows,
checks the rules, appends one ledger entry, updates the quantities on hand
beside it, and raises a threshold alert once when an item's level gets worse.

Stock moves at human pace (a volunteer hands out a box of badges), so one
row lock per item is no hot spot; two phones moving the same item at the same
instant simply queue for a few milliseconds, and the item's quantity always
equals the sum of its ledger entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Principal
from server.db import Database
from server.errors import Conflict, InvalidRequest, NotFound
from server.features.alerts import raise_alert
from server.features.stock_rules import (
    ADJUST,
    CRITICAL,
    LOW,
    RECEIVE,
    STOCK_OVER_LIMIT,
    TRANSFER,
    movement_delta,
    past_limit,
    refusal,
    stock_level,
    threshold_alert,
)
from server.fields import MAX_COUNT, Count, DbInt, UtcDatetime
from server.lookup import get_event
from server.models import StockItem, StockMovement, utcnow
from server.serialize import iso

# --- request bodies ---------------------------------------------------------

Name = Annotated[str, Field(min_length=1, max_length=200)]
Threshold = Count


class ItemIn(BaseModel):
    name: Name
    unit: Annotated[str, Field(max_length=32)] = ""
    location: Annotated[str, Field(max_length=200)] = ""
    quantity: Count = 0
    low_threshold: Threshold | None = None
    critical_threshold: Threshold | None = None

    @model_validator(mode="after")
    def _critical_below_low(self) -> ItemIn:
        _check_thresholds(self.low_threshold, self.critical_threshold)
        return self


class ItemPatch(BaseModel):
    name: Name | None = None
    unit: Annotated[str, Field(max_length=32)] | None = None
    location: Annotated[str, Field(max_length=200)] | None = None
    low_threshold: Threshold | None = None
    critical_threshold: Threshold | None = None


class MovementIn(BaseModel):
    kind: Literal["issue", "receive", "adjust", "transfer"]
    item: DbInt
    #: How many; for ``adjust`` a signed correction (-3: three fewer than booked).
    quantity: Annotated[int, Field(ge=-MAX_COUNT, le=MAX_COUNT)]
    #: Transfers: the receiving item, or a location (the same item there is
    #: found, or created with the same name, unit and thresholds).
    to_item: DbInt | None = None
    to_location: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    reason: Annotated[str, Field(max_length=500)] = ""
    nonce: Annotated[str, Field(min_length=1, max_length=64)]
    occurred_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MovementIn:
        if self.kind == ADJUST:
            if self.quantity == 0:
                raise ValueError("an adjust must change the quantity")
            if not self.reason.strip():
                raise ValueError("an adjust needs a reason")
        elif self.quantity <= 0:
            raise ValueError(f"the quantity of a {self.kind} must be positive")
        if self.kind == TRANSFER:
            if (self.to_item is None) == (self.to_location is None):
                raise ValueError("a transfer needs exactly one of to_item and to_location")
        elif self.to_item is not None or self.to_location is not None:
            raise ValueError("only a transfer has a destination")
        return self


def _check_thresholds(low: int | None, critical: int | None) -> None:
    if low is not None and critical is not None and critical > low:
        raise PydanticCustomError(
            "critical_above_low",
            "critical_threshold is above low_threshold",
            {"low": low, "critical": critical},
        )


# --- views --------------------------------------------------------------------


def item_json(item: StockItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "event_id": item.event_id,
        "name": item.name,
        "unit": item.unit,
        "location": item.location,
        "quantity": item.quantity,
        "low_threshold": item.low_threshold,
        "critical_threshold": item.critical_threshold,
        "level": stock_level(item.quantity, item.low_threshold, item.critical_threshold),
        "updated_at": iso(item.updated_at),
    }


def movement_json(movement: StockMovement) -> dict[str, Any]:
    return {
        "id": movement.id,
        "event_id": movement.event_id,
        "kind": movement.kind,
        "item": movement.item_id,
        "delta": movement.delta,
        "quantity_after": movement.quantity_after,
        "to_item": movement.to_item_id,
        "to_quantity_after": movement.to_quantity_after,
        "reason": movement.reason,
        "nonce": movement.nonce,
        "actor": {"id": movement.actor_id, "name": movement.actor_name},
        "occurred_at": iso(movement.occurred_at),
        "recorded_at": iso(movement.recorded_at),
    }


# --- service --------------------------------------------------------------------


@dataclass(frozen=True)
class MovementResult:
    #: The answer to send: the first one again for a repeated nonce.
    response: dict[str, Any]
    repeated: bool
    #: True when the movement raised a threshold alert.
    alerted: bool


async def _item(
    session: AsyncSession, event_id: int, item_id: int, *, lock: bool = False
) -> StockItem:
    item = await session.get(StockItem, item_id, with_for_update=lock, populate_existing=lock)
    if item is None or item.event_id != event_id:
        raise NotFound(f"No stock item {item_id}.", {"item": item_id}, code="unknown_item")
    return item


async def _name_taken(session: AsyncSession, event_id: int, name: str, location: str) -> bool:
    found = await session.scalar(
        select(StockItem.id).where(
            StockItem.event_id == event_id, StockItem.name == name, StockItem.location == location
        )
    )
    return found is not None


async def create_item(
    db: Database, event_id: int, body: ItemIn, actor: Principal
) -> tuple[dict[str, Any], bool]:
    """Add an item; its opening quantity enters the ledger as a ``receive``.

    Returns the item and whether it is at or below a threshold already.
    """
    async with db.writing() as session:
        await get_event(session, event_id)
        if await _name_taken(session, event_id, body.name, body.location):
            raise Conflict(
                f"{body.name!r} at {body.location!r} exists already.",
                {"name": body.name, "location": body.location},
                code="duplicate_item",
            )
        item = StockItem(
            event_id=event_id,
            name=body.name,
            unit=body.unit,
            location=body.location,
            quantity=body.quantity,
            low_threshold=body.low_threshold,
            critical_threshold=body.critical_threshold,
        )
        session.add(item)
        await session.flush()
        now = utcnow()
        if body.quantity:
            session.add(
                StockMovement(
                    event_id=event_id,
                    kind=RECEIVE,
                    item_id=item.id,
                    delta=body.quantity,
                    quantity_after=body.quantity,
                    reason="opening stock",
                    nonce=f"item-{item.id}-opening",
                    actor_id=actor.account_id,
                    actor_name=actor.name,
                    occurred_at=now,
                    recorded_at=now,
                )
            )
        alerted = await _check_threshold(session, item)
    return item_json(item), alerted


async def update_item(
    db: Database, event_id: int, item_id: int, body: ItemPatch
) -> tuple[dict[str, Any], bool]:
    """Rename, move or re-threshold an item (never its quantity: that is a movement)."""
    changes = body.model_dump(exclude_unset=True)
    async with db.writing() as session:
        item = await _item(session, event_id, item_id, lock=True)
        for key in ("name", "unit", "location"):
            if changes.get(key) is not None:
                setattr(item, key, changes[key])
        for key in ("low_threshold", "critical_threshold"):
            if key in changes:
                setattr(item, key, changes[key])
        try:
            _check_thresholds(item.low_threshold, item.critical_threshold)
        except ValueError as exc:
            raise InvalidRequest(
                str(exc),
                {"low": item.low_threshold, "critical": item.critical_threshold},
                code="critical_above_low",
            ) from None
        if {"name", "location"} & changes.keys():
            # Not flushed first: the new name would meet the unique key
            # before this check could answer 409 (an IntegrityError, a 500).
            with session.no_autoflush:
                clash = await session.scalar(
                    select(StockItem.id).where(
                        StockItem.event_id == event_id,
                        StockItem.name == item.name,
                        StockItem.location == item.location,
                        StockItem.id != item.id,
                    )
                )
            if clash is not None:
                raise Conflict(
                    f"{item.name!r} at {item.location!r} exists already.",
                    {"name": item.name, "location": item.location},
                    code="duplicate_item",
                )
        item.updated_at = utcnow()
        alerted = await _check_threshold(session, item)
    return item_json(item), alerted


async def _check_threshold(session: AsyncSession, item: StockItem) -> bool:
    level = stock_level(item.quantity, item.low_threshold, item.critical_threshold)
    kind = threshold_alert(item.alert_level, level)
    item.alert_level = level
    if kind is None:
        return False
    threshold = item.critical_threshold if level == CRITICAL else item.low_threshold
    alert = await raise_alert(
        session,
        item.event_id,
        kind,
        severity="critical" if level == CRITICAL else "warning",
        data={
            "item": item.id,
            "name": item.name,
            "location": item.location,
            "quantity": item.quantity,
            "unit": item.unit,
            "threshold": threshold,
            "level": level,
        },
        dedupe_key=f"stock:{item.id}:{kind}",
    )
    return alert is not None


async def _destination(session: AsyncSession, source: StockItem, body: MovementIn) -> StockItem:
    if body.to_item is not None:
        target = await _item(session, source.event_id, body.to_item)
    else:
        location = body.to_location or ""
        target_or_none = await session.scalar(
            select(StockItem).where(
                StockItem.event_id == source.event_id,
                StockItem.name == source.name,
                StockItem.location == location,
            )
        )
        if target_or_none is None:
            # Two phones creating the same destination at once: one insert
            # loses on the unique constraint and the whole movement is retried.
            target_or_none = StockItem(
                event_id=source.event_id,
                name=source.name,
                unit=source.unit,
                location=location,
                quantity=0,
                low_threshold=source.low_threshold,
                critical_threshold=source.critical_threshold,
            )
            session.add(target_or_none)
            await session.flush()
        target = target_or_none
    if target.id == source.id:
        raise InvalidRequest("A transfer must go to another item.", code="same_item")
    if target.name != source.name or target.unit != source.unit:
        raise InvalidRequest(
            "A transfer must go to the same item at another location.", code="different_item"
        )
    return target


async def _lock_items(session: AsyncSession, event_id: int, ids: list[int]) -> dict[int, StockItem]:
    # Always in id order: two transfers between the same two items in
    # opposite directions would otherwise deadlock.
    items = {}
    for item_id in sorted(set(ids)):
        items[item_id] = await _item(session, event_id, item_id, lock=True)
    return items


async def _stored_answer(session: AsyncSession, event_id: int, nonce: str) -> dict[str, Any] | None:
    movement = await session.scalar(
        select(StockMovement).where(
            StockMovement.event_id == event_id, StockMovement.nonce == nonce
        )
    )
    return None if movement is None else movement.response


async def record_movement(
    db: Database, event_id: int, body: MovementIn, actor: Principal
) -> MovementResult:
    """Apply one movement exactly once per nonce, or refuse it with a stable code."""
    for _attempt in range(3):
        try:
            return await _record_once(db, event_id, body, actor)
        except IntegrityError:
            # Another request with this nonce (for another item) committed
            # first, or a concurrent transfer created the same destination.
            async with db.reading() as session:
                stored = await _stored_answer(session, event_id, body.nonce)
            if stored is not None:
                return MovementResult({**stored, "repeated": True}, True, False)
    raise Conflict("The movement clashed with others; send it again.", code="retry")


async def _record_once(
    db: Database, event_id: int, body: MovementIn, actor: Principal
) -> MovementResult:
    async with db.writing() as session:
        stored = await _stored_answer(session, event_id, body.nonce)
        if stored is not None:
            return MovementResult({**stored, "repeated": True}, True, False)
        source = await _item(session, event_id, body.item)
        target = await _destination(session, source, body) if body.kind == TRANSFER else None
        items = await _lock_items(session, event_id, [source.id] + ([target.id] if target else []))
        # The nonce again, now that we hold the lock: a resend that queued
        # behind its own first attempt finds the first answer here.
        stored = await _stored_answer(session, event_id, body.nonce)
        if stored is not None:
            return MovementResult({**stored, "repeated": True}, True, False)
        source = items[source.id]
        delta = movement_delta(body.kind, body.quantity)
        refused = refusal(body.kind, delta, source.quantity, body.reason)
        if refused is not None:
            raise Conflict(
                f"Only {source.quantity} {source.unit} of {source.name} on hand.".replace(
                    "  ", " "
                ),
                {
                    "item": source.id,
                    "name": source.name,
                    "unit": source.unit,
                    "available": source.quantity,
                    "requested": -delta,
                },
                code=refused,
            )
        for over in (source, items[target.id] if target is not None else None):
            change = delta if over is source else -delta
            if over is not None and past_limit(over.quantity, change):
                raise Conflict(
                    f"{over.name} cannot hold more than {MAX_COUNT}.",
                    {"item": over.id, "name": over.name, "max": MAX_COUNT},
                    code=STOCK_OVER_LIMIT,
                )
        now = utcnow()
        source.quantity += delta
        source.updated_at = now
        movement = StockMovement(
            event_id=event_id,
            kind=body.kind,
            item_id=source.id,
            delta=delta,
            quantity_after=source.quantity,
            reason=body.reason,
            nonce=body.nonce,
            actor_id=actor.account_id,
            actor_name=actor.name,
            occurred_at=body.occurred_at or now,
            recorded_at=now,
        )
        if target is not None:
            target = items[target.id]
            target.quantity -= delta
            target.updated_at = now
            movement.to_item_id = target.id
            movement.to_quantity_after = target.quantity
        session.add(movement)
        await session.flush()
        alerted = await _check_threshold(session, source)
        if target is not None:
            alerted = await _check_threshold(session, target) or alerted
        response = {
            "movement": movement_json(movement),
            "item": item_json(source),
            "to_item": item_json(target) if target is not None else None,
            "repeated": False,
        }
        movement.response = response
    return MovementResult(response, False, alerted)


async def list_items(db: Database, event_id: int) -> list[dict[str, Any]]:
    async with db.reading() as session:
        await get_event(session, event_id)
        items = await session.scalars(
            select(StockItem)
            .where(StockItem.event_id == event_id)
            .order_by(StockItem.name, StockItem.location, StockItem.id)
        )
        return [item_json(i) for i in items]


async def read_item(db: Database, event_id: int, item_id: int) -> dict[str, Any]:
    async with db.reading() as session:
        return item_json(await _item(session, event_id, item_id))


async def list_movements(
    db: Database,
    event_id: int,
    *,
    item_id: int | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The ledger, newest first; ``before`` (a movement id) pages back."""
    query = select(StockMovement).where(StockMovement.event_id == event_id)
    if item_id is not None:
        query = query.where(
            or_(StockMovement.item_id == item_id, StockMovement.to_item_id == item_id)
        )
    if before is not None:
        query = query.where(StockMovement.id < before)
    query = query.order_by(StockMovement.id.desc()).limit(limit)
    async with db.reading() as session:
        await get_event(session, event_id)
        return [movement_json(m) for m in await session.scalars(query)]


async def stock_snapshot(db: Database, event_id: int) -> dict[str, Any]:
    """What the ``stock`` state topic shows: every item with its level."""
    async with db.reading() as session:
        items = [
            item_json(i)
            for i in await session.scalars(
                select(StockItem)
                .where(StockItem.event_id == event_id)
                .order_by(StockItem.name, StockItem.location, StockItem.id)
            )
        ]
    return {
        "items": items,
        "low": sum(1 for i in items if i["level"] == LOW),
        "critical": sum(1 for i in items if i["level"] == CRITICAL),
        "at": iso(utcnow()),
    }
