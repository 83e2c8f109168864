"""retention: the event's policy and shred state, and the audit trail

``events.retention_days`` (None: ``MUSTER_RETENTION_DAYS``),
``events.shred_claimed_at`` / ``events.shredded_at`` (the shred's claim and
its end), and ``audit_entries`` (exports, erasures, shreds; no personal data).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("shred_claimed_at", When, nullable=True))
        batch.add_column(sa.Column("shredded_at", When, nullable=True))
    op.create_table(
        "audit_entries",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_event", "audit_entries", ["event_id", "id"])


def downgrade() -> None:
    op.drop_table("audit_entries")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("shredded_at")
        batch.drop_column("shred_claimed_at")
        batch.drop_column("retention_days")
