"""Answers get time-ordered ids (UUID version 7), so that storing one writes the end of its
indexes instead of a random page of them.

Revision ID: 0018
Revises: 0017
"""

from whstudio.migrations.sqlfile import run

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
