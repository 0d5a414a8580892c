"""What readiness asks of the database."""

from __future__ import annotations

from psycopg import AsyncConnection

from whstudio.db import queries as q


async def schema_revision(conn: AsyncConnection) -> str | None:
    """Return the Alembic revision the schema is at, or None before the first migration."""
    row = await q.fetch_one(conn, "health.schema_revision")
    return row["version_num"] if row else None
