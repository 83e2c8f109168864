"""incidents.assignee_team: an incident assigned to a team of the roster

A team code (``roster_rules.TEAMS``) or the event's own team name, beside the
person (``assignee_id`` / ``assignee_name``); either, both or neither.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("assignee_team", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("assignee_team")
