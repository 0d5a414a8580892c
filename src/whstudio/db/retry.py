"""Run a unit of work in a transaction, retrying when a concurrent one won a race."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from psycopg import AsyncConnection
from psycopg.errors import DeadlockDetected, SerializationFailure, UniqueViolation

T = TypeVar("T")

RETRYABLE = (SerializationFailure, DeadlockDetected, UniqueViolation)


async def in_transaction(
    conn: AsyncConnection, work: Callable[[AsyncConnection], Awaitable[T]], *, attempts: int = 8
) -> T:
    """Run `work` in its own transaction; retry it from the start after a retryable conflict.

    A unique violation is retried too: the work is written so that a retry sees the row that the
    other transaction committed (an idempotency key, a newer latest answer) and acts on it. The
    last attempt's error is raised unchanged.
    """
    return await _retry(conn, work, attempts=attempts, transaction=True)


async def retrying(
    conn: AsyncConnection, work: Callable[[AsyncConnection], Awaitable[T]], *, attempts: int = 8
) -> T:
    """Like `in_transaction` for work that is a single statement on an autocommit connection:
    the statement is its own transaction, which saves the BEGIN and COMMIT round trips."""
    return await _retry(conn, work, attempts=attempts, transaction=False)


async def _retry(conn, work, *, attempts: int, transaction: bool):
    for attempt in range(1, attempts + 1):
        try:
            if transaction:
                async with conn.transaction():
                    return await work(conn)
            return await work(conn)
        except RETRYABLE:
            if attempt == attempts:
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * attempt))
    raise AssertionError("unreachable")
