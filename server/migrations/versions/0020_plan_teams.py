"""emergency_plans.teams: the roster teams expected to confirm a plan

A JSON list of team codes (``roster_rules.TEAMS``) or the event's own team
names; empty (every plan before this): every roster member.

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("emergency_plans") as batch:
        batch.add_column(
            sa.Column("teams", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("emergency_plans") as batch:
        batch.drop_column("teams")
