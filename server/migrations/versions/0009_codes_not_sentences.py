"""alerts carry a kind and its parameters, not a sentence; the first
organiser has no English name

Alerts used to store an English sentence beside their kind and data
("Hall A is full (3/3)."), which the command centre showed as it was, in
English inside the Chinese page. Each page now words the kind itself from
the data, in its reader's language, so the column goes. The organiser
account ``muster serve`` creates on an empty database was called "first
organiser"; its name is now empty and the pages show its role instead.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("message")
    op.execute(
        "UPDATE accounts SET name = '' WHERE name = 'first organiser' AND role = 'organiser'"
    )


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("message", sa.String(500), nullable=False, server_default=""))
