"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from whstudio.migrations.sqlfile import run

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
