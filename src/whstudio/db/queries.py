"""Named SQL blocks from `sql/*.sql`, loaded once and run by name.

A block starts with `-- name: <name>` and runs to the next such line. Its full name is
`<file stem>.<name>`. Parameters are psycopg named placeholders (`%(param)s`). A line
`-- include: <stem>.<name>` in a block stands for that block's text (a part two statements
share, written once). `load_blocks` reads another package's blocks the same way (the legacy
tool's, `whstudio.legacy.sql`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

from psycopg import AsyncConnection

_NAME = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)
_OPENING_COMMENT = re.compile(r"\A(--[^\n]*\n\s*)+")
_INCLUDE = re.compile(r"^--\s*include:\s*([a-z0-9_]+\.[a-z0-9_]+)\s*$", re.MULTILINE)


def load_blocks(package: str, *, keep_comments: bool = True) -> dict[str, str]:
    """Return the named blocks of the package's `*.sql` files, keyed `<file stem>.<name>`.

    `keep_comments=False` leaves out the comment lines that open a block (what it does), for
    statements whose text is also shown or stored as written.
    """
    blocks: dict[str, str] = {}
    for entry in sorted(resources.files(package).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        stem = entry.name[:-4]
        text = entry.read_text(encoding="utf-8")
        parts = _NAME.split(text)
        for i in range(1, len(parts), 2):
            name, body = parts[i], parts[i + 1].strip()
            if not keep_comments:
                body = _OPENING_COMMENT.sub("", body)
            key = f"{stem}.{name}"
            if key in blocks:
                raise RuntimeError(f"duplicate query name {key}")
            blocks[key] = body
    return {key: _included(blocks, key, ()) for key in blocks}


def _included(blocks: dict[str, str], key: str, seen: tuple[str, ...]) -> str:
    """A block's text with its `-- include:` lines replaced by the blocks they name."""
    if key in seen:
        raise RuntimeError(f"query {key} includes itself through {' -> '.join(seen)}")

    def text_of(match: re.Match) -> str:
        name = match.group(1)
        if name not in blocks:
            raise RuntimeError(f"query {key} includes {name}, which does not exist")
        return _included(blocks, name, (*seen, key))

    return _INCLUDE.sub(text_of, blocks[key])


QUERIES: dict[str, str] = load_blocks("whstudio.db.sql")


async def fetch_one(
    conn: AsyncConnection, name: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """Run a named query; return its first row as a dict, or None."""
    cur = await conn.execute(QUERIES[name], params or {})
    return await cur.fetchone()


async def fetch_all(
    conn: AsyncConnection, name: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run a named query; return all its rows as dicts."""
    cur = await conn.execute(QUERIES[name], params or {})
    return await cur.fetchall()


async def execute(conn: AsyncConnection, name: str, params: Mapping[str, Any] | None = None) -> int:
    """Run a named statement; return the number of rows it touched."""
    cur = await conn.execute(QUERIES[name], params or {})
    return cur.rowcount
