"""Deadline notices (reminder / overdue sent once per task) and indexes for the inbox lists,
the deadline pass and e-mail delivery.

Revision ID: deadlines
Revises: 0003_notifications
"""

import sqlalchemy as sa
from alembic import op

revision = "deadlines"
down_revision = "0003_notifications"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "deadline_notice",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["human_task.id"], name=op.f("fk_deadline_notice_task_id_human_task"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("task_id", "kind", name=op.f("pk_deadline_notice")),
    )
    # Plain CREATE INDEX (no batch mode): SQLite must not rebuild these tables.
    op.create_index("ix_deadline_notice_batch", "deadline_notice", ["batch"])
    op.create_index("ix_notification_unsent", "notification", ["emailed_at", "created_at"])
    op.create_index("ix_human_task_done_by", "human_task", ["completed_by_id", "status", "completed_at"])
    op.create_index("ix_human_task_status_due", "human_task", ["status", "due_at"])


def downgrade():
    op.drop_index("ix_human_task_status_due", table_name="human_task")
    op.drop_index("ix_human_task_done_by", table_name="human_task")
    op.drop_index("ix_notification_unsent", table_name="notification")
    op.drop_index("ix_deadline_notice_batch", table_name="deadline_notice")
    op.drop_table("deadline_notice")
