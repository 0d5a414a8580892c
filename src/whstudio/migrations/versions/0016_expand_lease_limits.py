"""Leases per annotator are limited in number and in life: holding many tasks, or one forever,
is no longer possible.

Revision ID: 0016
Revises: 0015
"""

from whstudio.migrations.sqlfile import run

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
