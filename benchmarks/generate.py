"""Build the benchmark data set with COPY: annotators, pairwise questions, tasks and their
answers, then every task's consensus row from the answers in one set-based statement.

The database must be migrated to head and hold no tasks. Loading runs in one session with
`session_replication_role = replica`, so no trigger fires (nor foreign-key check: the generator
builds consistent rows itself); the bulk tables' indexes are dropped first and rebuilt after, with
the same names and definitions. A sample of consensus rows is then checked against
`consensus_recompute_v1()`.

    .venv/bin/python -m benchmarks.generate URL [--scale small]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from benchmarks.common import SCALES, Scale

DATASETS = (
    ("bench-hh-rlhf", 0.40),
    ("bench-mt-bench", 0.25),
    ("bench-chatbot-arena", 0.20),
    ("bench-ultrafeedback", 0.10),
    ("bench-safety", 0.05),
)
SPECIAL_DATASET = "bench-special"
BULK_TABLES = ("questions", "tasks", "submissions", "response_consensus")
_PHRASES = (
    "explain why the sky is blue to a child compare two sorting algorithms write a haiku about "
    "autumn summarise the plot of hamlet translate this sentence into french give three tips for "
    "better sleep describe photosynthesis what is a quantum computer how do vaccines work plan a "
    "weekend trip to rome list prime numbers below fifty refactor this python function draft a "
    "polite email declining an invitation why do cats purr outline the causes of world war one "
    "solve the equation for x recommend a beginner telescope debug this sql query critique this "
    "poem propose a name for a bakery estimate the population of tokyo convert celsius to "
    "fahrenheit argue for and against remote work"
)
_WORDS = tuple(_PHRASES.split())


@dataclass
class Generated:
    """What was built and how long each step took."""

    scale: str
    tasks: int = 0
    responses: int = 0
    users: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    special: dict[str, str] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    sample_checked: int = 0
    sample_mismatches: int = -1
    recompute_ms_per_task: float = 0.0
    big_task: int = 0

    def as_meta(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "tasks": self.tasks,
            "responses": self.responses,
            "users": self.users,
            "seconds": self.seconds,
            "special": self.special,
            "datasets": self.datasets,
            "sample_checked": self.sample_checked,
            "sample_mismatches": self.sample_mismatches,
            "recompute_ms_per_task": self.recompute_ms_per_task,
            "big_task": self.big_task,
        }


# --- fixed-width text rows, built in NumPy -----------------------------------------------------


def uuid_texts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return n random version-4 UUIDs as fixed-width S36 text."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.frombuffer(raw.tobytes().hex().encode(), dtype="S32")
    parts = hexed.view([("a", "S8"), ("b", "S4"), ("c", "S4"), ("d", "S4"), ("e", "S12")])
    out = np.empty(
        n,
        dtype=[
            ("a", "S8"),
            ("s1", "S1"),
            ("b", "S4"),
            ("s2", "S1"),
            ("c", "S4"),
            ("s3", "S1"),
            ("d", "S4"),
            ("s4", "S1"),
            ("e", "S12"),
        ],
    )
    for name in "abcde":
        out[name] = parts[name]
    for name in ("s1", "s2", "s3", "s4"):
        out[name] = b"-"
    return out.view("S36")


def digits(values: np.ndarray, width: int) -> np.ndarray:
    """Return non-negative integers as zero-padded fixed-width text (PostgreSQL reads 007 as 7)."""
    v = values.astype(np.int64)
    out = np.empty((len(v), width), dtype=np.uint8)
    for pos in range(width - 1, -1, -1):
        out[:, pos] = (v % 10) + ord("0")
        v //= 10
    return out.view(f"S{width}").ravel()


def timestamps(seconds: np.ndarray) -> np.ndarray:
    """Return epoch seconds as fixed-width 'YYYY-MM-DDTHH:MM:SS+00' text."""
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").astype("S19")
    return np.char.add(text, b"+00")


def fixed_rows(columns: list[np.ndarray]) -> bytes:
    """Return COPY text rows from equal-length fixed-width byte-string columns."""
    n = len(columns[0])
    layout = []
    for i, col in enumerate(columns):
        layout += [(f"c{i}", f"S{col.dtype.itemsize}"), (f"t{i}", "S1")]
    out = np.empty(n, dtype=layout)
    for i, col in enumerate(columns):
        out[f"c{i}"] = col
        out[f"t{i}"] = b"\t"
    out[f"t{len(columns) - 1}"] = b"\n"
    return out.tobytes()


def const(value: bytes, n: int) -> np.ndarray:
    return np.full(n, value, dtype=f"S{len(value)}")


# --- the plan of the data --------------------------------------------------------------------


def fit_total(counts: np.ndarray, cap: np.ndarray, fixed: np.ndarray, total: int, rng) -> None:
    """Adjust `counts` in place (0 <= counts <= cap, rows in `fixed` untouched) to sum to total."""
    diff = int(total - counts.sum())
    free = np.flatnonzero(~fixed)
    order = free[rng.permutation(len(free))]
    if diff == 0:
        return
    room = (cap - counts)[order] if diff > 0 else counts[order]
    cum = np.cumsum(room)
    need = abs(diff)
    if len(cum) == 0 or cum[-1] < need:
        raise ValueError("thresholds leave no room for that many responses; lower --responses")
    k = int(np.searchsorted(cum, need))
    change = np.zeros_like(counts)
    change[order[:k]] = room[:k]
    change[order[k]] = need - (int(cum[k - 1]) if k else 0)
    counts += change if diff > 0 else -change


@dataclass
class TaskPlan:
    threshold: np.ndarray
    status: np.ndarray  # 0 active, 1 paused, 2 completed
    count: np.ndarray
    priority: np.ndarray
    allow_tie: np.ndarray
    min_agreement: np.ndarray
    truth: np.ndarray  # 0 A, 1 B
    gold: np.ndarray  # bool
    dataset: np.ndarray
    created: np.ndarray  # epoch seconds
    user_base: np.ndarray
    user_step: np.ndarray


def plan_tasks(rng: np.random.Generator, n: int, responses: int, annotators: int) -> TaskPlan:
    """Draw every task's rule, state and number of answers (summing to `responses`)."""
    tail = rng.random(n) < 0.2
    threshold = np.where(tail, rng.integers(16, 51, n), rng.integers(3, 16, n))
    threshold = np.minimum(threshold, annotators)
    status = rng.choice(3, n, p=[0.85, 0.05, 0.10])
    count = np.floor(threshold * rng.random(n)).astype(np.int64)
    done = status == 2
    count[done] = threshold[done]
    fit_total(count, threshold, done, responses, rng)
    steps = np.array([s for s in range(1, 400) if np.gcd(s, annotators) == 1], dtype=np.int64)
    now = int(time.time())
    return TaskPlan(
        threshold=threshold,
        status=status,
        count=count,
        priority=rng.integers(1, 6, n),
        allow_tie=rng.random(n) < 0.3,
        min_agreement=rng.choice(np.array([70.0, 60.0, 80.0]), n, p=[0.8, 0.1, 0.1]),
        truth=rng.integers(0, 2, n),
        gold=rng.random(n) < 0.1,
        dataset=rng.choice(len(DATASETS), n, p=[p for _, p in DATASETS]),
        created=now - rng.integers(3600, 365 * 86400, n),
        user_base=rng.integers(0, annotators, n),
        user_step=rng.choice(steps, n),
    )


class Loader:
    """One loading session: triggers off, indexes of the bulk tables dropped and kept to rebuild."""

    def __init__(self, conn: psycopg.Connection, maintenance_work_mem: str):
        self.conn = conn
        self.restore: list[str] = []
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        conn.execute(
            sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(maintenance_work_mem))
        )
        conn.execute("SET work_mem = '256MB'")

    def drop_indexes(self, table: str) -> None:
        """Drop a table's indexes (and constraints backed by them, and foreign keys pointing at
        them), remembering how to put each back exactly."""
        conn = self.conn
        fks = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE confrelid = %s::regclass AND contype = 'f'",
            [table],
        ).fetchall()
        keys = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY contype, conname",
            [table],
        ).fetchall()
        indexes = conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
            " WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))",
            [table],
        ).fetchall()
        with conn.transaction():
            for rel, name, _ in fks:
                conn.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        sql.Identifier(rel), sql.Identifier(name)
                    )
                )
            for name, _ in keys:
                conn.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        sql.Identifier(table), sql.Identifier(name)
                    )
                )
            for name, _ in indexes:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        self.restore += [
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
            for name, definition in keys
        ]
        self.restore += [definition for _, definition in indexes]
        self.restore += [
            f'ALTER TABLE "{rel}" ADD CONSTRAINT "{name}" {definition}'
            for rel, name, definition in fks
        ]

    def rebuild(self, log: Callable[[str], None]) -> None:
        """Put back every dropped index and constraint: keys first, foreign keys last."""
        keys = [s for s in self.restore if "FOREIGN KEY" not in s]
        fks = [s for s in self.restore if "FOREIGN KEY" in s]
        for statement in keys + fks:
            began = time.perf_counter()
            self.conn.execute(statement)
            log(f"  {time.perf_counter() - began:6.1f} s  {statement[:90]}")
        self.restore = []

    def copy(self, statement: str, data: bytes) -> None:
        with self.conn.cursor() as cur, cur.copy(statement) as copy:
            copy.write(data)


# --- the tables ------------------------------------------------------------------------------


def _question_lines(
    ids: list[str], first: int, plan: TaskPlan, lo: int, hi: int, rng: np.random.Generator
) -> bytes:
    words = np.array(_WORDS)
    picks = rng.integers(0, len(words), (hi - lo, 18))
    lines = []
    for k in range(hi - lo):
        i = lo + k
        w = words[picks[k]]
        prompt = f"Q{first + i}: {' '.join(w[:8])}?"
        a = f"Answer one: {' '.join(w[8:13])} and so on, explained step by step."
        b = f"Answer two: {' '.join(w[13:18])}, in short."
        content = json.dumps({"prompt": prompt, "optionA": a, "optionB": b})
        dataset = DATASETS[plan.dataset[i]][0]
        gold = ('"A"' if plan.truth[i] == 0 else '"B"') if plan.gold[i] else "\\N"
        ref = f"{dataset}:{first + i}"
        lines.append(f"{ids[k]}\t{ids[k]}\tpairwise_ab\t{content}\t{gold}\t{dataset}\t{ref}\n")
    return "".join(lines).encode()


_QUESTION_COPY = (
    "COPY questions (id, lineage_id, question_type, content, gold_standard, source_dataset,"
    " source_ref) FROM STDIN"
)
_TASK_COPY = (
    "COPY tasks (id, question_id, title, consensus_threshold, min_agreement_percentage, allow_tie,"
    " status, priority, created_at, updated_at) FROM STDIN"
)
_SUBMISSION_COPY = (
    "COPY submissions (task_id, user_id, question_id, chosen_response, confidence,"
    " time_spent_seconds, shown_order, created_at, updated_at) FROM STDIN"
)
_STATUS = ("active", "paused", "completed")


def _task_lines(
    task_ids: list[str], question_ids: list[str], first: int, plan: TaskPlan, lo: int, hi: int
) -> bytes:
    created = timestamps(plan.created[lo:hi]).astype(str)
    lines = []
    for k in range(hi - lo):
        i = lo + k
        lines.append(
            f"{task_ids[k]}\t{question_ids[k]}\tCompare answers #{first + i}\t"
            f"{plan.threshold[i]}\t{plan.min_agreement[i]:.2f}\t"
            f"{'t' if plan.allow_tie[i] else 'f'}\t{_STATUS[plan.status[i]]}\t"
            f"{plan.priority[i]}\t{created[k]}\t{created[k]}\n"
        )
    return "".join(lines).encode()


def _submission_rows(
    task_text: np.ndarray,
    question_text: np.ndarray,
    user_text: np.ndarray,
    accuracy: np.ndarray,
    plan: TaskPlan,
    lo: int,
    hi: int,
    rng: np.random.Generator,
    annotators: int,
) -> list[bytes]:
    """Return COPY text for the answers of tasks lo..hi-1 (two batches: fixed widths each)."""
    counts = plan.count[lo:hi]
    n = int(counts.sum())
    if n == 0:
        return []
    local = np.repeat(np.arange(hi - lo), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    j = np.arange(n) - starts
    task = local + lo
    user = (plan.user_base[task] + j * plan.user_step[task]) % annotators
    correct = rng.random(n) < accuracy[user]
    label = np.where(correct, plan.truth[task], 1 - plan.truth[task])
    tie = plan.allow_tie[task] & (rng.random(n) < 0.05)
    created = plan.created[task] + rng.integers(60, 7 * 86400, n)
    cols = {
        "task": task_text[local],
        "user": user_text[user],
        "question": question_text[local],
        "confidence": digits(rng.integers(1, 6, n), 1),
        "time": digits(rng.integers(5, 601, n), 5),
        "order": np.where(rng.random(n) < 0.5, b"AB", b"BA").astype("S2"),
        "created": timestamps(created),
    }
    out = []
    for is_tie in (False, True):
        mask = tie if is_tie else ~tie
        m = int(mask.sum())
        if not m:
            continue
        choice = const(b"tie", m) if is_tie else np.where(label[mask] == 0, b"A", b"B")
        out.append(
            fixed_rows(
                [
                    cols["task"][mask],
                    cols["user"][mask],
                    cols["question"][mask],
                    choice.astype(f"S{3 if is_tie else 1}"),
                    cols["confidence"][mask],
                    cols["time"][mask],
                    cols["order"][mask],
                    cols["created"][mask],
                    cols["created"][mask],
                ]
            )
        )
    return out


def _users(loader: Loader, rng: np.random.Generator, count: int) -> np.ndarray:
    ids = uuid_texts(rng, count)
    names = [f"bench-annotator-{i:06d}" for i in range(count)]
    text = "".join(
        f"{uid}\t{name}\tAnnotator {i}\tannotator\n"
        for i, (uid, name) in enumerate(zip(ids.astype(str), names, strict=True))
    )
    loader.copy("COPY users (id, username, display_name, role) FROM STDIN", text.encode())
    return ids


_CONSENSUS_AGGREGATES = {
    "total_responses": "count(*)",
    "count_a": "count(*) FILTER (WHERE chosen_response = 'A')",
    "count_b": "count(*) FILTER (WHERE chosen_response = 'B')",
    "count_tie": "count(*) FILTER (WHERE chosen_response = 'tie')",
    "weight_a": "coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'A'), 0)",
    "weight_b": "coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'B'), 0)",
    "weight_tie": "coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'tie'), 0)",
    "confidence_sum": "coalesce(sum(confidence), 0)",
    "confidence_count": "count(confidence)",
    "confidence_sum_a": "coalesce(sum(confidence) FILTER (WHERE chosen_response = 'A'), 0)",
    "confidence_sum_b": "coalesce(sum(confidence) FILTER (WHERE chosen_response = 'B'), 0)",
    "confidence_sum_tie": "coalesce(sum(confidence) FILTER (WHERE chosen_response = 'tie'), 0)",
    "time_spent_sum": "coalesce(sum(time_spent_seconds), 0)",
    "time_spent_count": "count(time_spent_seconds)",
}


def consensus_statement(conn: psycopg.Connection) -> str:
    """Return the one INSERT that fills response_consensus from the latest answers: per-task
    aggregates as consensus_recompute_v1() counts them, then consensus_derive() per task.

    Built from the catalog, so a column added later gets its default."""
    columns = conn.execute(
        "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a"
        " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE a.attrelid = 'response_consensus'::regclass AND a.attnum > 0"
        " AND NOT a.attisdropped ORDER BY a.attnum"
    ).fetchall()
    given = {
        "task_id": "t.id",
        "task_active": "t.status = 'active'",
        "task_priority": "t.priority",
        "has_gold": "q.gold_standard IS NOT NULL",
        "task_status": "t.status",
        "question_type": "q.question_type",
        "source_dataset": "q.source_dataset",
        "version": "nextval('consensus_event_seq')",
        "remaining": "t.consensus_threshold",
        **{name: f"coalesce(a.{name}, 0)" for name in _CONSENSUS_AGGREGATES},
    }
    row = ", ".join(given.get(name, default or "NULL") for name, default in columns)
    outer = ", ".join(
        "CASE WHEN d.consensus_reached THEN CURRENT_TIMESTAMP END"
        if name == "reached_at"
        else f"d.{name}"
        for name, _ in columns
    )
    aggregates = ", ".join(f"{expr} AS {name}" for name, expr in _CONSENSUS_AGGREGATES.items())
    names = ", ".join(name for name, _ in columns)
    return f"""
INSERT INTO response_consensus ({names})
SELECT {outer}
  FROM tasks t
  JOIN questions q ON q.id = t.question_id
  LEFT JOIN (SELECT task_id, {aggregates}
               FROM submissions WHERE is_latest GROUP BY task_id) a ON a.task_id = t.id,
  LATERAL consensus_derive(ROW({row})::response_consensus, t.consensus_threshold,
                           t.min_agreement_percentage, q.question_type,
                           jsonb_array_length(q.content -> 'options')) d
"""


def verify_sample(
    conn: psycopg.Connection, special: list[str], size: int
) -> tuple[int, int, float]:
    """Compare a random sample of stored consensus rows with consensus_recompute_v1();
    return (rows checked, mismatches, ms per task)."""
    total = conn.execute("SELECT count(*) FROM response_consensus").fetchone()[0]
    percent = min(100.0, 100.0 * size / max(total, 1))
    began = time.perf_counter()
    checked, bad = conn.execute(
        f"""
        WITH sample AS (
            SELECT task_id FROM response_consensus TABLESAMPLE BERNOULLI ({percent:.6f})
            UNION SELECT unnest(%s::uuid[])
        )
        SELECT count(*),
               count(*) FILTER (WHERE
                 (c.total_responses, c.count_a, c.count_b, c.count_tie, c.weight_a, c.weight_b,
                  c.weight_tie, c.confidence_sum, c.confidence_count, c.time_spent_sum,
                  c.time_spent_count, c.agreement_percentage, c.final_answer, c.consensus_reached,
                  c.remaining)
                 IS DISTINCT FROM
                 (r.total_responses, r.count_a, r.count_b, r.count_tie, r.weight_a, r.weight_b,
                  r.weight_tie, r.confidence_sum, r.confidence_count, r.time_spent_sum,
                  r.time_spent_count, r.agreement_percentage, r.final_answer, r.consensus_reached,
                  r.remaining))
          FROM sample s
          JOIN response_consensus c ON c.task_id = s.task_id,
          LATERAL consensus_recompute_v1(c.task_id) r
        """,
        [special],
    ).fetchone()
    elapsed = time.perf_counter() - began
    return checked, bad, 1000.0 * elapsed / max(checked, 1)


def generate(
    url: str,
    scale: Scale,
    *,
    seed: int = 20240611,
    chunk: int = 50_000,
    maintenance_work_mem: str = "512MB",
    log: Callable[[str], None] = print,
) -> Generated:
    """Fill an empty migrated database at this scale; return what was built."""
    rng = np.random.default_rng(seed)
    out = Generated(scale=scale.name, datasets=[d for d, _ in DATASETS])
    n, annotators = scale.tasks, scale.annotators
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT count(*) FROM tasks").fetchone()[0]:
            raise RuntimeError("the database already holds tasks; generate into an empty one")
        loader = Loader(conn, maintenance_work_mem)

        def step(name: str, began: float) -> None:
            out.seconds[name] = round(time.perf_counter() - began, 2)
            log(f"{name}: {out.seconds[name]:.1f} s")

        began = time.perf_counter()
        for table in BULK_TABLES:
            loader.drop_indexes(table)
        step("drop indexes", began)

        began = time.perf_counter()
        user_count = max(annotators, scale.big_task)
        user_text = _users(loader, rng, user_count)
        out.users = user_count
        accuracy = rng.uniform(0.55, 0.95, user_count)
        step("users", began)

        plan = plan_tasks(rng, n, scale.responses, annotators)
        began = time.perf_counter()
        copy_seconds = 0.0
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            question_text = uuid_texts(rng, hi - lo)
            task_text = uuid_texts(rng, hi - lo)
            q_ids, t_ids = question_text.astype(str).tolist(), task_text.astype(str).tolist()
            questions = _question_lines(q_ids, 0, plan, lo, hi, rng)
            tasks = _task_lines(t_ids, q_ids, 0, plan, lo, hi)
            batches = _submission_rows(
                task_text, question_text, user_text, accuracy, plan, lo, hi, rng, annotators
            )
            t0 = time.perf_counter()
            loader.copy(_QUESTION_COPY, questions)
            loader.copy(_TASK_COPY, tasks)
            for batch in batches:
                loader.copy(_SUBMISSION_COPY, batch)
            copy_seconds += time.perf_counter() - t0
            if (lo // chunk) % 5 == 0 or hi == n:
                log(f"  {hi:,} / {n:,} tasks loaded ({time.perf_counter() - began:.0f} s)")
        out.tasks, out.responses = n, int(plan.count.sum())
        out.seconds["copy (server side share)"] = round(copy_seconds, 2)
        step("questions, tasks, submissions", began)

        began = time.perf_counter()
        out.special = _special_tasks(loader, rng, user_text, n, scale.big_task)
        out.big_task = scale.big_task
        out.tasks += 2
        out.responses += 10 + scale.big_task
        step("special tasks (10 and big)", began)

        began = time.perf_counter()
        conn.execute(consensus_statement(conn))
        step("response_consensus (one statement)", began)

        began = time.perf_counter()
        # Triggers are off during the load, so the dashboard totals are counted once here.
        conn.execute("DELETE FROM task_counts")
        conn.execute(
            "INSERT INTO task_counts (shard, task_status, question_type, source_dataset,"
            " consensus_reached, needs_more, has_gold, n)"
            " SELECT abs(hashtext(task_id::text)) % 16, task_status, question_type,"
            " coalesce(source_dataset, ''), consensus_reached, remaining > 0, has_gold, count(*)"
            " FROM response_consensus GROUP BY 1, 2, 3, 4, 5, 6, 7"
        )
        step("task_counts (one statement)", began)

        began = time.perf_counter()
        loader.rebuild(log)
        step("rebuild indexes and keys", began)

        began = time.perf_counter()
        conn.execute("RESET session_replication_role")
        conn.execute("VACUUM (ANALYZE)")
        step("vacuum analyze", began)

        began = time.perf_counter()
        special = list(out.special.values())
        checked, bad, per_task = verify_sample(conn, special, 2000)
        out.sample_checked, out.sample_mismatches = checked, bad
        out.recompute_ms_per_task = round(per_task, 3)
        step("verify sample against consensus_recompute_v1", began)
        log(f"  {checked} tasks checked, {bad} differ; {per_task:.2f} ms per task recomputed")

        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value jsonb NOT NULL)"
        )
        conn.execute(
            "INSERT INTO bench_meta VALUES ('generated', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [json.dumps(out.as_meta())],
        )
    return out


def _special_tasks(
    loader: Loader, rng: np.random.Generator, user_text: np.ndarray, n: int, big: int
) -> dict[str, str]:
    """Two completed tasks, answered by 10 and by `big` annotators."""
    special = {}
    for offset, (key, answers) in enumerate((("task_10", 10), ("task_big", big))):
        number = n + offset
        q_id, t_id = uuid_texts(rng, 2).astype(str).tolist()
        content = json.dumps(
            {
                "prompt": f"Q{number}: special benchmark task with {answers} answers",
                "optionA": "The first answer.",
                "optionB": "The second answer.",
            }
        )
        loader.copy(
            _QUESTION_COPY,
            f"{q_id}\t{q_id}\tpairwise_ab\t{content}\t\\N\t{SPECIAL_DATASET}\t"
            f"{SPECIAL_DATASET}:{number}\n".encode(),
        )
        loader.copy(
            _TASK_COPY,
            f"{t_id}\t{q_id}\tSpecial: {answers} answers\t{answers}\t70.00\tf\tcompleted\t3\t"
            "2025-01-01T00:00:00+00\t2025-01-01T00:00:00+00\n".encode(),
        )
        labels = np.where(rng.random(answers) < 0.7, b"A", b"B").astype("S1")
        stamp = timestamps(np.full(answers, 1735700000) + np.arange(answers))
        loader.copy(
            _SUBMISSION_COPY,
            fixed_rows(
                [
                    const(t_id.encode(), answers),
                    user_text[:answers],
                    const(q_id.encode(), answers),
                    labels,
                    digits(rng.integers(1, 6, answers), 1),
                    digits(rng.integers(5, 601, answers), 5),
                    np.where(rng.random(answers) < 0.5, b"AB", b"BA").astype("S2"),
                    stamp,
                    stamp,
                ]
            ),
        )
        special[key] = t_id
    return special


def read_meta(url: str) -> dict[str, Any] | None:
    """Return what the generator recorded in this database, or None if it holds no data set."""
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('public.bench_meta')").fetchone()[0] is None:
            return None
        row = conn.execute("SELECT value FROM bench_meta WHERE key = 'generated'").fetchone()
        return row[0] if row else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a database migrated to head, with no tasks")
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    args = parser.parse_args()
    made = generate(args.url, SCALES[args.scale])
    print(json.dumps(made.as_meta(), indent=2))


if __name__ == "__main__":
    main()
