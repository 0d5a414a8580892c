"""The async connection pool the web app and the CLI share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from whstudio.db.queries import QUERIES


async def _configure(conn: AsyncConnection) -> None:
    # Autocommit: a read is its own statement, and writes run in explicit `conn.transaction()`
    # blocks that commit when the block ends, before any response is sent.
    await conn.set_autocommit(True)
    await conn.execute(QUERIES["pool.application_name"])


def make_pool(
    url: str, *, min_size: int = 2, max_size: int = 10, timeout: float = 5.0
) -> AsyncConnectionPool:
    """Return an unopened pool whose connections yield rows as dicts."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row},
        configure=_configure,
        open=False,
        name="whstudio",
        timeout=timeout,
    )


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[AsyncConnection]:
    """One connection outside any pool (CLI commands); rows as dicts."""
    conn = await AsyncConnection.connect(url, row_factory=dict_row, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()
