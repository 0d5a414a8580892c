"""A newcomer's stored reputation starts at 700, the score of weight 1.00, as what annotators
read of it does.

Revision ID: 0017
Revises: 0016
"""

from whstudio.migrations.sqlfile import run

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
