"""JSON schemas of generic step forms (processes deployed without code).

Revision ID: generic_forms
Revises: 0002_year
"""

import sqlalchemy as sa
from alembic import op

revision = "generic_forms"
down_revision = "0002_year"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "process_form_schema",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"], ["process_definition.id"],
            name=op.f("fk_process_form_schema_definition_id_process_definition"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_form_schema")),
        sa.UniqueConstraint("definition_id", "filename", name="uq_process_form_schema_definition_file"),
    )


def downgrade():
    op.drop_table("process_form_schema")
