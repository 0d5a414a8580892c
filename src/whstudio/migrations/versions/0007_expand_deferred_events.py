"""Consensus events of an API submission published after its commit, not inside it; token and
user changes announced so that app processes can cache token checks.

Revision ID: 0007
Revises: 0006
"""

from whstudio.migrations.sqlfile import run

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
