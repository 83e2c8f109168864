"""evacuation roll-call: assembly points, evacuations, the roll and its accounts

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def _event_id(table: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "event_id",
        BigId,
        sa.ForeignKey("events.id", ondelete="CASCADE", name=f"fk_{table}_event_id_events"),
        nullable=False,
    )


def _evacuation_id(table: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "evacuation_id",
        BigId,
        sa.ForeignKey(
            "evacuations.id", ondelete="CASCADE", name=f"fk_{table}_evacuation_id_evacuations"
        ),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "muster_points",
        sa.Column("id", BigId, primary_key=True),
        _event_id("muster_points"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("zone_ids", sa.JSON(), nullable=False),
        sa.Column("map_note", sa.String(500), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_muster_points"),
    )
    op.create_index("ix_muster_points_event_id", "muster_points", ["event_id"])
    op.create_table(
        "evacuations",
        sa.Column("id", BigId, primary_key=True),
        _event_id("evacuations"),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("zone_ids", sa.JSON(), nullable=True),
        sa.Column("message", sa.String(1000), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("started_at", When, nullable=False),
        sa.Column("started_by", sa.BigInteger(), nullable=True),
        sa.Column("ended_at", When, nullable=True),
        sa.Column("ended_by", sa.BigInteger(), nullable=True),
        sa.Column("scans_checked_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evacuations"),
    )
    op.create_index("ix_evacuations_event", "evacuations", ["event_id", "started_at"])
    op.create_table(
        "evacuation_people",
        sa.Column("id", BigId, primary_key=True),
        _evacuation_id("evacuation_people"),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("zone_id", sa.BigInteger(), nullable=True),
        sa.Column("last_gate_id", sa.BigInteger(), nullable=True),
        sa.Column("last_seen_at", When, nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("added_at", When, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("accounted_at", When, nullable=True),
        sa.Column("point_id", sa.BigInteger(), nullable=True),
        sa.Column("status_at", When, nullable=True),
        sa.Column("recorded_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_evacuation_people"),
        sa.UniqueConstraint("evacuation_id", "ticket_id", name="uq_evacuation_people_ticket"),
        sa.UniqueConstraint("evacuation_id", "staff_id", name="uq_evacuation_people_staff"),
    )
    op.create_index("ix_evacuation_people_status", "evacuation_people", ["evacuation_id", "status"])
    op.create_table(
        "evacuation_accounts",
        sa.Column("id", BigId, primary_key=True),
        _evacuation_id("evacuation_accounts"),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("point_id", sa.BigInteger(), nullable=True),
        sa.Column("device_id", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", When, nullable=False),
        sa.Column("received_at", When, nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evacuation_accounts"),
        sa.UniqueConstraint("nonce", "evacuation_id", name="uq_evacuation_accounts_nonce"),
    )
    op.create_index(
        "ix_evacuation_accounts_evacuation_id", "evacuation_accounts", ["evacuation_id"]
    )


def downgrade() -> None:
    op.drop_table("evacuation_accounts")
    op.drop_table("evacuation_people")
    op.drop_table("evacuations")
    op.drop_table("muster_points")
