"""A group of answers whose effects are each their own is stored set-based, each table written
once for the whole group.

Revision ID: 0023
Revises: 0022
"""

from whstudio.migrations.sqlfile import run

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
