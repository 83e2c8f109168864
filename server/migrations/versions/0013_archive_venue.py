"""archive_venue: zones, gates and ticket types can be archived

A venue part with history (scans through a gate, tickets of a type, a zone
that gates led into) is archived rather than deleted, so the scan log and the
review keep its name: ``archived_at`` on ``zones``, ``gates`` and
``ticket_types`` (None: in use).

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLES = ("zones", "gates", "ticket_types")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("archived_at")
