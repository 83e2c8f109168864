"""THE exactly-once condition, written once for every statement that moves a ticket.

A ticket is moved only if it still holds what the decision was taken on:
its zone, its first admission, its generation, its type and a valid
status. When another door moved it meanwhile, the statement changes
nothing and its caller decides again on a fresh read. PostgreSQL re-checks
the condition on the newest row version after waiting for a concurrent
writer (READ COMMITTED), and SQLite writes one statement at a time, so of
two doors racing on one ticket exactly one moves it.

``tests/checkin/test_admission_race.py`` turns ``GUARD_TICKET_STATE`` off
and watches tickets get admitted twice; every statement built with
``ticket_guard`` reads it when it runs.
"""

from __future__ import annotations

#: The protection the race test removes.
GUARD_TICKET_STATE = True


def ticket_guard(
    ticket: str,
    *,
    zone: str,
    checked_in: str,
    generation: str,
    type_id: str,
    same: str = "IS NOT DISTINCT FROM",
) -> str:
    """The condition on the ticket row ``ticket`` (a table or alias) as SQL.

    The other arguments are the SQL of what the decision saw (parameters or
    columns); ``same`` is the database's null-safe equality ("IS" on SQLite).
    """
    return (
        f"{ticket}.zone_id {same} {zone}"
        f" AND {ticket}.checked_in_at {same} {checked_in}"
        f" AND {ticket}.generation = {generation}"
        f" AND {ticket}.type_id = {type_id}"
        f" AND {ticket}.status = 'valid'"
    )
