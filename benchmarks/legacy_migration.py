"""Online migration of a legacy database while a simulated old application keeps working.

    python -m benchmarks.legacy_migration --tasks 1000000 --submissions 1000000

Builds a legacy database (the generator, messy shapes included), starts the old application
(several connections, each in a process of its own, prepared statements: inserts, updates and
point reads of tasks and submissions), waits until it is warm, runs expand, backfill, verify
and switch under it, stops it, runs contract, and reports each step's duration, the backfill
rate, every operation's latency (worst and p99 per step) and whether anything the old
application wrote was lost or refused.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import itertools
import json
import multiprocessing
import os
import random
import re
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from benchmarks.common import PLANS_DIR, ROOT, machine
from benchmarks.report import put_section, table
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


# A worker is warm (connected, its statements prepared) after this many operations.
_WARM_OPS = 20


@dataclass
class OldApp:
    """One worker of the old application on its own connection, in its own process (the old
    application is another program: the migration tool's Python must not pace it)."""

    url: str
    seed: int
    users: list[tuple[uuid.UUID, str]]
    stop: Any  # an Event shared with the benchmark's process
    rate: float = 50.0  # operations per second of this worker (an application, not a flood)
    ready: Any = None  # a queue told once this worker has connected and run its first operations
    # (op, seconds, when it started: time.time())
    samples: list[tuple[str, float, float]] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)  # (when, what)
    tasks: dict[uuid.UUID, str] = field(default_factory=dict)  # last instructions written
    subs: dict[uuid.UUID, dict] = field(default_factory=dict)  # last submission_data written

    def _timed(self, conn: psycopg.Connection, op: str, query: str, params) -> Any:
        t0 = time.perf_counter()
        wall = time.time()
        try:
            cur = conn.execute(_pg(query), params, prepare=True)
            row = cur.fetchone() if cur.description else None
        except psycopg.Error as exc:
            self.errors.append((wall, f"{op}: {type(exc).__name__}: {exc}".strip()))
            return None
        finally:
            self.samples.append((op, time.perf_counter() - t0, wall))
        return row

    def run(self) -> None:
        rng = random.Random(self.seed)
        with psycopg.connect(self.url, autocommit=True, prepare_threshold=0) as conn:
            next_user: dict[uuid.UUID, int] = {}
            pace = time.perf_counter()
            while not self.stop.is_set():
                if self.ready is not None and len(self.samples) == _WARM_OPS:
                    self.ready.put(self.seed)
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
                    data = _answer(rng, len(self.subs))
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
                    data = _answer(rng, len(self.subs))
                    if (
                        self._timed(conn, "update_submission", UPDATE_SUB, (json.dumps(data), sub))
                        is None
                    ):
                        self.subs[sub] = data
                elif roll < 0.8:
                    self._timed(conn, "read_task", READ_TASK, (rng.choice(list(self.tasks)),))
                elif self.subs:
                    self._timed(conn, "read_submission", READ_SUB, (rng.choice(list(self.subs)),))


def _answer(rng: random.Random, k: int) -> dict:
    """A submission_data document in one of the shapes the old clients wrote, at the
    generator's shares (most well formed; a few percent fractions, words, strings; 1% with a
    choice nobody can read)."""
    shape = generate._pick(rng, generate.SUBMISSION_SHAPES)
    return generate.submission_for(shape, True, k, rng)


def _votes(url: str) -> dict[str, int]:
    """Answers counted in consensus, against legacy answers with a clear choice (A or B, any
    case) on a migrated task: equal when no vote was lost."""
    with psycopg.connect(url) as conn:
        counted = conn.execute(
            "SELECT coalesce(sum(count_a + count_b + count_tie), 0) FROM response_consensus"
        ).fetchone()[0]
        clear = conn.execute(
            "SELECT count(*) FROM submissions s JOIN tasks t ON t.id = s.task_id"
            " WHERE t.question_id IS NOT NULL"
            "   AND jsonb_typeof(s.submission_data -> 'chosen_response') = 'string'"
            "   AND upper(btrim(s.submission_data ->> 'chosen_response')) IN ('A', 'B')"
        ).fetchone()[0]
    return {"counted": int(counted), "clear": int(clear)}


def _old_app_process(
    url: str, seed: int, users: list, rate: float, stop: Any, out: Any, ready: Any
) -> None:
    """A worker process of the old application: run until `stop`, then send what it saw."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the benchmark decides when it ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    app = OldApp(url, seed, users, stop, rate, ready=ready)
    try:
        app.run()
    finally:
        out.put((app.samples, app.errors, app.tasks, app.subs))


def _label(marks: list[tuple[float, str]], wall: float) -> str:
    """The step that was running at `wall` (marks: when each step started, in order)."""
    return marks[max(0, bisect.bisect_right([m[0] for m in marks], wall) - 1)][1]


def _lost(url: str, apps: list[tuple[dict, dict]]) -> dict[str, int]:
    """Rows the old application wrote that are missing or not as it last wrote them."""
    lost = {"tasks": 0, "submissions": 0}
    with psycopg.connect(url) as conn:
        for tasks, subs in apps:
            for tid, text in tasks.items():
                row = conn.execute(
                    "SELECT instructions FROM tasks WHERE id = %s", (tid,)
                ).fetchone()
                lost["tasks"] += row is None or row[0] != text
            for sid, data in subs.items():
                row = conn.execute(
                    "SELECT submission_data FROM submissions WHERE id = %s", (sid,)
                ).fetchone()
                lost["submissions"] += row is None or row[0] != data
    return lost


def _summary(values: list[float]) -> dict[str, Any]:
    values = sorted(values)
    return {
        "ops": len(values),
        "p50_ms": round(values[len(values) // 2] * 1000, 2),
        "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))] * 1000, 2),
        "max_ms": round(values[-1] * 1000, 2),
    }


def _stats(samples: list[tuple[str, str, float, float]]) -> dict[str, dict[str, Any]]:
    """Per step: all operations together, and each operation on its own."""
    by_step: dict[str, list[float]] = {}
    by_op: dict[tuple[str, str], list[float]] = {}
    for step, op, secs, _ in samples:
        by_step.setdefault(step, []).append(secs)
        by_op.setdefault((step, op), []).append(secs)
    out: dict[str, dict[str, Any]] = {}
    for step, values in by_step.items():
        out[step] = {**_summary(values), "by_op": {}}
    for (step, op), values in sorted(by_op.items()):
        out[step]["by_op"][op] = _summary(values)
    return out


# Array literals of ids in plans (hundreds of uuids) shortened for reading.
_IDS = re.compile(r"'\{[0-9a-f-]{36}(,[0-9a-f-]{36})+\}'")


def _keep_plans(plans: list[str]) -> str:
    """The batch's own statements (not the per-row parsers' inner ones), ids shortened."""
    kept = []
    for text in plans:
        if "json_each" in text or "Query Text: \n" in text or "doc := " in text:
            continue
        if not re.search(r"public\.|whs_legacy\.(quarantine|consensus_queue|progress)", text):
            continue
        kept.append(_IDS.sub(lambda m: f"'{{...{m.group(0).count(',') + 1} ids...}}'", text))
    return "\n\n".join(kept) + "\n"


def run(
    admin_url: str,
    *,
    tasks: int,
    submissions: int,
    workers: int = 4,
    ops_per_second: float = 200.0,
    batch: int = 500,
    keep: bool = False,
    server_settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the whole migration under load; return the figures. `server_settings` are set on
    the server (ALTER SYSTEM, reloaded) for the run and put back afterwards."""
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
        "batch": batch,
        "server_settings": dict(server_settings or {}),
    }
    with settings_for_the_run(admin_url, server_settings or {}):
        return _run(admin_url, name, url, result, workers, ops_per_second, batch, keep)


def _run(
    admin_url: str,
    name: str,
    url: str,
    result: dict[str, Any],
    workers: int,
    ops_per_second: float,
    batch: int,
    keep: bool,
) -> dict[str, Any]:
    tasks, submissions = result["tasks"], result["submissions"]
    try:
        t0 = time.time()
        generate.generate(url, tasks=tasks, submissions=submissions)
        result["generate_s"] = round(time.time() - t0, 1)
        print(f"generated in {result['generate_s']} s", file=sys.stderr, flush=True)
        with psycopg.connect(url) as conn:
            users = conn.execute(
                "SELECT id, nullifier_hash FROM users ORDER BY id DESC LIMIT 200"
            ).fetchall()
        # A legacy database has been at rest for a while: the generator's WAL is not left to
        # start checkpoints in the middle of the first steps.
        with (
            psycopg.connect(url, autocommit=True) as conn,
            contextlib.suppress(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("CHECKPOINT")
        ctx = multiprocessing.get_context("spawn")
        stop, out, ready = ctx.Event(), ctx.Queue(), ctx.Queue()
        procs = [
            ctx.Process(
                target=_old_app_process,
                args=(url, i, users, ops_per_second / workers, stop, out, ready),
                daemon=True,
            )
            for i in range(workers)
        ]
        for proc in procs:
            proc.start()
        marks: list[tuple[float, str]] = [(0.0, "before")]  # (when, step) in order
        # The old application is running, warm, before the migration starts: a worker's
        # first operations (a new connection, statements prepared) are measured as "before".
        for _ in procs:
            ready.get(timeout=120)
        time.sleep(2.0)

        def timed(label: str, work) -> Any:
            marks.append((time.time(), label))
            start = time.time()
            print(f"{time.strftime('%H:%M:%S')} {label}", file=sys.stderr, flush=True)
            value = work()
            result["steps"][label] = {"seconds": round(time.time() - start, 2)}
            return value

        try:
            _migrate(url, result, timed, batch)
        except Interrupted:
            # SIGTERM (an operator's deadline): report what was measured up to here
            result["interrupted_in"] = marks[-1][1]
            print(f"interrupted in {marks[-1][1]}", file=sys.stderr, flush=True)
        marks.append((time.time(), "after"))
        time.sleep(1.0)
        stop.set()
        seen = [out.get() for _ in procs]  # before join: a full pipe would hold a child
        for proc in procs:
            proc.join()
        samples = [
            (_label(marks, wall), op, secs, wall) for got in seen for op, secs, wall in got[0]
        ]
        result["latency"] = _stats(samples)
        result["worst_op_ms"] = round(max(s[2] for s in samples) * 1000, 2)
        start = min(s[3] for s in samples)
        result["worst_ops"] = [
            {"step": s[0], "op": s[1], "ms": round(s[2] * 1000, 1), "at_s": round(s[3] - start, 1)}
            for s in sorted(samples, key=lambda s: -s[2])[:10]
        ]
        errors = sorted(e for got in seen for e in got[1])
        result["errors"] = [f"{_label(marks, wall)} {what}" for wall, what in errors][:20]
        result["error_count"] = len(errors)
        result["old_app_started_at"] = start
        result["lost"] = _lost(url, [(got[2], got[3]) for got in seen])
        if result.get("verify_ok"):
            result["votes"] = _votes(url)
        result["contract_catalog_diff"] = None
        if result.get("verify_ok") and "interrupted_in" not in result:
            try:
                _contract(url, result, timed)
            except Interrupted:
                result["interrupted_in"] = "contract"
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    return result


# Settings an operator can change for a migration window without a restart.
_RELOADABLE = ("sighup", "superuser", "user")


@contextlib.contextmanager
def settings_for_the_run(admin_url: str, wanted: dict[str, str]) -> Iterator[None]:
    """Set server settings with ALTER SYSTEM and a reload; put back what postgresql.auto.conf
    held before, even when the run fails (a SIGKILLed run leaves them: see the log line)."""
    if not wanted:
        yield
        return
    with psycopg.connect(admin_url, autocommit=True) as conn:
        before: dict[str, str | None] = {}
        for name in wanted:
            row = conn.execute(
                "SELECT context FROM pg_settings WHERE name = %s", (name,)
            ).fetchone()
            if row is None:
                raise SystemExit(f"--server-setting {name}: the server has no such setting")
            if row[0] not in _RELOADABLE:
                raise SystemExit(f"--server-setting {name}: needs a server restart ({row[0]})")
            auto = conn.execute(
                "SELECT setting FROM pg_file_settings WHERE name = %s"
                " AND sourcefile LIKE '%%postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1",
                (name,),
            ).fetchone()
            before[name] = auto[0] if auto else None
        print(f"server settings for the run: {wanted}; before: {before}", file=sys.stderr)
        as_found = _seen_by_a_new_session(admin_url, list(wanted))
        try:
            _alter_system(conn, wanted)
            _await(admin_url, list(wanted), lambda rows: all(r[2] == _AUTO for r in rows))
            yield
        finally:
            _alter_system(conn, before)
            _await(admin_url, list(wanted), lambda rows: rows == as_found)
            print("server settings put back", file=sys.stderr)


def _alter_system(conn: psycopg.Connection, settings: dict[str, str | None]) -> None:
    """Write each setting to postgresql.auto.conf (None: take it out), then reload."""
    for name, value in settings.items():
        if value is None:
            conn.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name)))
        else:
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )
    conn.execute("SELECT pg_reload_conf()")


_AUTO = "postgresql.auto.conf"


def _seen_by_a_new_session(admin_url: str, names: list[str]) -> list[tuple]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT name, setting, regexp_replace(coalesce(sourcefile, ''), '^.*/', '')"
            "  FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
            (names,),
        ).fetchall()


def _await(admin_url: str, names: list[str], done: Callable[[list[tuple]], bool]) -> None:
    """A reload is asynchronous: wait until a new session sees the settings as `done` wants."""
    for _ in range(50):
        rows = _seen_by_a_new_session(admin_url, names)
        if done(rows):
            print(f"server settings now: {rows}", file=sys.stderr)
            return
        time.sleep(0.1)
    raise SystemExit(f"the server did not reload {names} as expected: {rows}")


class Interrupted(Exception):
    """SIGTERM arrived: stop the migration where it is and report."""


def _migrate(url: str, result: dict[str, Any], timed, batch: int) -> None:
    """Expand, backfill, verify and switch, under the old application."""
    result["machine"] = machine(url)
    timed("expand", lambda: steps.expand(url))
    batches: list[tuple[float, str, int]] = []
    plans: dict[str, str] = {}

    def explain(phase: str, texts: list[str]) -> None:
        plans[phase] = _keep_plans(texts)

    result["plans"] = plans
    started = time.time()
    try:
        timed(
            "backfill",
            lambda: steps.backfill(
                url,
                batch=batch,
                explain=explain,
                on_progress=lambda p: batches.append(
                    (time.time(), p.name, p.migrated + p.quarantined)
                ),
            ),
        )
    finally:
        # also when interrupted: the rate of what was done
        for phase in ("tasks", "submissions"):
            times = [w for w, name, _ in batches if name == phase]
            if len(times) > 1:
                per = [b - a for a, b in itertools.pairwise(times)]
                result.setdefault("batch_seconds", {})[phase] = _summary(per)
        secs = time.time() - started
        last: dict[str, int] = {}
        for _, name, n in batches:
            last[name] = n
        result["backfill_rows"] = sum(last.values())
        result["backfill_rows_per_s"] = round(sum(last.values()) / secs) if secs else None
    report = timed("verify", lambda: verify(url))
    result["verify_ok"] = report.ok
    result["verify"] = report.as_dict()
    result["quarantined"] = report.quarantined
    if report.ok:
        timed("switch", lambda: steps.switch(url, "new"))


def _contract(url: str, result: dict[str, Any], timed) -> None:
    """Contract, after the old application stopped and its quarantined rows were corrected."""
    # contract needs the old application gone and its quarantined rows resolved first
    generate.repair_quarantined(url)
    again = timed("verify_again", lambda: verify(url))
    if again.ok:
        done = timed("contract", lambda: contract.contract(url, quiet_seconds=1.0))
        result["contract_catalog_diff"] = len(done.catalog_diff)


STEP_ORDER = ("before", "expand", "backfill", "verify", "switch", "after")


def render(r: dict[str, Any]) -> str:
    """The legacy migration's section of BENCHMARKS.md."""
    m = r["machine"]
    lat = r.get("latency", {})
    steps_seen = [s for s in STEP_ORDER if s in lat]
    rows = []
    for step in steps_seen:
        s = lat[step]
        op, worst = max(s["by_op"].items(), key=lambda kv: kv[1]["max_ms"])
        rows.append(
            [step, s["ops"], s["p50_ms"], s["p99_ms"], s["max_ms"], f"{op} {worst['max_ms']}"]
        )
    ops = sorted({op for s in lat.values() for op in s["by_op"]})
    per_op = []
    for op in ops:
        cells = [op]
        for st in steps_seen:
            v = lat[st]["by_op"].get(op)
            cells.append(f"{v['p99_ms']} / {v['max_ms']}" if v else "")
        per_op.append(cells)
    lost = r.get("lost", {})
    votes = r.get("votes") or {}
    goal = (
        r["worst_op_ms"] <= 200
        and r["error_count"] == 0
        and not any(lost.values())
        and votes.get("counted") == votes.get("clear")
    )
    per_batch = "; ".join(
        f"{ph} p50 {v['p50_ms'] / 1000:.3f}, p99 {v['p99_ms'] / 1000:.3f},"
        f" max {v['max_ms'] / 1000:.3f}"
        for ph, v in r.get("batch_seconds", {}).items()
    )
    out = [
        "## Online migration of a legacy database",
        "",
        f"`python -m benchmarks.legacy_migration --tasks {r['tasks']} --submissions "
        f"{r['submissions']} --workers {r['workers']} --ops-per-second {r['ops_per_second']:g} "
        f"--batch {r['batch']}`, {m['date']}: {m['cores']} cores, {m['ram']}, {m['cpu']}; "
        f"{m['postgresql']} ({m['postgresql_settings']}). "
        + {
            True: "The machine was shared with other work during the run.",
            False: "Nothing else ran on the machine during the run.",
            None: "",
        }[r.get("shared")],
        "",
        f"A legacy database of {r['tasks']:,} tasks and {r['submissions']:,} submissions (the "
        f"generator's messy shapes; generated in {r.get('generate_s')} s) migrated while a "
        f"simulated old application runs on {r['workers']} connections with prepared "
        f"statements, {r['ops_per_second']:g} operations/s in all (inserts, updates and point "
        "reads of tasks and submissions), each connection in a process of its own. Contract "
        "runs after the old application stopped. Server settings for the migration window "
        "(ALTER SYSTEM and a reload, put back afterwards): "
        + (
            ", ".join(f"`{k} = {v}`" for k, v in r["server_settings"].items())
            if r.get("server_settings")
            else "none, the server's own."
        ),
        "",
        table(["step", "seconds"], [[k, v["seconds"]] for k, v in r["steps"].items()]),
        "",
        f"Backfill: {r.get('backfill_rows', 0):,} rows in "
        f"{r['steps'].get('backfill', {}).get('seconds')} s = "
        f"**{r.get('backfill_rows_per_s')} rows/s** (batches of {r['batch']}, the consensus of "
        f"the touched tasks included). Seconds per batch, consensus included: {per_batch}. "
        "Executed plans of each phase's first batch at this scale (EXPLAIN ANALYZE, BUFFERS "
        "through auto_explain): `benchmarks/plans/legacy_backfill_tasks.txt`, "
        "`benchmarks/plans/legacy_backfill_submissions.txt`.",
        "",
        "The old application's operations per step, all together (ms):",
        "",
        table(["step", "operations", "p50", "p99", "max", "slowest kind"], rows),
        "",
        "p99 / max per operation and step (ms):",
        "",
        table(["operation", *steps_seen], per_op),
        "",
        "Slowest single operations (seconds since the old application started):",
        "",
        table(
            ["step", "operation", "ms", "at s"],
            [[w["step"], w["op"], w["ms"], w["at_s"]] for w in r.get("worst_ops", [])],
        ),
        "",
        f"Errors in the old application: **{r['error_count']}**. Rows it wrote that were lost "
        f"or changed: **{sum(lost.values())}** ({lost}). Verify: "
        f"{ {True: 'pass', False: 'FAIL', None: 'not run'}[r.get('verify_ok')] } "
        f"({r.get('quarantined')} quarantined rows, the unreadable choices and the answers "
        "to the generator's unparseable tasks; "
        f"{(r.get('verify') or {}).get('normalised')} answers migrated with a field read "
        "differently or dropped). Votes counted after the switch: "
        f"**{(r.get('votes') or {}).get('counted')}** of "
        f"{(r.get('votes') or {}).get('clear')} legacy answers with a clear choice on a "
        "migrated task. Contract: catalog differences from a fresh "
        f"install: {r.get('contract_catalog_diff')}.",
        "",
        *(
            [
                f"**The run was stopped (SIGTERM, for a deadline) during {r['interrupted_in']}**: "
                "the figures above cover the steps up to there; the backfill rate is that of the "
                "batches done.",
                "",
            ]
            if r.get("interrupted_in")
            else []
        ),
        "Goal (no old-application operation over 200 ms, no error, no lost row, every clear "
        "vote counted): "
        f"**{'miss' if not goal else 'pass so far' if r.get('interrupted_in') else 'pass'}** "
        f"(slowest {r['worst_op_ms']} ms).",
    ]
    out += ["", *(f"- {note}" for note in r.get("notes", []))] if r.get("notes") else []
    return "\n".join(out) + "\n"


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
    parser.add_argument(
        "--report",
        type=Path,
        default=ROOT / "BENCHMARKS.md",
        help="the report whose legacy_migration section is rewritten ('-' for none)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--shared",
        action=argparse.BooleanOptionalAction,
        help="say in the report whether other work ran on the machine meanwhile",
    )
    parser.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting for the run (ALTER SYSTEM and a reload; put back afterwards),"
        " for example max_wal_size=8GB; repeatable",
    )
    parser.add_argument(
        "--render",
        type=Path,
        help="only rewrite the report's section from this --out file (with its 'notes')",
    )
    args = parser.parse_args(argv)
    server_settings = {}
    for item in args.server_setting:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            parser.error(f"--server-setting {item!r}: expected NAME=VALUE")
        server_settings[name.strip()] = value.strip()

    def interrupt(_signum, _frame) -> None:
        raise Interrupted

    signal.signal(signal.SIGTERM, interrupt)
    if args.render:
        stored = json.loads(args.render.read_text())
        for phase, plan in stored.pop("plans", {}).items():
            (PLANS_DIR / f"legacy_backfill_{phase}.txt").write_text(plan)
        put_section(args.report, "legacy_migration", render(stored))
        return 0
    result = run(
        args.url,
        tasks=args.tasks,
        submissions=args.submissions,
        workers=args.workers,
        batch=args.batch,
        keep=args.keep,
        ops_per_second=args.ops_per_second,
        server_settings=server_settings,
    )
    result["shared"] = args.shared
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(json.dumps(result, indent=2, default=str))
    plans = result.pop("plans", {})
    print(json.dumps(result, indent=2, default=str))
    if str(args.report) != "-":
        for phase, plan in plans.items():
            (PLANS_DIR / f"legacy_backfill_{phase}.txt").write_text(plan)
        put_section(args.report, "legacy_migration", render(result))
    ok = (
        result["error_count"] == 0
        and not any(result["lost"].values())
        and result.get("verify_ok")
        and result["contract_catalog_diff"] == 0
        and result["votes"]["counted"] == result["votes"]["clear"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
