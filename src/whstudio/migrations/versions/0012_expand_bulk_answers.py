"""Answers imported in bulk: the per-answer triggers stand aside for the import, which replays a
file's answers in order in the application and writes their end state set-based; and a task
without gold has no gold answer (a ranking answer was judged against a JSON null and failed).

Revision ID: 0012
Revises: 0011
"""

from whstudio.migrations.sqlfile import run

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
