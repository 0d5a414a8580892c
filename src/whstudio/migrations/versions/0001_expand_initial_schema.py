"""Initial schema: users, tokens, questions, tasks, submissions, consensus, quality, views.

Revision ID: 0001
Revises:
"""

from whstudio.migrations.sqlfile import run

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
