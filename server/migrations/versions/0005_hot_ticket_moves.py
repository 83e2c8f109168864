"""tickets: moves at the door become heap-only (HOT) updates

A scan moves a ticket (``zone_id``, ``checked_in_at``). With ``zone_id``
indexed, PostgreSQL wrote a new entry into every index of ``tickets`` (six)
for each move; with no moved column indexed and room left on each page
(fillfactor 80) the new row version stays on its page and no index is
touched. Nothing read tickets by zone through that index (the headcount
counts shards, the offline bundle and the admissions snapshot read an
event's tickets whole). The fillfactor applies to pages written from now on.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

#: Percent of each tickets page filled on insert; the rest is for moves.
FILLFACTOR = 80


def upgrade() -> None:
    op.drop_index("ix_tickets_event_zone", table_name="tickets")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE tickets SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tickets RESET (fillfactor)")
    op.create_index("ix_tickets_event_zone", "tickets", ["event_id", "zone_id"], unique=False)
