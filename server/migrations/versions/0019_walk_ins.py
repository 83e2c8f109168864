"""walk_ins: blank walk-in tickets held by supervisor phones, and registrations

``walk_in_blanks`` (a ticket of status ``blank``, the phone holding it, when
it was given and bound) and ``walk_ins`` (each registration a phone sent,
once per (event, nonce): the person's name and contact, bound or a conflict).

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def _event_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["event_id"], ["events.id"], name=f"fk_{table}_event_id_events", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "walk_in_blanks",
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("given_at", When, nullable=False),
        sa.Column("bound_at", When, nullable=True),
        _event_fk("walk_in_blanks"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_walk_in_blanks_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_walk_in_blanks"),
    )
    op.create_index("ix_walk_in_blanks_device", "walk_in_blanks", ["device_id", "bound_at"])
    op.create_table(
        "walk_ins",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=True),
        sa.Column("gate_id", sa.BigInteger(), nullable=True),
        sa.Column("holder_name", sa.String(200), nullable=False),
        sa.Column("holder_email", sa.String(320), nullable=False),
        sa.Column("holder_phone", sa.String(40), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("registered_at", When, nullable=False),
        sa.Column("received_at", When, nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("conflict_with", sa.BigInteger(), nullable=True),
        sa.Column("mailing_id", sa.BigInteger(), nullable=True),
        _event_fk("walk_ins"),
        sa.PrimaryKeyConstraint("id", name="pk_walk_ins"),
        sa.UniqueConstraint("nonce", "event_id", name="uq_walk_ins_nonce_event"),
    )
    op.create_index("ix_walk_ins_event_received", "walk_ins", ["event_id", "received_at"])
    op.create_index("ix_walk_ins_ticket", "walk_ins", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("walk_ins")
    op.drop_table("walk_in_blanks")
