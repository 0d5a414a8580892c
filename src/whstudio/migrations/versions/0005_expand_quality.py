"""Annotator quality and reputation, review and adjudication, per-dataset gold rates.

Revision ID: 0005
Revises: 0004
"""

from whstudio.migrations.sqlfile import run

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
