"""LISTEN/NOTIFY: the connections that listen for notifications or watch for changes, and
the statement that sends many notifications at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from psycopg import AsyncConnection, Notify, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from whstudio.db import queries as q

CONSENSUS_CHANNEL = "whstudio_consensus"  # a task's consensus changed (payload: the event)
AUTH_CHANNEL = "whstudio_auth"  # a token or a user's rights changed (payload: the user id)


@asynccontextmanager
async def listening(url: str, channels: Iterable[str]) -> AsyncIterator[AsyncIterator[Notify]]:
    """Yield the notifications on `channels`, read on a connection of their own that LISTENs to
    them already; it closes when the block ends."""
    conn = await AsyncConnection.connect(url, autocommit=True)
    async with conn:
        for channel in channels:
            listen = sql.SQL(q.QUERIES["listen.listen"])
            await conn.execute(listen.format(channel=sql.Identifier(channel)))
        yield conn.notifies()


@asynccontextmanager
async def watching(url: str) -> AsyncIterator[AsyncConnection]:
    """Yield a connection of its own (autocommit, rows as dicts) for a long-running watch."""
    conn = await AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
    async with conn:
        yield conn


async def notify_all(pool: AsyncConnectionPool, channel: str, payloads: list[str]) -> None:
    """Send one notification per payload, in one short transaction of their own: a single
    statement on an autocommit connection, one round trip (an explicit transaction took three)."""
    async with pool.connection() as conn:
        await q.execute(conn, "listen.notify_all", {"channel": channel, "payloads": payloads})
