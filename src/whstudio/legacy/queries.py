"""The legacy tool's SQL: the named blocks of `legacy/sql/*.sql`, run on its synchronous
connections as `conn.execute(QUERIES["<file stem>.<name>"], params)`.

A block is loaded without the comment that opens it: the tool shows and keeps the text of some
statements (contract's report, a lock timeout's message), the statement alone. Values are
psycopg parameters; what a deployment names (its tables, triggers, databases) is composed into
a block's `{placeholders}` by `compose`. The DDL the tool generates from the catalogs it reads
(expand's plan) stays in Python, in legacy/objects.py.
"""

from __future__ import annotations

from psycopg import sql

from whstudio.db.queries import load_blocks

QUERIES: dict[str, str] = load_blocks("whstudio.legacy.sql", keep_comments=False)


def compose(block: str, /, **parts: sql.Composable) -> sql.Composed:
    """Return the named block with its `{placeholders}` filled by `parts`."""
    return sql.SQL(QUERIES[block]).format(**parts)
