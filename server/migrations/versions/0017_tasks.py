"""tasks: the task board (tasks, task_steps, task_changes) and run sheets

``tasks`` (owner team or roster member, zone, due time, priority, status,
the overdue claim, the run-sheet item it was made from, once per event),
``task_steps`` (a checklist, each ticked by whom and when),
``task_changes`` (every change with its nonce, once per event, and its
answer), ``run_sheets`` and ``run_sheet_items`` (minutes from doors-open).

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
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
        "tasks",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("team", sa.String(40), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("zone_id", sa.BigInteger(), nullable=True),
        sa.Column("due_at", When, nullable=True),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("blocked_reason", sa.String(500), nullable=False),
        sa.Column("status_since", When, nullable=False),
        sa.Column("done_at", When, nullable=True),
        sa.Column("overdue_alerted_at", When, nullable=True),
        sa.Column("run_sheet_item_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        _event_fk("tasks"),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.UniqueConstraint("event_id", "run_sheet_item_id", name="uq_tasks_event_run_sheet_item"),
    )
    op.create_index("ix_tasks_event_status", "tasks", ["event_id", "status"])
    op.create_table(
        "task_steps",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("task_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("done_at", When, nullable=True),
        sa.Column("done_by_account", sa.BigInteger(), nullable=True),
        sa.Column("done_by_staff", sa.BigInteger(), nullable=True),
        sa.Column("done_by_name", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_task_steps_task_id_tasks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_task_steps"),
    )
    op.create_index("ix_task_steps_task_id", "task_steps", ["task_id"])
    op.create_table(
        "task_changes",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("task_id", BigId, nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("occurred_at", When, nullable=False),
        sa.Column("recorded_at", When, nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        _event_fk("task_changes"),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_task_changes_task_id_tasks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_task_changes"),
        sa.UniqueConstraint("event_id", "nonce", name="uq_task_changes_event_nonce"),
    )
    op.create_index("ix_task_changes_task", "task_changes", ["task_id"])
    op.create_table(
        "run_sheets",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("applied_at", When, nullable=True),
        _event_fk("run_sheets"),
        sa.PrimaryKeyConstraint("id", name="pk_run_sheets"),
    )
    op.create_index("ix_run_sheets_event_id", "run_sheets", ["event_id"])
    op.create_table(
        "run_sheet_items",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("run_sheet_id", BigId, nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("team", sa.String(40), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("zone_id", sa.BigInteger(), nullable=True),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_sheet_id"],
            ["run_sheets.id"],
            name="fk_run_sheet_items_run_sheet_id_run_sheets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_run_sheet_items"),
    )
    op.create_index("ix_run_sheet_items_run_sheet_id", "run_sheet_items", ["run_sheet_id"])


def downgrade() -> None:
    op.drop_table("run_sheet_items")
    op.drop_table("run_sheets")
    op.drop_table("task_changes")
    op.drop_table("task_steps")
    op.drop_table("tasks")
