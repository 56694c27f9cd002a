"""Approval operations: task kinds (countersign, co-sign), delegation, proxies, carbon copies, urges.

human_task gains kind / parent_task_id / delegated_to_id / acting_for_id / note (plain ADD COLUMN
with inline REFERENCES, so SQLite keeps its rows and the tables pointing at them); new tables
carbon_copy, task_proxy, task_urge.

Revision ID: operations
Revises: 0002_year
"""

import sqlalchemy as sa
from alembic import op

revision = "operations"
down_revision = "0002_year"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("human_task", sa.Column("kind", sa.String(length=20), server_default="task", nullable=False))
    op.add_column(
        "human_task",
        sa.Column("parent_task_id", sa.Integer(),
                  sa.ForeignKey("human_task.id", name=op.f("fk_human_task_parent_task_id_human_task"),
                                ondelete="CASCADE"), nullable=True),
        inline_references=True,
    )
    op.add_column(
        "human_task",
        sa.Column("delegated_to_id", sa.Integer(),
                  sa.ForeignKey("user_account.id", name=op.f("fk_human_task_delegated_to_id_user_account")),
                  nullable=True),
        inline_references=True,
    )
    op.add_column(
        "human_task",
        sa.Column("acting_for_id", sa.Integer(),
                  sa.ForeignKey("user_account.id", name=op.f("fk_human_task_acting_for_id_user_account")),
                  nullable=True),
        inline_references=True,
    )
    op.add_column("human_task", sa.Column("note", sa.Text(), nullable=True))
    op.create_index("ix_human_task_delegated_status", "human_task", ["delegated_to_id", "status"], unique=False)
    op.create_index("ix_human_task_parent_task_id", "human_task", ["parent_task_id"], unique=False)

    op.create_table(
        "carbon_copy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["wf_case.id"], name=op.f("fk_carbon_copy_case_id_wf_case"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["task_id"], ["human_task.id"], name=op.f("fk_carbon_copy_task_id_human_task"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_carbon_copy_user_id_user_account"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sender_id"], ["user_account.id"],
                                name=op.f("fk_carbon_copy_sender_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carbon_copy")),
    )
    op.create_index("ix_carbon_copy_user_created", "carbon_copy", ["user_id", "created_at"], unique=False)
    op.create_index("ix_carbon_copy_case_user", "carbon_copy", ["case_id", "user_id"], unique=False)

    op.create_table(
        "task_proxy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("proxy_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_task_proxy_user_id_user_account"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["proxy_id"], ["user_account.id"], name=op.f("fk_task_proxy_proxy_id_user_account"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"],
                                name=op.f("fk_task_proxy_created_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_proxy")),
    )
    op.create_index("ix_task_proxy_proxy_ends", "task_proxy", ["proxy_id", "ends_at"], unique=False)
    op.create_index("ix_task_proxy_user_ends", "task_proxy", ["user_id", "ends_at"], unique=False)

    op.create_table(
        "task_urge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["human_task.id"], name=op.f("fk_task_urge_task_id_human_task"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_task_urge_user_id_user_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_urge")),
    )
    op.create_index("ix_task_urge_task_user_created", "task_urge", ["task_id", "user_id", "created_at"], unique=False)


def downgrade():
    op.drop_index("ix_task_urge_task_user_created", table_name="task_urge")
    op.drop_table("task_urge")
    op.drop_index("ix_task_proxy_user_ends", table_name="task_proxy")
    op.drop_index("ix_task_proxy_proxy_ends", table_name="task_proxy")
    op.drop_table("task_proxy")
    op.drop_index("ix_carbon_copy_case_user", table_name="carbon_copy")
    op.drop_index("ix_carbon_copy_user_created", table_name="carbon_copy")
    op.drop_table("carbon_copy")
    op.drop_index("ix_human_task_parent_task_id", table_name="human_task")
    op.drop_index("ix_human_task_delegated_status", table_name="human_task")
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("acting_for_id")
        batch_op.drop_column("delegated_to_id")
        batch_op.drop_column("parent_task_id")
        batch_op.drop_column("kind")
