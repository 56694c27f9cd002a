"""Open tasks in the order the 待办 list shows them: (status, due_at, id) and (status, created_at, id).

The list's page is chosen from the user's open tasks in the sort order (by deadline by default,
or by received time) and stops after one page; with an index in that order the database reads
the open tasks in order and stops there instead of sorting all of them (1,000 open tasks: the
page's statement 0.94 → 0.68 ms on SQLite, 1.43 → 1.29 ms on PostgreSQL, measured with the
deadline order written as ``due_at NULLS LAST``). The deadline index replaces (status, due_at),
which it serves too (the deadline pass's ranges).

Revision ID: 0006_inbox_order_indexes
Revises: 0005_case_scope_index
Create Date: 2026-12-04 19:40:00

"""

from alembic import op

revision = "0006_inbox_order_indexes"
down_revision = "0005_case_scope_index"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.create_index("ix_human_task_status_due_id", ["status", "due_at", "id"], unique=False)
        batch_op.create_index("ix_human_task_status_created_id", ["status", "created_at", "id"], unique=False)
        batch_op.drop_index("ix_human_task_status_due")


def downgrade():
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.create_index("ix_human_task_status_due", ["status", "due_at"], unique=False)
        batch_op.drop_index("ix_human_task_status_created_id")
        batch_op.drop_index("ix_human_task_status_due_id")
