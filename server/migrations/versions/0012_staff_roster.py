"""staff roster: people, their duty shifts, and phones paired to a person

``staff`` (name, phone, team, role, supervisor flag, zone or gate),
``duty_shifts`` (one period on duty, where), and ``staff_id`` on
``accounts`` and ``pairing_codes`` (a phone paired with a code made for a
member is that member's).

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("team", sa.String(40), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("supervisor", sa.Boolean(), nullable=False),
        sa.Column("zone_id", sa.BigInteger(), nullable=True),
        sa.Column("gate_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_staff_event_id_events", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_staff"),
    )
    op.create_index("ix_staff_event_id", "staff", ["event_id"])
    op.create_table(
        "duty_shifts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("staff_id", BigId, nullable=False),
        sa.Column("zone_id", sa.BigInteger(), nullable=True),
        sa.Column("gate_id", sa.BigInteger(), nullable=True),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("started_at", When, nullable=False),
        sa.Column("ended_at", When, nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_duty_shifts_event_id_events", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name="fk_duty_shifts_staff_id_staff", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_duty_shifts"),
    )
    op.create_index("ix_duty_shifts_event_started", "duty_shifts", ["event_id", "started_at"])
    op.create_index("ix_duty_shifts_staff_id", "duty_shifts", ["staff_id"])
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("staff_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("pairing_codes") as batch:
        batch.add_column(sa.Column("staff_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pairing_codes") as batch:
        batch.drop_column("staff_id")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("staff_id")
    op.drop_table("duty_shifts")
    op.drop_table("staff")
