"""broadcasts: messages to an audience with read receipts; plans confirmed

``broadcasts`` (text in zh and en, priority, audience as JSON, an optional
emergency plan, whether an acknowledgement is asked), ``broadcast_acks``
(one per broadcast and phone) and ``plan_acks`` (one per plan and roster
member).

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("text_zh", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=True),
        sa.Column("ack_required", sa.Boolean(), nullable=False),
        sa.Column("sent_by", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", When, nullable=False),
        sa.Column("resent_at", When, nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_broadcasts_event_id_events", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_broadcasts"),
    )
    op.create_index("ix_broadcasts_event_sent", "broadcasts", ["event_id", "sent_at"])
    op.create_table(
        "broadcast_acks",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("broadcast_id", BigId, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("acked_at", When, nullable=False),
        sa.Column("received_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name="fk_broadcast_acks_broadcast_id_broadcasts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_broadcast_acks"),
        sa.UniqueConstraint("broadcast_id", "account_id", name="uq_broadcast_acks_broadcast_id"),
    )
    op.create_index("ix_broadcast_acks_broadcast_id", "broadcast_acks", ["broadcast_id"])
    op.create_table(
        "plan_acks",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("plan_id", BigId, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("acked_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["emergency_plans.id"],
            name="fk_plan_acks_plan_id_emergency_plans",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_plan_acks"),
        sa.UniqueConstraint("plan_id", "staff_id", name="uq_plan_acks_plan_id"),
    )
    op.create_index("ix_plan_acks_event_id", "plan_acks", ["event_id"])


def downgrade() -> None:
    op.drop_table("plan_acks")
    op.drop_table("broadcast_acks")
    op.drop_table("broadcasts")
