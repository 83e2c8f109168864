"""pairing_codes.keep_other_phones: a code made for a roster member unpairs
their earlier phones when claimed (a lost phone is the usual reason to
re-pair), unless it was made to keep them (a supervisor's second phone)

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pairing_codes") as batch:
        batch.add_column(
            sa.Column("keep_other_phones", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("pairing_codes") as batch:
        batch.drop_column("keep_other_phones")
