"""Webhooks: subscriptions, an outbox filled in the transaction of each event, deliveries with
retries, and their log.

Revision ID: 0006
Revises: 0005
"""

from whstudio.migrations.sqlfile import run

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(__file__, "up")


def downgrade() -> None:
    run(__file__, "down")
