"""Imported data as its source has it: a task's identity in its source (so two model pairs with
identical answer texts stay two tasks), annotators' kind (person or model judge) and groups, and
an answer's label as the source wrote it.

Revision ID: 0010
Revises: 0009
"""

from whstudio.migrations.sqlfile import run

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
