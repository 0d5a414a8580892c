"""Hot paths as single database calls: submit_answer_v1, next_task_v1; dashboard index.

Revision ID: 0003
Revises: 0002
"""

from whstudio.migrations.sqlfile import run

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
