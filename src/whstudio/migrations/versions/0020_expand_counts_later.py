"""Bulk steps count the tasks they create once, as they end: the dashboard's counter rows are
no longer moved once per new task inside one long transaction.

Revision ID: 0020
Revises: 0019
"""

from whstudio.migrations.sqlfile import run

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
