"""signing keys activate after rotation

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(
            sa.Column("activates_at", server.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_unique_constraint("uq_signing_keys_event_kid", ["event_id", "kid"])


def downgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_constraint("uq_signing_keys_event_kid", type_="unique")
        batch.drop_column("activates_at")
