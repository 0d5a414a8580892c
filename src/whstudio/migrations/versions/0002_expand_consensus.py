"""Real-time consensus: vote triggers, recompute functions, work queue, leases, skips, batches.

Revision ID: 0002
Revises: 0001
"""

from whstudio.migrations.sqlfile import run

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
