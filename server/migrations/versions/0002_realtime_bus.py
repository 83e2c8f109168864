"""realtime: the bus epoch and door devices' live status

Revision ID: 0002
Revises: 0001
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    epoch = op.create_table(
        "bus_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bus_epoch")),
    )
    # Made once with the schema: offsets (table ids) of this database.
    op.bulk_insert(epoch, [{"id": 1, "epoch": uuid.uuid4().hex[:16]}])
    op.create_table(
        "device_status",
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("gate_id", sa.BigInteger(), nullable=True),
        sa.Column("connection", sa.String(length=32), nullable=True),
        sa.Column("last_seen_at", server.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("queue_length", sa.Integer(), nullable=False),
        sa.Column(
            "queue_reported_at", server.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_device_status_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_device_status_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_device_status")),
    )
    with op.batch_alter_table("device_status", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_status_event_id"), ["event_id"], unique=False)
    # The scan reader of every process reads "scans with id > n" and the
    # revocation reader "revocations with id > n": the primary keys serve.


def downgrade() -> None:
    with op.batch_alter_table("device_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_status_event_id"))
    op.drop_table("device_status")
    op.drop_table("bus_epoch")
