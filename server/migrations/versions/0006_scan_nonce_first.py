"""scans: the nonce leads its unique key, so the door line's read can keep its plan

The door line looks up each scan's nonce in the scan log. With the unique
key as (event_id, nonce), a plan made while the log was empty may walk the
(event_id, ticket_id) index and filter on the nonce instead, which grows
with the log; so that read was planned afresh on every batch (~0.3 ms).
With (nonce, event_id), a lookup by nonce alone can only take this index.
ON CONFLICT (event_id, nonce) infers the same key in either order.

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


def downgrade() -> None:
    with op.batch_alter_table("scans") as batch:
        batch.drop_constraint("uq_scans_nonce_event", type_="unique")
        batch.create_unique_constraint("uq_scans_event_nonce", ["event_id", "nonce"])
