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
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from psycopg import AsyncConnection

from whstudio.db import bulk
from whstudio.db.queries import QUERIES
from whstudio.domain import aggregation, skill

METHODS = ("majority", "weighted", "dawid_skene")

# Tasks and annotators numbered 0.. in uuid order, for the session's transaction only
# (statements in db/sql/batch.sql).
_MAPS = ("batch.drop_maps", "batch.task_map", "batch.user_map", "batch.analyze_maps")
_WORK_MEM = "256MB"
_DROP_MAPS = "batch.drop_maps"
# int8 answer = task << 32 | annotator << 2 | label, in arrays of the answers of 2^18
# consecutive tasks (about 30 MB at 10 answers a task): batch.labels packs them so.
_WORKER_BITS = 32
_CHUNK_BITS = 18
_IDS = {"tasks": "batch.task_ids", "users": "batch.user_ids"}


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


async def _numbered_ids(conn: AsyncConnection, table: str) -> np.ndarray:
    """Return the uuids of a numbering table (`tasks` or `users`), index -> uuid bytes."""
    [(idx, ids)] = await bulk.fetch_rows(conn, _IDS[table], binary=True)
    index, values = bulk.unpack_array(idx, ">i4"), bulk.unpack_array(ids, "V16")
    out = np.empty(len(values), dtype="V16")
    out[index] = values
    return out


@dataclass
class _Numbering:
    """The server's numbering of tasks and annotators, and its compaction to those answered."""

    task_of: np.ndarray  # server task number -> index among answered tasks (-1: none)
    worker_of: np.ndarray  # server annotator number -> index among answering annotators


def _numbered(conn: AsyncConnection) -> contextlib.AbstractAsyncContextManager[None]:
    """Number tasks and annotators in temporary tables for the duration of the block (in a
    transaction of its own when the connection is in autocommit mode).

    The hash tables of a million tasks need more than the default work_mem: it is raised for
    the block only (a transaction-local setting, put back at the end)."""
    return bulk.scratch(conn, _MAPS, _DROP_MAPS, work_mem=_WORK_MEM)


async def _load_numbered(
    conn: AsyncConnection, *, dataset: str | None = None, task_ids: list[uuid.UUID] | None = None
) -> tuple[Loaded, _Numbering]:
    if dataset is None and task_ids is None:
        found = await bulk.fetch_rows(conn, "batch.labels", binary=True)
    else:
        found = await bulk.fetch_rows(
            conn, "batch.labels_of", {"dataset": dataset, "task_ids": task_ids}, binary=True
        )
    chunks = [bulk.unpack_array(raw, ">i8") for (raw,) in found]
    packed = np.concatenate(chunks) if chunks else np.empty(0, np.int64)
    del chunks
    # In (task, annotator) order whatever order the server sent them in: the same answers give
    # the same sums in the same order, so the same result to the last bit.
    packed.sort()
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
        # The classes the answers use: A/B without a tie anywhere is two (a tie class nobody
        # chose would only collect Dawid–Skene's pseudo-counts and move labels).
        n_classes=3 if bool((label == aggregation.TIE).any()) else 2,
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
    [(idx, weight)] = await bulk.fetch_rows(conn, "batch.weights", binary=True)
    index, values = bulk.unpack_array(idx, ">i4"), bulk.unpack_array(weight, ">f8")
    weights = np.ones(n)
    mine = numbering.worker_of[index]
    weights[mine[mine >= 0]] = values[mine >= 0]
    return weights


async def _realtime_winners(conn: AsyncConnection, numbering: _Numbering, n: int) -> np.ndarray:
    [(raw,)] = await bulk.fetch_rows(conn, "batch.realtime", binary=True)
    packed = bulk.unpack_array(raw, ">i8")
    winners = np.full(n, -1)
    task = numbering.task_of[packed >> 1]
    winners[task[task >= 0]] = (packed & 1)[task >= 0]
    return winners


# Storing a method's results, after its rows are staged in batch_in: the statements in order,
# those EXPLAINed when plans are asked for (with ANALYZE: they still take effect).
_STORE = (
    "batch.lock_results",
    "batch.drop_rows",
    "batch.stage_rows",
    "batch.update_results",
    "batch.insert_results",
    "batch.delete_stale",
    "batch.drop_rows_after",
)
_EXPLAINED = {
    "batch.stage_rows",
    "batch.update_results",
    "batch.insert_results",
    "batch.delete_stale",
}


async def lock_results(conn: AsyncConnection) -> None:
    """Lock the batch results table against writers until the transaction ends; readers do not
    wait (only this module writes it, and a task's deletion cascades to it)."""
    await bulk.execute(conn, "batch.lock_results")


def copy_payload(task_ids: np.ndarray, found: aggregation.Result) -> bytes:
    """Return a binary COPY of (task uuid, winner, confidence) rows."""
    return bulk.binary_copy(
        [
            ("V16", task_ids),
            (">i2", found.winner),
            (">f8", np.clip(np.nan_to_num(found.confidence), 0.0, 1.0)),
        ]
    )


async def _store(
    conn: AsyncConnection,
    method: str,
    loaded: Loaded,
    found: aggregation.Result,
    run_id,
    plans: list[tuple[str, str]] | None = None,
    dataset: str | None = None,
) -> None:
    """Replace the method's stored results with these (`plans`, when given, receives each
    statement's EXPLAIN (ANALYZE, BUFFERS) output: the statements still take effect)."""
    await bulk.execute(conn, "batch.drop_in")
    await bulk.execute(conn, "batch.create_in")
    try:
        await bulk.copy_in(conn, "batch.copy_in", copy_payload(loaded.task_ids, found))
        await bulk.execute(conn, "batch.analyze_in")
        params = {"method": method, "run_id": run_id, "dataset": dataset}
        for name in _STORE:
            if plans is not None and name in _EXPLAINED:
                plan = await bulk.explain(conn, name, params, options=("ANALYZE", "BUFFERS", "WAL"))
                plans.append((QUERIES[name], plan))
                continue
            touched = await bulk.execute(conn, name, params)
            if name == "batch.stage_rows":
                expected = touched
            elif name == "batch.update_results" and touched != expected:
                raise RuntimeError(f"{method}: updated {touched} rows of {expected}")
    finally:
        with contextlib.suppress(Exception):
            await bulk.execute(conn, "batch.drop_in")


async def recompute(
    conn: AsyncConnection,
    methods: tuple[str, ...] = METHODS,
    *,
    store: bool = True,
    on_step: Callable[[str], None] | None = None,
    dataset: str | None = None,
) -> BatchRun:
    """Run the batch methods over all pairwise tasks, or one dataset's (inside the caller's
    transaction).

    A run over every task also keeps each annotator's Dawid–Skene skill (their reputation
    input); a run over one dataset stores its tasks' results only, since a skill estimated on
    part of an annotator's answers would replace the one estimated on all of them."""
    started = time.perf_counter()
    keep_skill = store and dataset is None
    async with _numbered(conn):
        if keep_skill and "dawid_skene" in methods:
            # Storing Dawid-Skene locks every annotator's counters (skill.store_skill); a
            # method stored before it holds the results table meanwhile. Whoever takes both
            # (this, and quality.refresh) takes the table first, or two runs could deadlock.
            await lock_results(conn)
        loaded, numbering = await _load_numbered(conn, dataset=dataset)
        run = BatchRun(
            run_id=uuid.uuid4(),
            labels=len(loaded.labels.task),
            tasks=loaded.labels.n_tasks,
            workers=loaded.labels.n_workers,
        )
        run.seconds["load"] = time.perf_counter() - started
        if on_step:
            on_step("load")
        # Dawid–Skene first: storing it moves the reputations, and weighted voting reads the
        # weights they give, so a second run over the same answers gives the same results.
        ordered = sorted(methods, key=lambda m: (m == "weighted", m != "dawid_skene"))
        for method in ordered:
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
                if keep_skill:
                    # Each annotator's confusion matrix, kept as their skill and reputation input.
                    rows = skill.skill_rows(fit, loaded.labels, loaded.user_ids)
                    classes = skill.CLASSES[: loaded.labels.n_classes]
                    await skill.store_skill(conn, rows, run.run_id, classes)
            else:
                raise ValueError(f"unknown method {method}")
            run.seconds[method] = time.perf_counter() - began
            run.winners[method] = found.winner
            if store:
                began = time.perf_counter()
                await _store(conn, method, loaded, found, run.run_id, dataset=dataset)
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
        for name in ("batch.labels", "batch.realtime"):
            plan = await bulk.explain(conn, name, options=("ANALYZE", "BUFFERS"), binary=True)
            plans.append((QUERIES[name], plan))
        loaded, _ = await _load_numbered(conn)
        found = aggregation.majority(loaded.labels)
        await _store(conn, "majority", loaded, found, uuid.uuid4(), plans)
    return plans
