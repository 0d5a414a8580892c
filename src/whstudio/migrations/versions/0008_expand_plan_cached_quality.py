"""Per-answer quality functions that keep their plans (PL/pgSQL instead of SQL functions
PostgreSQL cannot inline), and annotator counters updated before an insert is tried.

Revision ID: 0008
Revises: 0007
"""

from whstudio.migrations.sqlfile import run

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
