"""Accounts of an evacuation: people accounted at assembly points, merged once.

The merge rule is ``roll_call.merge_account``; this module finds whom each
account names, claims its nonce and applies the merge under the person's
row lock.

A phone's batch is one transaction of a fixed number of statements, however
many accounts it carries: the nonces answered before, whom the accounts
name (by roll entry, QR secret or ticket; people off the roll join it as
found), the nonces claimed in one INSERT, the people locked in one
``SELECT … FOR UPDATE`` (in id order, so two batches do not deadlock), the
merged people and the answers written back with one executemany each.
Measured with ``bench.evacuation`` (40 phones, batches of 25): one statement
per step of every account (six an account) kept the event loop and the pool
busy, so the ``evacuation`` topic's snapshot waited seconds for a connection.

Exactly once: the nonce is claimed before the merge. Of two requests with
one nonce the second's INSERT waits for the first's transaction and then
claims nothing, so it merges nothing and answers the first answer. Two
phones accounting one person merge one after the other under the row lock
(``lock_people``; ``tests/server/test_evacuation_race.py`` shows merges lost
without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.secrets import secret_text
from server.auth import Principal
from server.db import Database, dialect_name
from server.features import roll_call
from server.features.evacuations import CLOCK_SKEW, PERSON_COLUMNS, evacuation_in, person_json
from server.features.roll_call import Accounting
from server.fields import DbInt, Text, UtcDatetime
from server.models import (
    Evacuation,
    EvacuationAccount,
    EvacuationPerson,
    MusterPoint,
    Ticket,
    utcnow,
)

# --- request bodies ---------------------------------------------------------


class AccountIn(BaseModel):
    """One person accounted at a point: by the QR on their badge or ticket,
    by their ticket or roll entry (found by name), or by name alone (found)."""

    nonce: Annotated[Text, Field(min_length=1, max_length=64)]
    status: Literal["safe", "left_earlier", "needs_help"] = "safe"
    secret: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    ticket: DbInt | None = None
    person: DbInt | None = None
    #: For someone with no ticket and not on the roll (a walk-in): added as found.
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    point: DbInt | None = None
    occurred_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _one_way_to_name_them(self) -> AccountIn:
        given = [x for x in (self.secret, self.ticket, self.person) if x is not None]
        if len(given) > 1:
            raise ValueError("give one of secret, ticket and person")
        if not given and self.name is None:
            raise ValueError("give secret, ticket, person or name")
        return self


class AccountsIn(BaseModel):
    accounts: Annotated[list[AccountIn], Field(min_length=1, max_length=500)]


@dataclass
class AccountsResult:
    results: list[dict[str, Any]]
    changed: bool


# --- the people an account names ---------------------------------------------


def people_query(person_ids: list[int]) -> Any:
    return select(*PERSON_COLUMNS).where(EvacuationPerson.id.in_(person_ids))


async def lock_people(session: AsyncSession, person_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The people's rows, locked until the transaction ends (the merge's guard),
    taken in id order; each as a dict of ``PERSON_COLUMNS`` by name."""
    rows = await session.execute(
        people_query(person_ids).order_by(EvacuationPerson.id).with_for_update()
    )
    return {row.id: dict(row._mapping) for row in rows}


def _refused(nonce: str, reason: str) -> dict[str, Any]:
    return {"nonce": nonce, "status": "error", "reason": reason, "person": None}


def _insert_for(session: AsyncSession) -> Any:
    return pg_insert if dialect_name(session) == "postgresql" else sqlite_insert


def _found_row(
    evacuation_id: int, now: datetime, ticket_id: int | None, name: str
) -> dict[str, Any]:
    """A roll row for someone accounted who was not on it (a walk-in, a staff member)."""
    return {
        "evacuation_id": evacuation_id,
        "ticket_id": ticket_id,
        "name": name,
        "reason": roll_call.FOUND,
        "added_at": now,
        "status": roll_call.MISSING,
    }


async def _people_of_tickets(
    session: AsyncSession, evacuation_id: int, tickets: dict[int, str], now: datetime
) -> dict[int, int]:
    """ticket id -> roll entry, the tickets not on the roll added as found
    (in ticket order; one another transaction added first is left alone)."""
    if not tickets:
        return {}

    async def on_roll() -> dict[int, int]:
        rows = await session.execute(
            select(EvacuationPerson.ticket_id, EvacuationPerson.id).where(
                EvacuationPerson.evacuation_id == evacuation_id,
                EvacuationPerson.ticket_id.in_(list(tickets)),
            )
        )
        return {ticket_id: person_id for ticket_id, person_id in rows if ticket_id is not None}

    found = await on_roll()
    absent = sorted(set(tickets) - set(found))
    if absent:
        await session.execute(
            _insert_for(session)(EvacuationPerson)
            .values([_found_row(evacuation_id, now, t, tickets[t]) for t in absent])
            .on_conflict_do_nothing(index_elements=["evacuation_id", "ticket_id"])
        )
        found = await on_roll()
    return found


async def _find_people(
    session: AsyncSession, evacuation: Evacuation, items: list[AccountIn], now: datetime
) -> list[int | str]:
    """For each item its person id, or the reason it is refused (a str).

    A ticket not on the roll joins it as found; a name alone is a new person
    every time (nobody can tell two walk-ins of one name apart).
    """
    persons = {i.person for i in items if i.person is not None}
    secrets = {secret_text(i.secret) for i in items if i.secret is not None}
    ticket_ids = {i.ticket for i in items if i.ticket is not None}
    known_people: set[int] = set()
    if persons:
        known_people = set(
            await session.scalars(
                select(EvacuationPerson.id).where(
                    EvacuationPerson.evacuation_id == evacuation.id,
                    EvacuationPerson.id.in_(persons),
                )
            )
        )
    by_secret: dict[str, int] = {}
    names: dict[int, str] = {}
    if secrets or ticket_ids:
        rows = await session.execute(
            select(Ticket.id, Ticket.secret, Ticket.holder_name).where(
                Ticket.event_id == evacuation.event_id,
                or_(Ticket.secret.in_(secrets), Ticket.id.in_(ticket_ids)),
            )
        )
        for ticket_id, secret, holder_name in rows:
            names[ticket_id] = holder_name
            if secret in secrets:
                by_secret[secret] = ticket_id
    wanted: dict[int, str] = {}
    for item in items:
        named = by_secret.get(secret_text(item.secret)) if item.secret else item.ticket
        if named is not None and named in names:
            wanted[named] = names[named]
    roll_of = await _people_of_tickets(session, evacuation.id, wanted, now)
    found: list[int | str] = []
    for item in items:
        if item.person is not None:
            found.append(item.person if item.person in known_people else "unknown_person")
        elif item.secret is not None:
            by = by_secret.get(secret_text(item.secret))
            found.append("invalid" if by is None else roll_of[by])
        elif item.ticket is not None:
            found.append(roll_of[item.ticket] if item.ticket in names else "unknown_ticket")
        else:  # a name alone: someone with no ticket, found at a point
            person_id = await session.scalar(
                insert(EvacuationPerson)
                .values(_found_row(evacuation.id, now, None, item.name or ""))
                .returning(EvacuationPerson.id)
            )
            assert person_id is not None
            found.append(person_id)
    return found


# --- the merge ------------------------------------------------------------------


async def _earlier_answers(
    session: AsyncSession, evacuation_id: int, nonces: set[str]
) -> dict[str, dict[str, Any]]:
    if not nonces:
        return {}
    rows = await session.execute(
        select(EvacuationAccount.nonce, EvacuationAccount.response).where(
            EvacuationAccount.evacuation_id == evacuation_id,
            EvacuationAccount.nonce.in_(nonces),
        )
    )
    return {nonce: {**(response or {}), "repeated": True} for nonce, response in rows}


async def _account_all(
    db: Database,
    evacuation_id: int,
    items: list[AccountIn],
    principal: Principal,
    points: set[int],
) -> tuple[list[dict[str, Any]], bool]:
    """Every item in one transaction (all or nothing): (answers in item order, changed)."""
    answers: list[dict[str, Any] | None] = [None] * len(items)
    async with db.writing() as session:
        evacuation = await session.get(Evacuation, evacuation_id)
        assert evacuation is not None
        if evacuation.ended_at is not None:
            return [_refused(i.nonce, "evacuation_ended") for i in items], False
        now = utcnow()
        earlier = await _earlier_answers(session, evacuation.id, {i.nonce for i in items})
        todo: list[int] = []
        first_of: dict[str, int] = {}  # a nonce twice in one batch: the second repeats the first
        for k, item in enumerate(items):
            if item.nonce in earlier:
                answers[k] = earlier[item.nonce]
            elif item.nonce in first_of:
                continue
            elif item.point is not None and item.point not in points:
                answers[k] = _refused(item.nonce, "unknown_point")
            else:
                first_of[item.nonce] = k
                todo.append(k)
        found = await _find_people(session, evacuation, [items[k] for k in todo], now)
        claims: list[tuple[int, int, datetime]] = []  # (item, person, when)
        for k, person in zip(todo, found, strict=True):
            if isinstance(person, str):
                answers[k] = _refused(items[k].nonce, person)
            else:
                # The phone's clock says when; bounded to the evacuation and a
                # little skew, so a phone set wrong cannot bend the report's times.
                at = min(max(items[k].occurred_at or now, evacuation.started_at), now + CLOCK_SKEW)
                claims.append((k, person, at))
        changed = await _merge(session, evacuation, items, claims, principal, now, answers)
    for k, item in enumerate(items):
        if answers[k] is None:  # a nonce repeated in the batch
            first = answers[first_of[item.nonce]]
            assert first is not None
            answers[k] = {**first, "repeated": True} if first["status"] == "ok" else first
    return [a for a in answers if a is not None], changed  # all filled by now


async def _merge(
    session: AsyncSession,
    evacuation: Evacuation,
    items: list[AccountIn],
    claims: list[tuple[int, int, datetime]],
    principal: Principal,
    now: datetime,
    answers: list[dict[str, Any] | None],
) -> bool:
    """Claim the nonces, merge the claimed accounts into their locked people,
    write both back; fills ``answers``; True when a person changed."""
    if not claims:
        return False
    # The nonces first: of two requests with one nonce, the second's insert
    # waits for the first's transaction, claims nothing and merges nothing.
    claimed = dict(
        (
            await session.execute(
                _insert_for(session)(EvacuationAccount)
                .values(
                    [
                        {
                            "evacuation_id": evacuation.id,
                            "nonce": items[k].nonce,
                            "person_id": person_id,
                            "status": items[k].status,
                            "point_id": items[k].point,
                            "device_id": principal.account_id,
                            "occurred_at": at,
                            "received_at": now,
                            "response": {},
                        }
                        for k, person_id, at in claims
                    ]
                )
                .on_conflict_do_nothing(index_elements=["nonce", "evacuation_id"])
                .returning(EvacuationAccount.nonce, EvacuationAccount.id)
            )
        ).all()
    )
    taken = {items[k].nonce for k, _p, _at in claims if items[k].nonce not in claimed}
    earlier = await _earlier_answers(session, evacuation.id, taken)
    mine = [(k, p, at) for k, p, at in claims if items[k].nonce in claimed]
    people = await lock_people(session, sorted({p for _k, p, _at in mine}))
    dirty: set[int] = set()
    responses: list[dict[str, Any]] = []
    for k, person_id, at in claims:
        nonce = items[k].nonce
        if nonce not in claimed:
            answers[k] = earlier.get(nonce, {**_refused(nonce, "unknown_person"), "repeated": True})
            continue
        person = people[person_id]
        before = Accounting(
            person["status"], person["accounted_at"], person["point_id"], person["status_at"]
        )
        after = roll_call.merge_account(before, items[k].status, at, items[k].point)
        if after != before:
            person.update(
                status=after.status,
                accounted_at=after.first_at,
                point_id=after.point_id,
                status_at=after.status_at,
                recorded_at=person["recorded_at"] or now,
            )
            dirty.add(person_id)
        answer = {
            "nonce": nonce,
            "status": "ok",
            "reason": None,
            "first": before.first_at is None,
            "person": person_json(person),
        }
        answers[k] = answer
        responses.append({"id": claimed[nonce], "response": answer})
    if dirty:
        await session.execute(
            update(EvacuationPerson),
            [
                {
                    "id": p,
                    "status": people[p]["status"],
                    "accounted_at": people[p]["accounted_at"],
                    "point_id": people[p]["point_id"],
                    "status_at": people[p]["status_at"],
                    "recorded_at": people[p]["recorded_at"],
                }
                for p in sorted(dirty)
            ],
        )
    if responses:
        await session.execute(update(EvacuationAccount), responses)
    return bool(dirty)


def _lock_order(item: AccountIn) -> tuple[int, str]:
    """Batches name their people in one order (the locks themselves are taken
    in id order); a batch that deadlocks anyway goes one by one."""
    if item.person is not None:
        return 0, f"{item.person:020d}"
    if item.ticket is not None:
        return 1, f"{item.ticket:020d}"
    return 2, item.secret or item.name or ""


async def record_accounts(
    db: Database, evacuation_id: int, event_id: int, items: list[AccountIn], principal: Principal
) -> AccountsResult:
    """Merge accounts into the roll, each once per nonce; one bad item harms no other.

    A batch is one transaction of a few statements (see the module's
    docstring); if it fails as a whole (a deadlock with another phone's
    batch, a lost connection), its accounts are retried one by one, each in
    its own transaction, so only a culprit fails.
    """
    async with db.reading() as session:
        evacuation = await evacuation_in(session, evacuation_id, event_id)
        points = set(
            await session.scalars(
                select(MusterPoint.id).where(MusterPoint.event_id == evacuation.event_id)
            )
        )
    order = sorted(range(len(items)), key=lambda i: _lock_order(items[i]))
    try:
        answers, changed = await _account_all(
            db, evacuation_id, [items[i] for i in order], principal, points
        )
    except DBAPIError:
        if len(items) == 1:
            raise
        answers, changed = [], False
        for i in order:
            one, one_changed = await _account_all(db, evacuation_id, [items[i]], principal, points)
            answers.extend(one)
            changed = changed or one_changed
    results: list[dict[str, Any]] = [{}] * len(items)
    for position, answer in zip(order, answers, strict=True):
        results[position] = answer
    return AccountsResult(results, changed)
