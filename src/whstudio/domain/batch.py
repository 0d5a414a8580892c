"""Batch aggregation over every pairwise task: read all latest answers once, run majority,
weighted majority and Dawid–Skene, and store the results beside the real-time consensus.

Memory does not grow with the answers. Loading: the server numbers tasks and annotators (two
temporary tables, in uuid order; on a read replica, which has no temporary tables, the same
numbering inside the statement, see `read_spill`) and sends every answer as one int8 — task
number, annotator number, label — packed into `int8[]` values of 2^16 consecutive tasks in
binary form, read through a server-side cursor one value at a time. NumPy reads each in place
(no Python object per answer), sorts it and writes it to a temporary file in chunks of whole
tasks. Every method then reads the file back a chunk at a time: majority and weighted majority
in one pass, Dawid–Skene in one pass per EM iteration (`aggregation.DawidSkeneStreamed`), and
each writes its results straight into a binary COPY. What stays in memory is one chunk, the
annotators' figures and a byte or two per task (the winners, to compare the methods).

Storing: under a table lock that readers do not wait for, one UPDATE rewrites the method's
existing rows in task order (no foreign-key check: the key does not change), an INSERT adds
tasks answered for the first time and a DELETE drops tasks left without answers, so the
method's rows are exactly this run's."""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psycopg import AsyncConnection, pq
from psycopg.rows import tuple_row

from whstudio.db import bulk
from whstudio.db.queries import QUERIES
from whstudio.domain import aggregation, skill

METHODS = ("majority", "weighted", "dawid_skene")

# Tasks and annotators numbered 0.. in uuid order, for the session's transaction only
# (statements in db/sql/batch.sql).
_MAPS = ("batch.drop_maps", "batch.task_map", "batch.user_map", "batch.analyze_maps")
_WORK_MEM = "256MB"
_DROP_MAPS = "batch.drop_maps"
# int8 answer = task << 32 | annotator << 2 | label, in arrays of the answers of 2^16
# consecutive tasks (about 5 MB at 10 answers a task): batch.labels packs them so.
_WORKER_BITS = 32
_CHUNK_BITS = 16
_IDS = {"tasks": "batch.task_ids", "users": "batch.user_ids"}
# Answers per chunk of computation (whole tasks: a task with more answers is a chunk alone).
# A chunk's working arrays take about 60 bytes an answer: 2^20 answers, about 60 MB.
CHUNK_ANSWERS = 1 << 20


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
    winners: dict[str, np.ndarray] = field(default_factory=dict)  # per answered task, int8


@dataclass
class Chunk:
    """Some tasks' answers, whole: `labels` index the chunk's tasks 0.. and the compacted
    annotators; `tasks` are those tasks' server numbers, in order."""

    labels: aggregation.Labels
    tasks: np.ndarray


class Spill:
    """Every loaded answer packed in an int8 (task << 32 | annotator << 2 | label), sorted, in
    an unnamed temporary file (in TMPDIR; gone when closed), cut into chunks of whole tasks.

    Kept in memory: where each chunk lies, and per server annotator number how many answers
    they gave (so that annotators are compacted to those who answered)."""

    def __init__(self, n_users: int, chunk_answers: int = CHUNK_ANSWERS) -> None:
        # Open as long as the spill is: close() (callers hold it in a with block) ends it.
        self.file = tempfile.TemporaryFile(prefix="whs-batch-")  # noqa: SIM115
        self.chunk_answers = chunk_answers
        self.pieces: list[tuple[int, int, int]] = []  # (first task number, offset, answers)
        self.answers = 0
        self.tasks = 0
        self.per_user = np.zeros(n_users, dtype=np.int64)
        self.has_tie = False
        self.worker_of = np.empty(0, dtype=np.int64)

    def close(self) -> None:
        self.file.close()

    def add(self, packed: np.ndarray) -> None:
        """Append a server value's answers (whole tasks, any order)."""
        packed.sort()
        task = packed >> _WORKER_BITS
        self.per_user += np.bincount(
            (packed & ((1 << _WORKER_BITS) - 1)) >> 2, minlength=len(self.per_user)
        )
        self.has_tie = self.has_tie or bool(((packed & 3) == aggregation.TIE).any())
        if len(task):
            self.tasks += 1 + int(np.count_nonzero(task[1:] != task[:-1]))
        at, n = 0, len(packed)
        while at < n:
            cut = min(n, at + self.chunk_answers)
            if cut < n:  # back to the first answer of the task the limit falls in
                cut = int(np.searchsorted(task, task[cut], side="left"))
                if cut <= at:  # one task larger than a chunk: alone
                    cut = int(np.searchsorted(task, task[at], side="right"))
            self.pieces.append((int(task[at]), self.answers, cut - at))
            packed[at:cut].tofile(self.file)
            self.answers += cut - at
            at = cut

    def seal(self) -> None:
        """After the last value: chunks in task order, annotators compacted."""
        self.pieces.sort()
        self.file.flush()
        answering = self.per_user > 0
        self.worker_of = np.where(answering, np.cumsum(answering) - 1, -1)

    @property
    def n_workers(self) -> int:
        return int((self.per_user > 0).sum())

    @property
    def n_classes(self) -> int:
        # The classes the answers use: A/B without a tie anywhere is two (a tie class nobody
        # chose would only collect Dawid–Skene's pseudo-counts and move labels).
        return 3 if self.has_tie else 2

    def chunks(self) -> Iterator[Chunk]:
        """Each chunk, read from the file, in task order."""
        for _, offset, count in self.pieces:
            self.file.seek(offset * 8)
            packed = np.fromfile(self.file, dtype=np.int64, count=count)
            task = packed >> _WORKER_BITS
            starts = np.empty(len(task), dtype=bool)
            starts[0] = True
            np.not_equal(task[1:], task[:-1], out=starts[1:])
            local = np.cumsum(starts) - 1
            yield Chunk(
                aggregation.Labels(
                    task=local,
                    worker=self.worker_of[(packed & ((1 << _WORKER_BITS) - 1)) >> 2],
                    label=packed & 3,
                    n_tasks=int(local[-1]) + 1,
                    n_workers=self.n_workers,
                    n_classes=self.n_classes,
                ),
                task[starts],
            )

    def labels(self) -> Iterator[aggregation.Labels]:
        return (chunk.labels for chunk in self.chunks())


async def _fill(
    conn: AsyncConnection, spill: Spill, name: str, params: dict[str, Any] | None
) -> None:
    """Read the named load through a server-side cursor, one array at a time, into `spill`."""
    async with conn.cursor(name="whs_batch_labels", binary=True, row_factory=tuple_row) as cur:
        cur.itersize = 1
        await cur.execute(QUERIES[name], params)
        async for (raw,) in cur:
            spill.add(bulk.unpack_array(raw, ">i8"))
    spill.seal()


def _load_statement(dataset: str | None, task_ids: list[uuid.UUID] | None, *, read: bool):
    params = {"dataset": dataset, "task_ids": task_ids}
    if read:
        return "batch.read_labels_of", params
    if dataset is None and task_ids is None:
        return "batch.labels", None
    return "batch.labels_of", params


async def _numbered_ids(conn: AsyncConnection, table: str) -> np.ndarray:
    """Return the uuids of a numbering table (`tasks` or `users`), index -> uuid bytes."""
    [(idx, ids)] = await bulk.fetch_rows(conn, _IDS[table], binary=True)
    index, values = bulk.unpack_array(idx, ">i4"), bulk.unpack_array(ids, "V16")
    out = np.empty(len(values), dtype="V16")
    out[index] = values
    return out


def _numbered(conn: AsyncConnection) -> contextlib.AbstractAsyncContextManager[None]:
    """Number tasks and annotators in temporary tables for the duration of the block (in a
    transaction of its own when the connection is in autocommit mode).

    The hash tables of a million tasks need more than the default work_mem: it is raised for
    the block only (a transaction-local setting, put back at the end)."""
    return bulk.scratch(conn, _MAPS, _DROP_MAPS, work_mem=_WORK_MEM)


@contextlib.asynccontextmanager
async def _spilled(
    conn: AsyncConnection, *, dataset: str | None = None, task_ids: list[uuid.UUID] | None = None
) -> AsyncIterator[Spill]:
    """Inside `_numbered`: the answers (of a dataset, of some tasks, or all) in a Spill."""
    [(users,)] = await bulk.fetch_rows(conn, "batch.user_count")
    spill = Spill(int(users))
    try:
        await _fill(conn, spill, *_load_statement(dataset, task_ids, read=False))
        yield spill
    finally:
        spill.close()


async def _read_users(conn: AsyncConnection) -> np.ndarray:
    [(idx, ids)] = await bulk.fetch_rows(conn, "batch.read_user_ids", binary=True)
    index, values = bulk.unpack_array(idx, ">i4"), bulk.unpack_array(ids, "V16")
    users = np.empty(len(values), dtype="V16")
    users[index] = values
    return users


@contextlib.asynccontextmanager
async def read_spill(
    conn: AsyncConnection, *, dataset: str | None = None, task_ids: list[uuid.UUID] | None = None
) -> AsyncIterator[tuple[Spill, np.ndarray]]:
    """The answers (of a dataset, of some tasks, or all) in a Spill, and the answering
    annotators' uuids (compacted index -> uuid bytes), without writing anything: fit for a hot
    standby. The numbering is made inside each statement: with no transaction open, both run in
    one REPEATABLE READ snapshot of their own, so they number alike; in the caller's
    transaction, whose snapshot may move between statements, the annotators are read again
    after the answers and the load repeated if someone joined meanwhile."""
    async with contextlib.AsyncExitStack() as stack:
        own = conn.info.transaction_status == pq.TransactionStatus.IDLE
        if own:
            await stack.enter_async_context(conn.transaction())
            await conn.execute(QUERIES["batch.read_snapshot"])
        for attempt in range(1, 4):
            users = await _read_users(conn)
            spill = Spill(len(users))
            try:
                await _fill(conn, spill, *_load_statement(dataset, task_ids, read=True))
                if own or np.array_equal(await _read_users(conn), users):
                    break
                if attempt == 3:
                    raise RuntimeError("annotators kept joining while the answers were read")
            except BaseException:
                spill.close()
                raise
            spill.close()
        stack.callback(spill.close)
        yield spill, users[spill.per_user > 0]


def _whole(spill: Spill, all_tasks: np.ndarray, all_users: np.ndarray) -> Loaded:
    """Every chunk of a spill at once, as one set of index arrays (tasks and annotators with
    answers, indexed in uuid order)."""
    tasks, workers, labels, numbers = [], [], [], []
    base = 0
    for chunk in spill.chunks():
        tasks.append(chunk.labels.task + base)
        workers.append(chunk.labels.worker)
        labels.append(chunk.labels.label)
        numbers.append(chunk.tasks)
        base += chunk.labels.n_tasks
    empty = np.empty(0, np.int64)
    numbered = np.concatenate(numbers) if numbers else empty
    return Loaded(
        aggregation.Labels(
            task=np.concatenate(tasks) if tasks else empty,
            worker=np.concatenate(workers) if workers else empty,
            label=np.concatenate(labels) if labels else empty,
            n_tasks=base,
            n_workers=spill.n_workers,
            n_classes=spill.n_classes,
        ),
        all_tasks[numbered],
        all_users[spill.per_user > 0],
    )


async def load_labels(
    conn: AsyncConnection, *, dataset: str | None = None, task_ids: list[uuid.UUID] | None = None
) -> Loaded:
    """Return every latest pairwise answer (of one dataset's tasks, of the tasks given) as
    index arrays, all in memory (for callers whose data is small: simulations, tests)."""
    async with _numbered(conn), _spilled(conn, dataset=dataset, task_ids=task_ids) as spill:
        return _whole(spill, await _numbered_ids(conn, "tasks"), await _numbered_ids(conn, "users"))


async def _arrays(
    conn: AsyncConnection, name: str, params: dict[str, Any] | None, dtype: str
) -> AsyncIterator[np.ndarray]:
    """The named query's `array_send` values, one at a time through a server-side cursor."""
    async with conn.cursor(name="whs_batch_arrays", binary=True, row_factory=tuple_row) as cur:
        cur.itersize = 1
        await cur.execute(QUERIES[name], params)
        async for (raw,) in cur:
            yield bulk.unpack_array(raw, dtype)


async def _worker_weights(conn: AsyncConnection, spill: Spill) -> np.ndarray:
    [(idx, weight)] = await bulk.fetch_rows(conn, "batch.weights", binary=True)
    index, values = bulk.unpack_array(idx, ">i4"), bulk.unpack_array(weight, ">f8")
    weights = np.ones(spill.n_workers)
    mine = spill.worker_of[index]
    weights[mine[mine >= 0]] = values[mine >= 0]
    return weights


async def _realtime_winners(conn: AsyncConnection) -> np.ndarray:
    """The real-time winner of every task by server number (int8; -1: none)."""
    [(tasks,)] = await bulk.fetch_rows(conn, "batch.task_count")
    winners = np.full(int(tasks), -1, dtype=np.int8)
    async for packed in _arrays(conn, "batch.realtime", None, ">i8"):
        winners[packed >> 1] = packed & 1
    return winners


def _rows(tasks: np.ndarray, found: aggregation.Result) -> bytes:
    """Binary COPY rows (task number, winner, confidence) of some tasks' results."""
    return bulk.binary_rows(
        [
            (">i4", tasks),
            (">i2", found.winner),
            (">f8", np.clip(np.nan_to_num(found.confidence), 0.0, 1.0)),
        ]
    )


def _result_rows(
    spill: Spill,
    decide: Callable[[Chunk], aggregation.Result],
    winners: list[np.ndarray],
    realtime: tuple[np.ndarray, list[np.ndarray]] | None = None,
) -> Iterator[bytes]:
    """Decide each chunk's tasks; yield their results as binary COPY rows, keeping the winners
    (and, given `realtime`, the real-time winners of the same tasks) in task order."""
    for chunk in spill.chunks():
        found = decide(chunk)
        winners.append(found.winner.astype(np.int8))
        if realtime is not None:
            realtime[1].append(realtime[0][chunk.tasks])
        yield _rows(chunk.tasks, found)


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


async def _stage(conn: AsyncConnection, rows: Iterator[bytes] | None) -> None:
    """Stage a method's results in batch_in as they are computed (`rows` None: compute them
    without storing)."""
    if rows is None:
        return
    await bulk.execute(conn, "batch.drop_in")
    await bulk.execute(conn, "batch.create_in")
    await bulk.copy_in_parts(conn, "batch.copy_in", rows)
    await bulk.execute(conn, "batch.analyze_in")


async def _apply(
    conn: AsyncConnection,
    method: str,
    run_id: uuid.UUID,
    plans: list[tuple[str, str]] | None = None,
    dataset: str | None = None,
) -> None:
    """Replace the method's stored results with those staged (`plans`, when given, receives
    each statement's EXPLAIN (ANALYZE, BUFFERS) output: the statements still take effect)."""
    try:
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
    chunk_answers: int = CHUNK_ANSWERS,
) -> BatchRun:
    """Run the batch methods over all pairwise tasks, or one dataset's (inside the caller's
    transaction).

    A run over every task also keeps each annotator's Dawid–Skene skill (their reputation
    input); a run over one dataset stores its tasks' results only, since a skill estimated on
    part of an annotator's answers would replace the one estimated on all of them."""
    started = time.perf_counter()
    keep_skill = store and dataset is None
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(_numbered(conn))
        if keep_skill and "dawid_skene" in methods:
            # Storing Dawid-Skene locks every annotator's counters (skill.store_skill); a
            # method stored before it holds the results table meanwhile. Whoever takes both
            # (this, and quality.refresh) takes the table first, or two runs could deadlock.
            await lock_results(conn)
        [(users,)] = await bulk.fetch_rows(conn, "batch.user_count")
        spill = stack.enter_context(contextlib.closing(Spill(int(users), chunk_answers)))
        await _fill(conn, spill, *_load_statement(dataset, None, read=False))
        realtime = (await _realtime_winners(conn), [])
        run = BatchRun(
            run_id=uuid.uuid4(),
            labels=spill.answers,
            tasks=spill.tasks,
            workers=spill.n_workers,
        )
        run.seconds["load"] = time.perf_counter() - started
        if on_step:
            on_step("load")
        # Dawid–Skene first: storing it moves the reputations, and weighted voting reads the
        # weights they give, so a second run over the same answers gives the same results.
        ordered = sorted(methods, key=lambda m: (m == "weighted", m != "dawid_skene"))
        for method in ordered:
            began = time.perf_counter()
            winners: list[np.ndarray] = []
            seen = realtime if not realtime[1] else None
            if method == "majority":
                rows = _result_rows(spill, lambda c: aggregation.majority(c.labels), winners, seen)
            elif method == "weighted":
                weights = await _worker_weights(conn, spill)

                def weighted(c: Chunk, w: np.ndarray = weights) -> aggregation.Result:
                    return aggregation.weighted_majority(c.labels, w)

                rows = _result_rows(spill, weighted, winners, seen)
            elif method == "dawid_skene":
                model = aggregation.DawidSkeneStreamed(spill.n_workers, spill.n_classes)
                model.fit(spill.labels)
                run.iterations = model.iterations
                expected = np.zeros(spill.n_workers)

                def fitted(c: Chunk, m=model, expected=expected) -> aggregation.Result:
                    found, post = m.result(c.labels)
                    lab = c.labels
                    expected += np.bincount(
                        lab.worker, weights=post[lab.task, lab.label], minlength=len(expected)
                    )
                    return found

                rows = _result_rows(spill, fitted, winners, seen)
            else:
                raise ValueError(f"unknown method {method}")
            if store:
                await _stage(conn, rows)
            else:
                for _ in rows:  # computed, not kept
                    pass
            if method == "dawid_skene" and keep_skill:
                # Each annotator's confusion matrix, kept as their skill and reputation input.
                answering = spill.per_user > 0
                users = await _numbered_ids(conn, "users")
                skill_rows = skill.skill_rows_of(
                    model.priors,
                    model.confusion,
                    spill.per_user[answering],
                    expected,
                    users[answering],
                )
                classes = skill.CLASSES[: spill.n_classes]
                await skill.store_skill(conn, skill_rows, run.run_id, classes)
            run.winners[method] = np.concatenate(winners) if winners else np.empty(0, np.int8)
            run.seconds[method] = time.perf_counter() - began
            if store:
                began = time.perf_counter()
                await _apply(conn, method, run.run_id, dataset=dataset)
                run.seconds[f"store {method}"] = time.perf_counter() - began
            if on_step:
                on_step(method)
    names = ["realtime", *methods]
    compact = realtime[1]
    all_winners = {
        "realtime": np.concatenate(compact) if compact else np.empty(0, np.int8),
        **run.winners,
    }
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
        async with _spilled(conn) as spill:
            rows = _result_rows(spill, lambda c: aggregation.majority(c.labels), [])
            await _stage(conn, rows)
            await _apply(conn, "majority", uuid.uuid4(), plans)
    return plans
