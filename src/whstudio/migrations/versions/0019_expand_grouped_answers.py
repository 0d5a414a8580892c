"""Group commit for answers: one statement stores many answers in one transaction, each as
`submit_answer_v2` would alone, an answer's own error kept to itself.

Revision ID: 0019
Revises: 0018
"""

from whstudio.migrations.sqlfile import run

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
