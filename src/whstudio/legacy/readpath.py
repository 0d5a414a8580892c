"""Which structure the application reads a task's question from, during an online migration.

`whstudio legacy switch old|new` flips a flag in the database (whs_legacy.state.read_path). The
dual writes keep both structures in step, so either answer is correct; this is the one place the
application asks, and the one function that reads a task's question either way.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

_HAS_STATE = "SELECT to_regclass('whs_legacy.state') IS NOT NULL"
_PATH = """
SELECT CASE WHEN step = 'contracted' THEN 'new' ELSE read_path END FROM whs_legacy.state
"""
_NEW = """
SELECT q.question_type, q.content, q.gold_standard
  FROM public.tasks t JOIN public.questions q ON q.id = t.question_id
 WHERE t.id = %(task)s
"""
# The old path parses the legacy column itself, with the same function the dual writes use.
_OLD = """
SELECT p.qtype, p.content, p.gold
  FROM public.tasks t, whs_legacy.parse_instructions_v1(t.task_type, t.instructions) AS p
 WHERE t.id = %(task)s AND p.reason IS NULL
"""


async def read_path(conn: AsyncConnection) -> str:
    """Return "old" or "new"; "new" for a database that never was a legacy one."""
    cur = await conn.execute(_HAS_STATE)
    if not (await cur.fetchone())[0]:
        return "new"
    cur = await conn.execute(_PATH)
    row = await cur.fetchone()
    return row[0] if row else "new"


async def task_question(conn: AsyncConnection, task_id: UUID) -> dict[str, Any] | None:
    """Return the task's question (type, content, gold) through the read path in force."""
    query = _OLD if await read_path(conn) == "old" else _NEW
    cur = await conn.execute(query, {"task": task_id})
    row = await cur.fetchone()
    if row is None:
        return None
    return {"question_type": row[0], "content": row[1], "gold_standard": row[2]}
