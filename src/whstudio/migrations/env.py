"""Alembic environment: one psycopg connection, one transaction per revision."""

from __future__ import annotations

import psycopg
from alembic import context
from sqlalchemy import create_engine, pool

from whstudio.db.queries import QUERIES

config = context.config
url = config.attributes.get("whstudio_url") or config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("no database URL given to the migration environment")


def _connect():
    return psycopg.connect(url)


engine = create_engine("postgresql+psycopg://", creator=_connect, poolclass=pool.NullPool)
with engine.connect() as connection:
    # A migration that waits on a lock would stall every query queued behind it: give up instead.
    connection.exec_driver_sql(QUERIES["migrate.lock_timeout"])
    connection.commit()
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
