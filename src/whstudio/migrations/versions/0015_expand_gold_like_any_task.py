"""Gold checks are handed out like any task, only while they need answers, so that their
progress and consensus never stand out.

Revision ID: 0015
Revises: 0014
"""

from whstudio.migrations.sqlfile import run

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
