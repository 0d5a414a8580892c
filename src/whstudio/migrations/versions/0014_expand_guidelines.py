"""Guidelines per dataset, versioned, with optional criteria; each answer records the version it
was given under and the criteria ticked.

Revision ID: 0014
Revises: 0013
"""

from whstudio.migrations.sqlfile import run

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
