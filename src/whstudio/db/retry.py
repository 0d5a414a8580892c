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
    for attempt in range(1, attempts + 1):
        try:
            async with conn.transaction():
                return await work(conn)
        except RETRYABLE:
            if attempt == attempts:
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * attempt))
    raise AssertionError("unreachable")
