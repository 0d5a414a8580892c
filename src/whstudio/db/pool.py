"""The async connection pool the web app and the CLI share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


async def _configure(conn: AsyncConnection) -> None:
    # Autocommit: a read is its own statement, and writes run in explicit `conn.transaction()`
    # blocks that commit when the block ends, before any response is sent.
    await conn.set_autocommit(True)


def make_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    timeout: float = 5.0,
    through_pooler: bool = False,
) -> AsyncConnectionPool:
    """Return an unopened pool whose connections yield rows as dicts.

    Our sessions are named in pg_stat_activity by a startup parameter, which a pooler passes on.
    `through_pooler`: the URL is a transaction-mode pooler's (PgBouncer), which hands each
    transaction to any server session: no server-side prepared statements then (psycopg
    prepares a statement run often; another session would not know it)."""
    kwargs: dict = {"row_factory": dict_row, "application_name": "whstudio"}
    if through_pooler:
        kwargs["prepare_threshold"] = None
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs=kwargs,
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
