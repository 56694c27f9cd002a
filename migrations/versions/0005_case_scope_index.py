"""Cases by unit, cycle and process in one index (replaces the unit-only index).

The year's group-wide reads (latest assessment case per unit of a group, units with an open
appeal, units whose case is at a step) filter cases by unit *and* cycle and process; with only
single-column indexes SQLite walked every case of the cycle for each group, so the cost of a
year grew with the square of the number of units. The composite index serves every lookup the
unit-only index served (unit_id leads), so that one is dropped.

Revision ID: 0005_case_scope_index
Revises: 0004_merge_year
Create Date: 2026-12-04 01:40:00

"""

from alembic import op

revision = "0005_case_scope_index"
down_revision = "0004_merge_year"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("wf_case", schema=None) as batch_op:
        batch_op.create_index("ix_wf_case_unit_cycle_process", ["unit_id", "cycle_id", "process_key"], unique=False)
        batch_op.drop_index("ix_wf_case_unit_id")


def downgrade():
    with op.batch_alter_table("wf_case", schema=None) as batch_op:
        batch_op.create_index("ix_wf_case_unit_id", ["unit_id"], unique=False)
        batch_op.drop_index("ix_wf_case_unit_cycle_process")
