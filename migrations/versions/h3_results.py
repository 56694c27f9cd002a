"""Rate-limit hits for the public objection form (helper H3, results and publicity).

Revision ID: h3_results
Revises: 0002_year
"""

import sqlalchemy as sa
from alembic import op

revision = "h3_results"
down_revision = "0002_year"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "rate_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_hit")),
    )
    with op.batch_alter_table("rate_hit", schema=None) as batch_op:
        batch_op.create_index("ix_rate_hit_scope_key_at", ["scope", "client_key", "at"], unique=False)


def downgrade():
    with op.batch_alter_table("rate_hit", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_hit_scope_key_at")
    op.drop_table("rate_hit")
