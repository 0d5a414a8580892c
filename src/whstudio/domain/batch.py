"""Batch aggregation over every pairwise task: load all latest answers at once (binary COPY into
NumPy), run majority, weighted majority and Dawid–Skene, and store the results beside the
real-time consensus."""

from __future__ import annotations

import io
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from psycopg import AsyncConnection

from whstudio.domain import aggregation, quality

METHODS = ("majority", "weighted", "dawid_skene")
_LABELS_SQL = """
COPY (
    SELECT s.task_id, s.user_id,
           (CASE s.chosen_response WHEN 'A' THEN 0 WHEN 'B' THEN 1 ELSE 2 END)::smallint
      FROM submissions s
     WHERE s.is_latest AND s.chosen_response IS NOT NULL
) TO STDOUT (FORMAT binary)
"""
_HEADER = 19  # PGCOPY signature, flags, header extension length
_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("task_len", ">i4"),
        ("task", "V16"),
        ("user_len", ">i4"),
        ("user", "V16"),
        ("label_len", ">i4"),
        ("label", ">i2"),
    ]
)


@dataclass
class Loaded:
    labels: aggregation.Labels
    task_ids: np.ndarray  # V16, sorted: index -> task uuid bytes
    user_ids: np.ndarray  # V16, sorted: index -> user uuid bytes


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


def parse_copy(raw: bytes) -> np.ndarray:
    """Parse a binary COPY of (uuid, uuid, smallint) rows into a structured array."""
    body = raw[_HEADER:]
    if body.endswith(b"\xff\xff"):
        body = body[:-2]
    if len(body) % _ROW.itemsize:
        raise ValueError("unexpected COPY row layout")
    return np.frombuffer(body, dtype=_ROW)


def dense_ids(uuids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (distinct uuids, index of each input in them) for an array of 16-byte uuids.

    Sorting 16-byte values is slow at 10 million rows; their first 8 bytes, as integers, sort
    several times faster and are all but certainly distinct among random uuids. Should two
    distinct uuids share them, the full 16 bytes are used instead.
    """
    packed = np.ascontiguousarray(uuids).view(np.uint64).reshape(-1, 2)
    high, low = packed[:, 0], packed[:, 1]
    _, first, inverse = np.unique(high, return_index=True, return_inverse=True)
    if np.array_equal(low, low[first][inverse]):
        return uuids[first], inverse
    return np.unique(uuids, return_inverse=True)


async def load_labels(conn: AsyncConnection) -> Loaded:
    """Return every latest pairwise answer as index arrays."""
    buffer = io.BytesIO()
    async with conn.cursor() as cur, cur.copy(_LABELS_SQL) as copy:
        async for chunk in copy:
            buffer.write(chunk)
    rows = parse_copy(buffer.getvalue())
    task_ids, task_idx = dense_ids(rows["task"])
    user_ids, user_idx = dense_ids(rows["user"])
    labels = aggregation.Labels(
        task=task_idx.astype(np.int64),
        worker=user_idx.astype(np.int64),
        label=rows["label"].astype(np.int64),
        n_tasks=len(task_ids),
        n_workers=len(user_ids),
    )
    return Loaded(labels, task_ids, user_ids)


async def _worker_weights(conn: AsyncConnection, user_ids: np.ndarray) -> np.ndarray:
    cur = await conn.execute("SELECT id, reputation_weight FROM users")
    weights = {row["id"].bytes: float(row["reputation_weight"]) for row in await cur.fetchall()}
    return np.array([weights.get(bytes(u), 1.0) for u in user_ids])


async def _realtime_winners(conn: AsyncConnection, task_ids: np.ndarray) -> np.ndarray:
    cur = await conn.execute(
        "SELECT task_id, final_answer ->> 'chosen_response' AS choice FROM response_consensus"
        " WHERE final_answer ? 'chosen_response'"
    )
    by_task = {row["task_id"].bytes: row["choice"] for row in await cur.fetchall()}
    index = {"A": 0, "B": 1}
    return np.array([index.get(by_task.get(bytes(t), ""), -1) for t in task_ids])


async def _store(
    conn: AsyncConnection, method: str, loaded: Loaded, found: aggregation.Result, run_id
) -> None:
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS batch_in"
        " (task_id uuid, winner smallint, confidence double precision) ON COMMIT DROP"
    )
    await conn.execute("TRUNCATE batch_in")
    payload = io.BytesIO()
    payload.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
    rows = np.empty(
        loaded.labels.n_tasks,
        dtype=[
            ("n", ">i2"),
            ("l1", ">i4"),
            ("task", "V16"),
            ("l2", ">i4"),
            ("winner", ">i2"),
            ("l3", ">i4"),
            ("confidence", ">f8"),
        ],
    )
    rows["n"], rows["l1"], rows["l2"], rows["l3"] = 3, 16, 2, 8
    rows["task"] = loaded.task_ids
    rows["winner"] = found.winner
    rows["confidence"] = np.clip(np.nan_to_num(found.confidence), 0.0, 1.0)
    payload.write(rows.tobytes())
    payload.write(b"\xff\xff")
    async with (
        conn.cursor() as cur,
        cur.copy("COPY batch_in (task_id, winner, confidence) FROM STDIN (FORMAT binary)") as copy,
    ):
        await copy.write(payload.getvalue())
    await conn.execute(
        """
        INSERT INTO consensus_batch_results (task_id, method, final_answer, confidence, run_id)
        SELECT task_id, %(method)s,
               CASE winner WHEN 0 THEN '{"chosen_response": "A"}'::jsonb
                           WHEN 1 THEN '{"chosen_response": "B"}'::jsonb END,
               confidence, %(run_id)s
          FROM batch_in
        ON CONFLICT (task_id, method) DO UPDATE
           SET final_answer = excluded.final_answer, confidence = excluded.confidence,
               run_id = excluded.run_id, computed_at = CURRENT_TIMESTAMP
        """,
        {"method": method, "run_id": run_id},
    )


async def recompute(
    conn: AsyncConnection,
    methods: tuple[str, ...] = METHODS,
    *,
    store: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> BatchRun:
    """Run the batch methods over all pairwise tasks (inside the caller's transaction)."""
    started = time.perf_counter()
    loaded = await load_labels(conn)
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
            weights = await _worker_weights(conn, loaded.user_ids)
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
    realtime = await _realtime_winners(conn, loaded.task_ids)
    names = ["realtime", *methods]
    all_winners = {"realtime": realtime, **run.winners}
    for i, left in enumerate(names):
        for right in names[i + 1 :]:
            differ = float(np.mean(all_winners[left] != all_winners[right])) if run.tasks else 0.0
            run.disagreement[f"{left} vs {right}"] = differ
    return run
