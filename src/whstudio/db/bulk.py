"""Bulk reads and writes by named statement: arrays in `array_send` binary form read in place,
rows sent by binary COPY, temporary tables that live for a block, and EXPLAIN of a statement.

Unlike `queries`, these keep a statement without parameters as one (`params=None`: the simple
query protocol), and read rows as tuples whatever the connection's row factory."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from psycopg import AsyncConnection, pq, sql
from psycopg.rows import tuple_row

from whstudio.db.queries import QUERIES

_ARRAY_HEADER = struct.Struct(">iiiii")  # ndim, has nulls, element type, length, lower bound
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # signature, flags, extension
COPY_TRAILER = b"\xff\xff"


def unpack_array(raw: bytes | None, dtype: str) -> np.ndarray:
    """Return the elements of a one-dimensional PostgreSQL array without NULLs, in its binary
    form (what `array_send` returns), as a NumPy array of `dtype` (a big-endian type)."""
    item = np.dtype(dtype)
    if raw is None:
        return np.empty(0, item.newbyteorder("="))
    ndim, has_nulls, _ = struct.unpack_from(">iii", raw)
    if ndim == 0:
        return np.empty(0, item.newbyteorder("="))
    if ndim != 1 or has_nulls:
        raise ValueError("expected a one-dimensional array without NULLs")
    length = _ARRAY_HEADER.unpack_from(raw)[3]
    cells = np.dtype([("size", ">i4"), ("value", item)])
    if len(raw) != _ARRAY_HEADER.size + length * cells.itemsize:
        raise ValueError("unexpected array layout")
    rows = np.frombuffer(raw, dtype=cells, offset=_ARRAY_HEADER.size, count=length)
    if np.any(rows["size"] != item.itemsize):
        raise ValueError("unexpected array element size")
    values = rows["value"]
    return values if item.kind == "V" else values.astype(item.newbyteorder("="))


def binary_copy(columns: Sequence[tuple[str, np.ndarray]]) -> bytes:
    """Return a whole binary COPY (header, rows, trailer) of `columns` (see binary_rows)."""
    return COPY_HEADER + binary_rows(columns) + COPY_TRAILER


def binary_rows(columns: Sequence[tuple[str, np.ndarray]]) -> bytes:
    """Return rows in COPY's binary format, without header or trailer: `columns` are
    (big-endian dtype, values), one value per row each, none NULL; a row is a field count,
    then each field's length and value."""
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, (dtype, _) in enumerate(columns):
        fields += [(f"l{i}", ">i4"), (f"v{i}", dtype)]
    stage = np.dtype(fields)
    rows = np.empty(len(columns[0][1]) if columns else 0, dtype=stage)
    rows["n"] = len(columns)
    for i, (dtype, values) in enumerate(columns):
        rows[f"l{i}"] = np.dtype(dtype).itemsize
        rows[f"v{i}"] = values
    return rows.tobytes()


async def fetch_rows(
    conn: AsyncConnection,
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    binary: bool = False,
) -> list[tuple]:
    """Run a named query; return all its rows as tuples (`binary`: values in binary form, so an
    `array_send` bytea arrives as is)."""
    async with conn.cursor(binary=binary, row_factory=tuple_row) as cur:
        await cur.execute(QUERIES[name], params)
        return await cur.fetchall()


async def execute(conn: AsyncConnection, name: str, params: Mapping[str, Any] | None = None) -> int:
    """Run a named statement; return the number of rows it touched."""
    cur = await conn.execute(QUERIES[name], params)
    return cur.rowcount


async def copy_in(conn: AsyncConnection, name: str, payload: bytes) -> None:
    """Send `payload` (from `binary_copy`) to the named `COPY ... FROM STDIN` statement."""
    async with conn.cursor() as cur, cur.copy(QUERIES[name]) as copy:
        await copy.write(payload)


async def copy_in_parts(conn: AsyncConnection, name: str, parts: Iterable[bytes]) -> None:
    """Send rows (from `binary_rows`) to the named binary `COPY ... FROM STDIN` statement as
    `parts` gives them, so that the whole never has to be in memory at once."""
    async with conn.cursor() as cur, cur.copy(QUERIES[name]) as copy:
        await copy.write(COPY_HEADER)
        for part in parts:
            await copy.write(part)
        await copy.write(COPY_TRAILER)


@contextlib.asynccontextmanager
async def scratch(
    conn: AsyncConnection, setup: Sequence[str], teardown: str, *, work_mem: str
) -> AsyncIterator[None]:
    """Run the named `setup` statements (temporary tables), and `teardown` after the block, in a
    transaction of its own when the connection is in autocommit mode.

    work_mem is raised for the block only (a transaction-local setting, put back at the end):
    the hash tables of a bulk step need more than the default."""
    async with contextlib.AsyncExitStack() as stack:
        if conn.autocommit:
            await stack.enter_async_context(conn.transaction())
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(QUERIES["bulk.raise_work_mem"], {"value": work_mem})
            previous, _ = await cur.fetchone()
        for name in setup:
            await conn.execute(QUERIES[name])
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await conn.execute(QUERIES[teardown])
                await conn.execute(QUERIES["bulk.restore_work_mem"], {"value": previous})


@contextlib.asynccontextmanager
async def counts_later(conn: AsyncConnection) -> AsyncIterator[None]:
    """Count the tasks the block creates once, as it ends, in one statement (revision 0020),
    instead of moving the dashboard's counter rows (task_counts) once per task: for a step that
    creates many tasks in one transaction, where every move of a counter row walked the
    versions the transaction had left of it. Only inside a transaction (outside one there is
    nothing to gain, and the block counts as usual); nested blocks count with the outermost.
    If the block raises while the transaction can still commit, the tasks are counted all the
    same, so that a caller who commits what was stored leaves the counts right."""
    if conn.info.transaction_status != pq.TransactionStatus.INTRANS:
        yield
        return
    await conn.execute(QUERIES["bulk.counts_later_table"])
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(QUERIES["bulk.counts_later_on"])
        row = await cur.fetchone()
    if row and row[0]:
        yield
        return
    try:
        yield
    finally:
        if conn.info.transaction_status == pq.TransactionStatus.INTRANS:
            await conn.execute(QUERIES["bulk.counts_later_off"])


async def explain(
    conn: AsyncConnection,
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    options: Sequence[str] = ("ANALYZE", "BUFFERS"),
    binary: bool = False,
) -> str:
    """Run the named statement under EXPLAIN with `options` (with ANALYZE it takes effect);
    return the plan's text."""
    query = sql.SQL(QUERIES["bulk.explain"]).format(
        options=sql.SQL(", ").join(sql.SQL(o) for o in options), statement=sql.SQL(QUERIES[name])
    )
    async with conn.cursor(binary=binary, row_factory=tuple_row) as cur:
        await cur.execute(query, params)
        return "\n".join(row[0] for row in await cur.fetchall())


async def analyze_grown(conn: AsyncConnection, grown: Mapping[str, int]) -> list[str]:
    """ANALYZE the tables a bulk step grew (table -> rows it added or changed) past autovacuum's
    own rule, in the step's transaction; return those analysed. A table another session is
    analysing is left to it, so concurrent steps never wait on each other here."""
    if not grown:
        return []
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            QUERIES["bulk.grown_tables"],
            {"tables": list(grown), "grown": [int(n) for n in grown.values()]},
        )
        tables = [name for (name,) in await cur.fetchall()]
        done = []
        for table in tables:
            await cur.execute(QUERIES["bulk.try_analyze_lock"], {"table": table})
            row = await cur.fetchone()
            if row and row[0]:
                statement = sql.SQL(QUERIES["bulk.analyze"]).format(
                    table=sql.Identifier("public", table)
                )
                await cur.execute(statement)
                done.append(table)
    return done
