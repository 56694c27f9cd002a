"""Merge the parallel branches of the year's schema: results throttle (h3_results), supervision,
generic form schemas, deadline notices (on 0003_notifications) and task operations.

Revision ID: 0004_merge_year
Revises: h3_results, supervision, generic_forms, deadlines, operations
Create Date: 2026-12-02 15:00:00

"""

revision = "0004_merge_year"
down_revision = ("h3_results", "supervision", "generic_forms", "deadlines", "operations")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
