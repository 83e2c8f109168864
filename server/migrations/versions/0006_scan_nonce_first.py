"""scans: lookups by nonce and by ticket each have an index led by that column

The door line and the offline sync look scans up by nonce and by ticket.
With the unique key as (event_id, nonce) and the ticket index as
(event_id, ticket_id), PostgreSQL without fresh statistics (a log that grew
from nothing during the rush) walked every scan of the event through an
index on event_id and filtered: 17–25 ms a sync batch at 130,000 scans,
growing with the log, and a door-line read that had to be planned afresh
on every batch. With (nonce, event_id) and (ticket_id) — ticket ids are
unique across events — a lookup by nonce or ticket alone can only take its
own index, and the event is checked on the rows found. ON CONFLICT
(event_id, nonce) infers the same key in either order.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scans") as batch:
        batch.drop_constraint("uq_scans_event_nonce", type_="unique")
        batch.create_unique_constraint("uq_scans_nonce_event", ["nonce", "event_id"])
        batch.drop_index("ix_scans_event_ticket")
        batch.create_index("ix_scans_ticket", ["ticket_id"])


def downgrade() -> None:
    with op.batch_alter_table("scans") as batch:
        batch.drop_index("ix_scans_ticket")
        batch.create_index("ix_scans_event_ticket", ["event_id", "ticket_id"])
        batch.drop_constraint("uq_scans_nonce_event", type_="unique")
        batch.create_unique_constraint("uq_scans_event_nonce", ["event_id", "nonce"])
