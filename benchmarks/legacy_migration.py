"""Online migration of a legacy database while a simulated old application keeps working.

    python -m benchmarks.legacy_migration --tasks 1000000 --submissions 1000000

Builds a legacy database (the generator, messy shapes included), starts the old application
(several connections, prepared statements: inserts, updates and point reads of tasks and
submissions), runs expand, backfill, verify and switch under it, stops it, runs contract, and
reports each step's duration, the backfill rate, every operation's latency (worst and p99 per
step) and whether anything the old application wrote was lost or refused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from whstudio.legacy import contract, generate, steps
from whstudio.legacy.verify import verify

SYSTEM = generate.row_id("users", 0)
INSERT_TASK = (
    "INSERT INTO tasks (creator_id, title, description, instructions, task_type, reward_amount,"
    " max_submissions, status) VALUES ($1, 'bench', 'd', $2, 'pairwise_ab', 0.1, 3, 'active')"
    " RETURNING id"
)
UPDATE_TASK = "UPDATE tasks SET instructions = $1 WHERE id = $2"
READ_TASK = "SELECT id, title, instructions, status, updated_at FROM tasks WHERE id = $1"
INSERT_SUB = (
    "INSERT INTO submissions (task_id, user_id, submitter_nullifier, submission_data)"
    " VALUES ($1, $2, $3, $4) RETURNING id"
)
UPDATE_SUB = "UPDATE submissions SET submission_data = $1 WHERE id = $2"
READ_SUB = "SELECT id, task_id, submission_data, status FROM submissions WHERE id = $1"


def _pg(query: str) -> str:
    """Our queries use $n for readability in the report; psycopg wants %s."""
    for n in range(9, 0, -1):
        query = query.replace(f"${n}", "%s")
    return query


@dataclass
class OldApp:
    """One worker of the old application on its own connection."""

    url: str
    seed: int
    users: list[tuple[uuid.UUID, str]]
    stop: threading.Event
    step: list[str]
    rate: float = 50.0  # operations per second of this worker (an application, not a flood)
    samples: list[tuple[str, str, float]] = field(default_factory=list)  # (step, op, seconds)
    errors: list[str] = field(default_factory=list)
    tasks: dict[uuid.UUID, str] = field(default_factory=dict)  # last instructions written
    subs: dict[uuid.UUID, dict] = field(default_factory=dict)  # last submission_data written

    def _timed(self, conn: psycopg.Connection, op: str, query: str, params) -> Any:
        t0 = time.perf_counter()
        try:
            cur = conn.execute(_pg(query), params, prepare=True)
            row = cur.fetchone() if cur.description else None
        except psycopg.Error as exc:
            self.errors.append(f"{self.step[0]} {op}: {type(exc).__name__}: {exc}".strip())
            return None
        finally:
            self.samples.append((self.step[0], op, time.perf_counter() - t0))
        return row

    def run(self) -> None:
        rng = random.Random(self.seed)
        with psycopg.connect(self.url, autocommit=True, prepare_threshold=0) as conn:
            next_user: dict[uuid.UUID, int] = {}
            pace = time.perf_counter()
            while not self.stop.is_set():
                pace += 1.0 / self.rate
                time.sleep(max(0.0, pace - time.perf_counter()))
                roll = rng.random()
                if roll < 0.15 or not self.tasks:
                    doc = json.dumps(
                        {
                            "type": "pairwise_ab",
                            "prompt": f"bench {uuid.uuid4()}",
                            "optionA": "a",
                            "optionB": "b",
                            "gold": "A",
                        }
                    )
                    row = self._timed(conn, "insert_task", INSERT_TASK, (SYSTEM, doc))
                    if row:
                        self.tasks[row[0]] = doc
                        next_user[row[0]] = 0
                elif roll < 0.25:
                    task = rng.choice(list(self.tasks))
                    doc = json.dumps(
                        {
                            "type": "pairwise_ab",
                            "prompt": f"edited {uuid.uuid4()}",
                            "optionA": "a",
                            "optionB": "b",
                            "gold": "B",
                        }
                    )
                    if self._timed(conn, "update_task", UPDATE_TASK, (doc, task)) is None:
                        self.tasks[task] = doc
                elif roll < 0.45:
                    task = rng.choice(list(self.tasks))
                    k = next_user.get(task, 0)
                    if k >= len(self.users):
                        continue
                    next_user[task] = k + 1
                    user, nullifier = self.users[k]
                    data = {"chosen_response": rng.choice("AB"), "confidence": rng.randint(1, 5)}
                    row = self._timed(
                        conn,
                        "insert_submission",
                        INSERT_SUB,
                        (task, user, nullifier, json.dumps(data)),
                    )
                    if row:
                        self.subs[row[0]] = data
                elif roll < 0.55 and self.subs:
                    sub = rng.choice(list(self.subs))
                    data = {"chosen_response": rng.choice("ab"), "confidence_score": 3}
                    if (
                        self._timed(conn, "update_submission", UPDATE_SUB, (json.dumps(data), sub))
                        is None
                    ):
                        self.subs[sub] = data
                elif roll < 0.8:
                    self._timed(conn, "read_task", READ_TASK, (rng.choice(list(self.tasks)),))
                elif self.subs:
                    self._timed(conn, "read_submission", READ_SUB, (rng.choice(list(self.subs)),))


def _lost(url: str, apps: list[OldApp]) -> dict[str, int]:
    """Rows the old application wrote that are missing or not as it last wrote them."""
    lost = {"tasks": 0, "submissions": 0}
    with psycopg.connect(url) as conn:
        for app in apps:
            for tid, text in app.tasks.items():
                row = conn.execute(
                    "SELECT instructions FROM tasks WHERE id = %s", (tid,)
                ).fetchone()
                lost["tasks"] += row is None or row[0] != text
            for sid, data in app.subs.items():
                row = conn.execute(
                    "SELECT submission_data FROM submissions WHERE id = %s", (sid,)
                ).fetchone()
                lost["submissions"] += row is None or row[0] != data
    return lost


def _stats(samples: list[tuple[str, str, float]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    by_step: dict[str, list[float]] = {}
    for step, _op, secs in samples:
        by_step.setdefault(step, []).append(secs)
    for step, values in by_step.items():
        values.sort()
        out[step] = {
            "ops": len(values),
            "p50_ms": round(values[len(values) // 2] * 1000, 2),
            "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))] * 1000, 2),
            "max_ms": round(values[-1] * 1000, 2),
        }
    return out


def run(
    admin_url: str,
    *,
    tasks: int,
    submissions: int,
    workers: int = 4,
    ops_per_second: float = 200.0,
    batch: int = 500,
    keep: bool = False,
) -> dict[str, Any]:
    """Run the whole migration under load; return the figures."""
    name = f"whs_bench_legacy_{os.getpid()}"
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    url = make_conninfo(**params)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    result: dict[str, Any] = {
        "ops_per_second": ops_per_second,
        "tasks": tasks,
        "submissions": submissions,
        "workers": workers,
        "steps": {},
        "machine": f"{platform.node()} {os.cpu_count()} CPU",
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
    }
    try:
        t0 = time.time()
        generate.generate(url, tasks=tasks, submissions=submissions)
        result["generate_s"] = round(time.time() - t0, 1)
        with psycopg.connect(url) as conn:
            users = conn.execute(
                "SELECT id, nullifier_hash FROM users ORDER BY id DESC LIMIT 200"
            ).fetchall()
        stop, step = threading.Event(), ["before"]
        apps = [OldApp(url, i, users, stop, step, ops_per_second / workers) for i in range(workers)]
        threads = [threading.Thread(target=a.run, daemon=True) for a in apps]
        for t in threads:
            t.start()
        time.sleep(1.0)

        def timed(label: str, work) -> Any:
            step[0] = label
            start = time.time()
            value = work()
            result["steps"][label] = {"seconds": round(time.time() - start, 2)}
            return value

        timed("expand", lambda: steps.expand(url))
        phases = timed("backfill", lambda: steps.backfill(url, batch=batch))
        secs = result["steps"]["backfill"]["seconds"]
        rows = sum(p.migrated + p.quarantined for p in phases)
        result["backfill_rows"] = rows
        result["backfill_rows_per_s"] = round(rows / secs) if secs else None
        report = timed("verify", lambda: verify(url))
        result["verify_ok"] = report.ok
        result["verify"] = report.as_dict()
        result["quarantined"] = report.quarantined
        if report.ok:
            timed("switch", lambda: steps.switch(url, "new"))
        step[0] = "after"
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
        samples = [s for a in apps for s in a.samples]
        result["latency"] = _stats(samples)
        result["worst_op_ms"] = round(max(s[2] for s in samples) * 1000, 2)
        result["errors"] = [e for a in apps for e in a.errors][:20]
        result["error_count"] = sum(len(a.errors) for a in apps)
        result["lost"] = _lost(url, apps)
        # contract needs the old application gone and its quarantined rows resolved first
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE tasks SET instructions = json_build_object('type', 'pairwise_ab',"
                " 'prompt', 'fixed ' || id, 'optionA', 'a', 'optionB', 'b')::text"
                " WHERE id IN (SELECT row_id FROM whs_legacy.quarantine WHERE table_name = 'tasks')"
            )
            conn.execute(
                'UPDATE submissions SET submission_data = \'{"chosen_response": "A"}\''
                " WHERE id IN (SELECT row_id FROM whs_legacy.quarantine"
                " WHERE table_name = 'submissions')"
            )
        again = timed("verify_again", lambda: verify(url))
        result["contract_catalog_diff"] = None
        if again.ok and report.ok:
            done = timed("contract", lambda: contract.contract(url, quiet_seconds=1.0))
            result["contract_catalog_diff"] = len(done.catalog_diff)
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a maintenance database on the server to use",
    )
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--submissions", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--ops-per-second",
        type=float,
        default=200.0,
        help="the old application's load, over all its connections",
    )
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    result = run(
        args.url,
        tasks=args.tasks,
        submissions=args.submissions,
        workers=args.workers,
        batch=args.batch,
        keep=args.keep,
        ops_per_second=args.ops_per_second,
    )
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    ok = (
        result["error_count"] == 0
        and not any(result["lost"].values())
        and result["verify_ok"]
        and result["contract_catalog_diff"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
