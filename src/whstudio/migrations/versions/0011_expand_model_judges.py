"""Model judges beside people: an answer counts in consensus (and in the quality counters)
only if its annotator is a person or its task's rule counts model judges' votes.

Revision ID: 0011
Revises: 0010
"""

from whstudio.migrations.sqlfile import run

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
