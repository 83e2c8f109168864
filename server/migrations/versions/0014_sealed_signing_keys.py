"""signing keys sealed at rest

``signing_keys.sealed_by`` (the fingerprint of the key-encryption key that
sealed ``private_key``; NULL: stored in plain, as before this revision) and
``key_encryption``, the one row naming the database's key-encryption key.
The keys themselves are sealed by the next ``muster serve`` start
(server/key_sealing.py ``adopt``): the migration cannot hold the key.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("sealed_by", sa.String(length=16), nullable=True))
    op.create_table(
        "key_encryption",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("rotated_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_encryption")),
    )


def downgrade() -> None:
    op.drop_table("key_encryption")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("sealed_by")
