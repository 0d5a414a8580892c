"""Dashboard totals in O(1): task_counts kept by triggers, filter values on the consensus row.

Revision ID: 0004
Revises: 0003
"""

from whstudio.migrations.sqlfile import run

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
