"""Independent votes: per-dataset reveal policy and gold feedback; an answer given after its
author could see others' answers is kept, marked informed, and never counted.

Revision ID: 0013
Revises: 0012
"""

from whstudio.migrations.sqlfile import run

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
