"""Batch aggregation over every pairwise task: load all latest answers at once, run majority,
weighted majority and Dawid–Skene, and store the results beside the real-time consensus.

Loading: the server numbers tasks and annotators (two temporary tables, in uuid order) and sends
every answer as one int8 — task number, annotator number, label — packed into a few large
`int8[]` values in binary form, which NumPy reads in place: no Python object per answer and no
COPY message per row. Storing: the results go by binary COPY into a temporary table; then, under
a table lock that readers do not wait for, one UPDATE rewrites the method's existing rows in task
order (no foreign-key check: the key does not change), an INSERT adds tasks answered for the
first time and a DELETE drops tasks left without answers, so the method's rows are exactly this
run's."""

from __future__ import annotations

import contextlib
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from whstudio.domain import aggregation, quality

METHODS = ("majority", "weighted", "dawid_skene")

# Tasks and annotators numbered 0.. in uuid order, for the session's transaction only.
_MAPS = (
    "DROP TABLE IF EXISTS pg_temp.batch_tasks, pg_temp.batch_users",
    "CREATE TEMP TABLE batch_tasks AS"
    " SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS idx FROM tasks",
    "CREATE TEMP TABLE batch_users AS"
    " SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS idx,"
    "        coalesce(reputation_weight, 1)::float8 AS weight FROM users",
    "ANALYZE batch_tasks, batch_users",
)
_WORK_MEM = "256MB"
_DROP_MAPS = "DROP TABLE IF EXISTS pg_temp.batch_tasks, pg_temp.batch_users"
_WORKER_BITS = 32  # int8 answer = task << 32 | annotator << 2 | label
_CHUNK_BITS = 18  # answers of 2^18 consecutive tasks per array (about 30 MB at 10 answers a task)
_LABELS_SQL = f"""
SELECT array_send(array_agg((t.idx::int8 << {_WORKER_BITS}) | (u.idx::int8 << 2)
                  | CASE s.chosen_response WHEN 'A' THEN 0 WHEN 'B' THEN 1 ELSE 2 END))
  FROM submissions s
  JOIN batch_tasks t ON t.id = s.task_id
  JOIN batch_users u ON u.id = s.user_id
 WHERE s.is_latest AND s.chosen_response IS NOT NULL
 GROUP BY t.idx >> {_CHUNK_BITS}
"""
# The same answers of one dataset's tasks, or of given tasks (either or both NULL: no limit).
# PostgreSQL plans the statement with the values given, so a NULL's condition costs nothing.
_LABELS_OF_SQL = _LABELS_SQL.replace(
    " GROUP BY",
    """   AND (%(dataset)s::text IS NULL
        OR s.task_id IN (SELECT c.task_id FROM response_consensus c
                          WHERE c.source_dataset = %(dataset)s::text))
   AND (%(task_ids)s::uuid[] IS NULL OR s.task_id = ANY (%(task_ids)s::uuid[]))
 GROUP BY""",
)
_IDS_SQL = "SELECT array_send(array_agg(idx)), array_send(array_agg(id)) FROM batch_{}"
_WEIGHTS_SQL = "SELECT array_send(array_agg(idx)), array_send(array_agg(weight)) FROM batch_users"
_REALTIME_SQL = """
SELECT array_send(array_agg((t.idx::int8 << 1)
                  | CASE c.final_answer ->> 'chosen_response' WHEN 'B' THEN 1 ELSE 0 END))
  FROM response_consensus c
  JOIN batch_tasks t ON t.id = c.task_id
 WHERE c.final_answer ->> 'chosen_response' IN ('A', 'B')
"""
_ARRAY_HEADER = struct.Struct(">iiiii")  # ndim, has nulls, element type, length, lower bound


@dataclass
class Loaded:
    labels: aggregation.Labels
    task_ids: np.ndarray  # V16, in uuid order: index -> task uuid bytes
    user_ids: np.ndarray  # V16, in uuid order: index -> user uuid bytes


@dataclass
class BatchRun:
    run_id: uuid.UUID
    labels: int
    tasks: int
    workers: int
    seconds: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    disagreement: dict[str, float] = field(default_factory=dict)
    winners: dict[str, np.ndarray] = field(default_factory=dict)


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


async def _fetch(conn: AsyncConnection, query: str, params: dict | None = None) -> list[tuple]:
    async with conn.cursor(binary=True, row_factory=tuple_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def _numbered_ids(conn: AsyncConnection, table: str) -> np.ndarray:
    """Return the uuids of a numbering table (`tasks` or `users`), index -> uuid bytes."""
    [(idx, ids)] = await _fetch(conn, _IDS_SQL.format(table))
    index, values = unpack_array(idx, ">i4"), unpack_array(ids, "V16")
    out = np.empty(len(values), dtype="V16")
    out[index] = values
    return out


@dataclass
class _Numbering:
    """The server's numbering of tasks and annotators, and its compaction to those answered."""

    task_of: np.ndarray  # server task number -> index among answered tasks (-1: none)
    worker_of: np.ndarray  # server annotator number -> index among answering annotators


@contextlib.asynccontextmanager
async def _numbered(conn: AsyncConnection) -> AsyncIterator[None]:
    """Number tasks and annotators in temporary tables for the duration of the block (in a
    transaction of its own when the connection is in autocommit mode).

    The hash tables of a million tasks need more than the default work_mem: it is raised for
    the block only (a transaction-local setting, put back at the end)."""
    async with contextlib.AsyncExitStack() as stack:
        if conn.autocommit:
            await stack.enter_async_context(conn.transaction())
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                "SELECT current_setting('work_mem'), set_config('work_mem', %s, true)",
                [_WORK_MEM],
            )
            previous, _ = await cur.fetchone()
        for statement in _MAPS:
            await conn.execute(statement)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await conn.execute(_DROP_MAPS)
                await conn.execute("SELECT set_config('work_mem', %s, true)", [previous])


async def _load_numbered(
    conn: AsyncConnection, *, dataset: str | None = None, task_ids: list[uuid.UUID] | None = None
) -> tuple[Loaded, _Numbering]:
    if dataset is None and task_ids is None:
        found = await _fetch(conn, _LABELS_SQL)
    else:
        found = await _fetch(conn, _LABELS_OF_SQL, {"dataset": dataset, "task_ids": task_ids})
    chunks = [unpack_array(raw, ">i8") for (raw,) in found]
    packed = np.concatenate(chunks) if chunks else np.empty(0, np.int64)
    del chunks
    all_tasks = await _numbered_ids(conn, "tasks")
    all_users = await _numbered_ids(conn, "users")
    task = packed >> _WORKER_BITS
    worker = (packed & ((1 << _WORKER_BITS) - 1)) >> 2
    label = packed & 3
    del packed
    # Keep only tasks and annotators with answers, indexed in uuid order as the server numbered.
    answered = np.bincount(task, minlength=len(all_tasks)) > 0
    answering = np.bincount(worker, minlength=len(all_users)) > 0
    task_of = np.where(answered, np.cumsum(answered) - 1, -1)
    worker_of = np.where(answering, np.cumsum(answering) - 1, -1)
    labels = aggregation.Labels(
        task=task_of[task],
        worker=worker_of[worker],
        label=label,
        n_tasks=int(answered.sum()),
        n_workers=int(answering.sum()),
    )
    loaded = Loaded(labels, all_tasks[answered], all_users[answering])
    return loaded, _Numbering(task_of, worker_of)


async def load_labels(
    conn: AsyncConnection, *, dataset: str | None = None, task_ids: list[uuid.UUID] | None = None
) -> Loaded:
    """Return every latest pairwise answer (of one dataset's tasks, of the tasks given) as
    index arrays."""
    async with _numbered(conn):
        loaded, _ = await _load_numbered(conn, dataset=dataset, task_ids=task_ids)
    return loaded


async def _worker_weights(conn: AsyncConnection, numbering: _Numbering, n: int) -> np.ndarray:
    [(idx, weight)] = await _fetch(conn, _WEIGHTS_SQL)
    index, values = unpack_array(idx, ">i4"), unpack_array(weight, ">f8")
    weights = np.ones(n)
    mine = numbering.worker_of[index]
    weights[mine[mine >= 0]] = values[mine >= 0]
    return weights


async def _realtime_winners(conn: AsyncConnection, numbering: _Numbering, n: int) -> np.ndarray:
    [(raw,)] = await _fetch(conn, _REALTIME_SQL)
    packed = unpack_array(raw, ">i8")
    winners = np.full(n, -1)
    task = numbering.task_of[packed >> 1]
    winners[task[task >= 0]] = (packed & 1)[task >= 0]
    return winners


_STAGE = np.dtype(
    [
        ("n", ">i2"),
        ("l1", ">i4"),
        ("task", "V16"),
        ("l2", ">i4"),
        ("winner", ">i2"),
        ("l3", ">i4"),
        ("confidence", ">f8"),
    ]
)
_EXPLAINABLE = ("CREATE", "UPDATE", "INSERT", "DELETE")
_ANSWER = """CASE s.winner WHEN 0 THEN '{"chosen_response": "A"}'::jsonb
                           WHEN 1 THEN '{"chosen_response": "B"}'::jsonb END"""
# Writers of the table wait until this transaction ends (only this module writes it, and a
# task's deletion cascades to it); readers do not. The row versions found next stay put.
LOCK_RESULTS = "LOCK TABLE consensus_batch_results IN SHARE ROW EXCLUSIVE MODE"
_STORE_SQL = (
    LOCK_RESULTS,
    "DROP TABLE IF EXISTS pg_temp.batch_rows",
    # The method's rows as they stand, in task order: a run writes its rows in that order, so
    # the next one reads the old rows and writes index entries and new rows in storage order.
    "CREATE TEMP TABLE batch_rows AS"
    " SELECT r.ctid AS row_tid, s.winner, s.confidence"
    "   FROM consensus_batch_results r JOIN batch_in s ON s.task_id = r.task_id"
    "  WHERE r.method = %(method)s ORDER BY r.task_id",
    f"""
    UPDATE consensus_batch_results r
       SET final_answer = {_ANSWER}, confidence = s.confidence, run_id = %(run_id)s,
           computed_at = CURRENT_TIMESTAMP
      FROM batch_rows s
     WHERE r.ctid = s.row_tid
    """,
    # Tasks answered for the first time.
    f"""
    INSERT INTO consensus_batch_results (task_id, method, final_answer, confidence, run_id)
    SELECT s.task_id, %(method)s, {_ANSWER}, s.confidence, %(run_id)s
      FROM batch_in s
     WHERE NOT EXISTS (SELECT FROM consensus_batch_results r
                        WHERE r.task_id = s.task_id AND r.method = %(method)s)
     ORDER BY s.task_id
    """,
    # Tasks this run did not see (no answers left) lose the method's earlier result.
    "DELETE FROM consensus_batch_results WHERE method = %(method)s AND run_id <> %(run_id)s",
    "DROP TABLE pg_temp.batch_rows",
)


def copy_payload(task_ids: np.ndarray, found: aggregation.Result) -> bytes:
    """Return a binary COPY of (task uuid, winner, confidence) rows."""
    rows = np.empty(len(task_ids), dtype=_STAGE)
    rows["n"], rows["l1"], rows["l2"], rows["l3"] = 3, 16, 2, 8
    rows["task"] = task_ids
    rows["winner"] = found.winner
    rows["confidence"] = np.clip(np.nan_to_num(found.confidence), 0.0, 1.0)
    return b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0) + rows.tobytes() + b"\xff\xff"


async def _store(
    conn: AsyncConnection,
    method: str,
    loaded: Loaded,
    found: aggregation.Result,
    run_id,
    plans: list[tuple[str, str]] | None = None,
) -> None:
    """Replace the method's stored results with these (`plans`, when given, receives each
    statement's EXPLAIN (ANALYZE, BUFFERS) output: the statements still take effect)."""
    await conn.execute("DROP TABLE IF EXISTS pg_temp.batch_in")
    await conn.execute(
        "CREATE TEMP TABLE batch_in (task_id uuid, winner smallint, confidence double precision)"
    )
    try:
        async with (
            conn.cursor() as cur,
            cur.copy("COPY batch_in FROM STDIN (FORMAT binary)") as copy,
        ):
            await copy.write(copy_payload(loaded.task_ids, found))
        await conn.execute("ANALYZE batch_in")
        params = {"method": method, "run_id": run_id}
        for statement in _STORE_SQL:
            if plans is not None and statement.split()[0] in _EXPLAINABLE:
                cur = await conn.execute("EXPLAIN (ANALYZE, BUFFERS, WAL) " + statement, params)
                lines = [
                    row[0] if isinstance(row, tuple) else next(iter(row.values()))
                    for row in await cur.fetchall()
                ]
                plans.append((statement, "\n".join(lines)))
                continue
            cur = await conn.execute(statement, params)
            if statement.lstrip().startswith("CREATE TEMP TABLE batch_rows"):
                expected = cur.rowcount
            elif statement.lstrip().startswith("UPDATE") and cur.rowcount != expected:
                raise RuntimeError(f"{method}: updated {cur.rowcount} rows of {expected}")
    finally:
        with contextlib.suppress(Exception):
            await conn.execute("DROP TABLE IF EXISTS pg_temp.batch_in")


async def recompute(
    conn: AsyncConnection,
    methods: tuple[str, ...] = METHODS,
    *,
    store: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> BatchRun:
    """Run the batch methods over all pairwise tasks (inside the caller's transaction)."""
    started = time.perf_counter()
    async with _numbered(conn):
        if store and "dawid_skene" in methods:
            # Storing Dawid-Skene locks every annotator's counters (quality.store_skill); a
            # method stored before it holds the results table meanwhile. Whoever takes both
            # (this, and quality.refresh) takes the table first, or two runs could deadlock.
            await conn.execute(LOCK_RESULTS)
        loaded, numbering = await _load_numbered(conn)
        run = BatchRun(
            run_id=uuid.uuid4(),
            labels=len(loaded.labels.task),
            tasks=loaded.labels.n_tasks,
            workers=loaded.labels.n_workers,
        )
        run.seconds["load"] = time.perf_counter() - started
        if on_step:
            on_step("load")
        for method in methods:
            began = time.perf_counter()
            if method == "majority":
                found = aggregation.majority(loaded.labels)
            elif method == "weighted":
                weights = await _worker_weights(conn, numbering, loaded.labels.n_workers)
                found = aggregation.weighted_majority(loaded.labels, weights)
            elif method == "dawid_skene":
                fit = aggregation.dawid_skene(loaded.labels)
                found = fit.result
                run.iterations = fit.result.iterations
                if store:
                    # Each annotator's confusion matrix, kept as their skill and reputation input.
                    rows = quality.skill_rows(fit, loaded.labels, loaded.user_ids)
                    await quality.store_skill(conn, rows, run.run_id)
            else:
                raise ValueError(f"unknown method {method}")
            run.seconds[method] = time.perf_counter() - began
            run.winners[method] = found.winner
            if store:
                began = time.perf_counter()
                await _store(conn, method, loaded, found, run.run_id)
                run.seconds[f"store {method}"] = time.perf_counter() - began
            if on_step:
                on_step(method)
        realtime = await _realtime_winners(conn, numbering, loaded.labels.n_tasks)
    names = ["realtime", *methods]
    all_winners = {"realtime": realtime, **run.winners}
    for i, left in enumerate(names):
        for right in names[i + 1 :]:
            differ = float(np.mean(all_winners[left] != all_winners[right])) if run.tasks else 0.0
            run.disagreement[f"{left} vs {right}"] = differ
    return run


async def explain(conn: AsyncConnection) -> list[tuple[str, str]]:
    """Return (statement, EXPLAIN (ANALYZE, BUFFERS) output) for the load queries and for
    storing majority's results. The store takes effect: roll the transaction back after."""
    plans = []
    async with _numbered(conn):
        for query in (_LABELS_SQL, _REALTIME_SQL):
            rows = await _fetch(conn, "EXPLAIN (ANALYZE, BUFFERS) " + query)
            plans.append((query, "\n".join(row[0] for row in rows)))
        loaded, _ = await _load_numbered(conn)
        found = aggregation.majority(loaded.labels)
        await _store(conn, "majority", loaded, found, uuid.uuid4(), plans)
    return plans
