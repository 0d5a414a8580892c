"""Streamed reads: a named query's rows in batches through a server-side cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from psycopg import AsyncConnection

from whstudio.db.queries import QUERIES


async def batches(
    conn: AsyncConnection,
    name: str,
    params: Mapping[str, Any] | None,
    *,
    cursor: str,
    size: int,
) -> AsyncIterator[list[Any]]:
    """Yield the named query's rows (in the connection's row form) `size` at a time, read
    through the server-side cursor called `cursor` (needs a transaction). Close the generator
    (`contextlib.aclosing`) when leaving it early, so that the cursor closes then."""
    async with conn.cursor(name=cursor) as cur:
        await cur.execute(QUERIES[name], params)
        while rows := await cur.fetchmany(size):
            yield rows
