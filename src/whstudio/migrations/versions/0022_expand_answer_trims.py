"""An answer does no work that changes nothing it stores: the gold lookup inlined, the
webhook payload built only for a listener, the task's question read once, the group's
consensus events collected once.

Revision ID: 0022
Revises: 0021
"""

from whstudio.migrations.sqlfile import run

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
