"""Answers in the order they were given: an index on submissions (created_at, id), for the
responses export (streamed in that order) and its `since` / `until` windows.

Revision ID: 0009
Revises: 0008
"""

from whstudio.migrations.sqlfile import run

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
