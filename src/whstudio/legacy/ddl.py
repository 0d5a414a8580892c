"""Run DDL on a database in use: a short lock_timeout, retries with backoff, concurrent indexes."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

import psycopg
from psycopg import errors, sql

from whstudio.legacy.queries import QUERIES, compose

# Statements that wait for a lock longer than this give up and retry later, so that the queue of
# ordinary reads and writes forming behind a waiting ALTER never grows past it.
LOCK_TIMEOUT_MS = 100
ATTEMPTS = 40
# Errors that mean "an object this one needs does not exist yet": try again after the others.
DEPENDENCY_ERRORS = (
    errors.UndefinedTable,
    errors.UndefinedObject,
    errors.UndefinedFunction,
    errors.UndefinedColumn,
    errors.WrongObjectType,
)
_INDEX_NAME = re.compile(r"INDEX CONCURRENTLY (?:IF NOT EXISTS )?(\S+) ON (\S+)")


class DDLTimeout(RuntimeError):
    """A statement never got its lock within the retries."""


def run(
    conn: psycopg.Connection,
    statement: str,
    *,
    lock_timeout_ms: int = LOCK_TIMEOUT_MS,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run one statement in its own transaction under lock_timeout; return the attempts it took.

    The connection must be in autocommit mode. Between attempts the wait doubles (with jitter) up
    to two seconds, so the application's queries run between our tries.
    """
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                conn.execute(
                    compose("ddl.lock_timeout", timeout=sql.Literal(f"{int(lock_timeout_ms)}ms"))
                )
                conn.execute(statement)
            return attempt
        except errors.LockNotAvailable:
            if attempt == attempts:
                raise DDLTimeout(f"no lock within {attempts} attempts: {statement[:120]}") from None
            sleep(min(2.0, 0.05 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


def index_state(conn: psycopg.Connection, name: str) -> bool | None:
    """Return whether the public index is valid, or None when it does not exist."""
    row = conn.execute(QUERIES["ddl.index_valid"], (name,)).fetchone()
    return None if row is None else row[0]


def create_index_concurrently(conn: psycopg.Connection, statement: str) -> str:
    """Build an index without blocking writes; drop and rebuild an invalid leftover of it.

    Returns what happened: "exists", "built" or "rebuilt".
    """
    m = _INDEX_NAME.search(statement)
    if not m:
        raise ValueError(f"not a CREATE INDEX CONCURRENTLY statement: {statement[:80]}")
    name = m.group(1).split(".")[-1].strip('"')
    state = index_state(conn, name)
    if state is True:
        return "exists"
    if state is False:
        # left by an interrupted build: it is maintained by every write but never used
        conn.execute(compose("ddl.drop_index", name=sql.Identifier(name)))
    # A concurrent build waits for transactions older than it; that wait blocks nobody.
    conn.execute(QUERIES["ddl.no_lock_timeout"])
    try:
        conn.execute(statement)
    finally:
        conn.execute(QUERIES["ddl.reset_lock_timeout"])
    return "rebuilt" if state is False else "built"
