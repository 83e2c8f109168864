"""ticket mail: mailings and per-ticket deliveries; languages and the event's place

``events.language`` (the mail language of attendees who chose none),
``events.location`` (printed in mail and calendar entries),
``tickets.language`` ("" = the event's), and the two tables of mail jobs.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default="zh"))
        batch.add_column(sa.Column("location", sa.String(300), nullable=False, server_default=""))
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default=""))
    op.create_table(
        "mailings",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "event_id",
            BigId,
            sa.ForeignKey("events.id", ondelete="CASCADE", name="fk_mailings_event_id_events"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("note", sa.String(16), nullable=False),
        sa.Column(
            "created_by",
            BigId,
            sa.ForeignKey(
                "accounts.id", ondelete="SET NULL", name="fk_mailings_created_by_accounts"
            ),
            nullable=True,
        ),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mailings"),
    )
    op.create_index("ix_mailings_event_id", "mailings", ["event_id"])
    op.create_table(
        "mail_deliveries",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "mailing_id",
            BigId,
            sa.ForeignKey(
                "mailings.id", ondelete="CASCADE", name="fk_mail_deliveries_mailing_id_mailings"
            ),
            nullable=False,
        ),
        sa.Column(
            "event_id",
            BigId,
            sa.ForeignKey(
                "events.id", ondelete="CASCADE", name="fk_mail_deliveries_event_id_events"
            ),
            nullable=False,
        ),
        sa.Column(
            "ticket_id",
            BigId,
            sa.ForeignKey(
                "tickets.id", ondelete="CASCADE", name="fk_mail_deliveries_ticket_id_tickets"
            ),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column("claimed_at", When, nullable=True),
        sa.Column("sent_at", When, nullable=True),
        sa.Column("error_code", sa.String(32), nullable=False),
        sa.Column("smtp_reply", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mail_deliveries"),
    )
    op.create_index("ix_mail_deliveries_mailing", "mail_deliveries", ["mailing_id", "status"])
    op.create_index("ix_mail_deliveries_ticket", "mail_deliveries", ["ticket_id"])
    op.create_index("ix_mail_deliveries_status", "mail_deliveries", ["status", "id"])


def downgrade() -> None:
    op.drop_table("mail_deliveries")
    op.drop_table("mailings")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("language")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("location")
        batch.drop_column("language")
