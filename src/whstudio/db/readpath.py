"""Which structure the application reads a task's question from, during an online migration.

`whstudio legacy switch old|new` flips a flag in the database (whs_legacy.state.read_path). The
dual writes keep both structures in step, so either answer is correct; this is the one place the
application asks, and the one function that reads a task's question either way.

The flag is cached per database and process for at most CACHE_SECONDS, so a request pays no
extra round trip for it (a database that never was a legacy one included: its answer, "new", is
cached the same way). A flip therefore reaches every app process within CACHE_SECONDS; rollback
waits that long after pointing reads back at the old path before it drops the new structure.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from whstudio.db.queries import QUERIES

CACHE_SECONDS = 1.0

# (host, port, dbname) -> (path, monotonic time it was read)
_cache: dict[tuple[str, int | str, str], tuple[str, float]] = {}


def _key(conn: AsyncConnection) -> tuple[str, int | str, str]:
    info = conn.info
    return (info.host, info.port, info.dbname)


async def _one(conn: AsyncConnection, name: str, params: dict | None = None) -> tuple | None:
    """Return the first row of a named query as a tuple, whatever the connection's row factory."""
    cur = conn.cursor(row_factory=tuple_row)
    await cur.execute(QUERIES[name], params)
    return await cur.fetchone()


def forget() -> None:
    """Drop every cached flag (tests that flip it and read at once)."""
    _cache.clear()


async def read_path(conn: AsyncConnection, *, max_age: float = CACHE_SECONDS) -> str:
    """Return "old" or "new"; "new" for a database that never was a legacy one.

    Read from the database at most once per `max_age` seconds per database and process.
    """
    key = _key(conn)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[1] < max_age:
        return hit[0]
    # Two statements: one naming whs_legacy.state could not even be planned without it.
    path = "new"
    if (await _one(conn, "readpath.state_exists"))[0]:
        row = await _one(conn, "readpath.path")
        path = row[0] if row else "new"
    _cache[key] = (path, now)
    return path


async def task_question(conn: AsyncConnection, task_id: UUID) -> dict[str, Any] | None:
    """Return the task's question (type, content, gold) through the read path in force."""
    old = await read_path(conn) == "old"
    name = "readpath.task_question_old" if old else "readpath.task_question_new"
    row = await _one(conn, name, {"task": task_id})
    if row is None:
        return None
    return {"question_type": row[0], "content": row[1], "gold_standard": row[2]}


async def apply(conn: AsyncConnection, task: dict[str, Any]) -> dict[str, Any]:
    """Return the task row with its question as the read path in force gives it.

    On the new path (and on any database that never was a legacy one) the row is returned as
    read; on the old path its question comes from the legacy tasks.instructions column.
    """
    if await read_path(conn) != "old":
        return task
    legacy = await task_question(conn, task["id"])
    if legacy is not None:
        task = {**task, **legacy}
    return task
