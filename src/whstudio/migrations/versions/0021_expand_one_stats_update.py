"""An answer updates its annotator's figures once: the reputation is written only when it
changed, and the last recorded score is read only for an event that needs it.

Revision ID: 0021
Revises: 0020
"""

from whstudio.migrations.sqlfile import run

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
