"""Shared pieces of the benchmark suite: scales, the run context, timing statistics, the machine
description, plan capture and the web server under test."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
OUT_DIR = BENCH_DIR / "out"
# Merged results of every run, kept in the repository so a partial run (`--only`) on a new
# checkout still reports the other benchmarks.
RESULTS_DIR = BENCH_DIR / "results"
PLANS_DIR = BENCH_DIR / "plans"
PYTHON = sys.executable


@dataclass(frozen=True)
class Scale:
    """How big the data is and how long each benchmark runs."""

    name: str
    tasks: int
    responses: int
    annotators: int
    big_task: int  # responses of the one large task (the consensus read and recompute cases)
    list_requests: int  # timed requests per task-list case (total=false)
    list_total_requests: int  # timed requests per case with the exact total (total=true)
    consensus_requests: int
    recompute_runs: int
    clients: int
    submit_seconds: float
    next_seconds: float
    users_per_client: int
    crowdkit_labels: int
    jsonb_repeats: int


SCALES: dict[str, Scale] = {
    "full": Scale(
        name="full",
        tasks=1_000_000,
        responses=10_000_000,
        annotators=2_000,
        big_task=10_000,
        list_requests=200,
        list_total_requests=20,
        consensus_requests=500,
        recompute_runs=30,
        clients=32,
        submit_seconds=60,
        next_seconds=60,
        users_per_client=16,
        crowdkit_labels=50_000,
        jsonb_repeats=3,
    ),
    "small": Scale(
        name="small",
        tasks=2_000,
        responses=20_000,
        annotators=2_000,
        big_task=10_000,
        list_requests=100,
        list_total_requests=20,
        consensus_requests=300,
        recompute_runs=20,
        clients=32,
        submit_seconds=10,
        next_seconds=10,
        users_per_client=8,
        crowdkit_labels=50_000,
        jsonb_repeats=5,
    ),
    # The smoke test's scale: every code path, in seconds.
    "tiny": Scale(
        name="tiny",
        tasks=300,
        responses=3_000,
        annotators=200,
        big_task=400,
        list_requests=5,
        list_total_requests=2,
        consensus_requests=10,
        recompute_runs=3,
        clients=8,
        submit_seconds=1.5,
        next_seconds=1.5,
        users_per_client=2,
        crowdkit_labels=2_000,
        jsonb_repeats=1,
    ),
}
# A tenth of full: the batch memory benchmark's second point (only its data set is used).
SCALES["medium"] = replace(SCALES["small"], name="medium", tasks=100_000, responses=1_000_000)


@dataclass
class Context:
    """Everything a benchmark needs: where the data is, the server under test, where to write."""

    scale: Scale
    url: str  # the benchmark database
    server_label: str  # which PostgreSQL (for the report)
    plans_dir: Path
    meta: dict[str, Any]
    base_url: str = ""  # the web app under test
    app_pid: int | None = None  # its main process (uvicorn; workers are its children)
    admin_token: str = ""
    scratch: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))


def result(
    name: str,
    title: str,
    *,
    target: str,
    columns: list[str],
    rows: list[list[Any]],
    passed: bool | None,
    notes: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One benchmark's outcome, as the report renders it."""
    return {
        "name": name,
        "title": title,
        "target": target,
        "columns": columns,
        "rows": rows,
        "passed": None if passed is None else bool(passed),
        "notes": notes or [],
        "extra": extra or {},
    }


# --- statistics ---------------------------------------------------------------------------


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """Return n, p50, p95, p99 and max, in milliseconds, of latencies given in seconds."""
    if not samples_s:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": 0}
    ms = np.asarray(samples_s) * 1000.0
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"n": len(ms), "p50": p50, "p95": p95, "p99": p99, "max": float(ms.max())}


def fmt_ms(value: float) -> str:
    if value != value:  # NaN
        return "–"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


# --- the machine --------------------------------------------------------------------------


def machine(url: str) -> dict[str, str]:
    """Describe this machine and the PostgreSQL server behind `url`."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
        settings = {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]
            for name in (
                "shared_buffers",
                "work_mem",
                "effective_cache_size",
                "max_connections",
                "synchronous_commit",
                "fsync",
            )
        }
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "ram": ram,
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": version.split(" on ")[0],
        "postgresql_settings": ", ".join(f"{k}={v}" for k, v in settings.items()),
        "app_workers": os.environ.get("WHSTUDIO_WORKERS", "1"),
    }


# --- plans --------------------------------------------------------------------------------


class ExplainingConnection:
    """Wraps an async connection: every `execute` is first run under EXPLAIN (ANALYZE, BUFFERS)
    and its plan kept, then run for real. Only for read-only code paths (ANALYZE executes)."""

    def __init__(self, conn: psycopg.AsyncConnection):
        self._conn = conn
        self.plans: list[tuple[str, str]] = []

    async def execute(self, query: Any, params: Any = None, **kwargs: Any):
        body = sql.SQL(query) if isinstance(query, str) else query
        explain = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + body
        cur = await self._conn.execute(explain, params)
        lines = [
            next(iter(row.values())) if isinstance(row, dict) else row[0]
            for row in await cur.fetchall()
        ]
        text = body.as_string(self._conn) if not isinstance(query, str) else query
        self.plans.append((f"{text}\n-- params: {params!r}", "\n".join(lines)))
        return await self._conn.execute(query, params, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def write_plan(ctx: Context, name: str, sections: list[tuple[str, str]]) -> Path:
    """Write `EXPLAIN` outputs (query text, plan) to plans/<name>.txt with a short header."""
    ctx.plans_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.plans_dir / f"{name}.txt"
    head = (
        f"-- {name}: scale {ctx.scale.name} ({ctx.meta.get('tasks', '?')} tasks, "
        f"{ctx.meta.get('responses', '?')} responses), server {ctx.server_label}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
    )
    parts = [head]
    for query, plan in sections:
        parts.append(f"\n-- query:\n{query.strip()}\n\n-- plan:\n{plan.strip()}\n")
    path.write_text("".join(parts))
    return path


async def explain(conn: psycopg.AsyncConnection, query: str, params: Any = None) -> str:
    """Return the EXPLAIN (ANALYZE, BUFFERS) text of one read-only statement."""
    cur = await conn.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + sql.SQL(query), params)
    return "\n".join(
        next(iter(r.values())) if isinstance(r, dict) else r[0] for r in await cur.fetchall()
    )


# --- accounts -----------------------------------------------------------------------------


async def make_users_with_tokens(
    conn: psycopg.AsyncConnection, prefix: str, count: int, role: str = "annotator"
) -> list[tuple[Any, str]]:
    """Create `count` accounts named prefix-N (or reuse them) and a fresh API token for each;
    return [(user id, token)]."""
    from whstudio.domain import users as users_domain
    from whstudio.errors import Conflict

    stamp = f"{time.time_ns():x}"
    out = []
    for i in range(count):
        name = f"{prefix}-{i:05d}"
        async with conn.transaction():
            try:
                row = await users_domain.create_user(conn, name, None, role)
            except Conflict:
                row = await users_domain.get_user(conn, name)
        token = await users_domain.create_token(conn, row["id"], f"bench-{stamp}")
        out.append((row["id"], token["token"]))
    return out


async def connect(url: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


# --- the web app under test -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(url: str, home: Path, *, timeout: float = 60.0) -> Iterator[tuple[str, int]]:
    """Run `whstudio serve` on a free local port against `url`; yield its base URL and the
    server's process id.

    The request rates per address and per account are lifted unless the environment sets
    them: every benchmark client comes from 127.0.0.1, and a synthetic annotator answers
    faster than the per-account limit lets a person (the sign-in limits and the per-account
    concurrency stay as configured)."""
    port = free_port()
    env = {
        "WHSTUDIO_RATE_PER_IP": "0",
        "WHSTUDIO_RATE_PER_USER": "0",
        **os.environ,
        "DATABASE_URL": url,
        "WHSTUDIO_HOME": str(home),
        "WHSTUDIO_LOG_LEVEL": "WARNING",
    }
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [PYTHON, "-m", "whstudio", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=str(ROOT),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}); see {home}/server.log")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not become ready; see {home}/server.log")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        stop_process(proc)
        log.close()


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.asynccontextmanager
async def auto_explain(conn: psycopg.AsyncConnection):
    """Collect, as a list of texts, the EXPLAIN (ANALYZE, BUFFERS) of every statement the
    connection runs in the block, nested ones (functions, triggers) included, through
    auto_explain. Yields None when the module cannot be loaded (then nothing is collected)."""
    notices: list[str] = []

    def keep(diag: Any) -> None:
        if diag.message_primary and "plan:" in diag.message_primary:
            notices.append(diag.message_primary)

    try:
        await conn.execute("LOAD 'auto_explain'")
    except psycopg.Error:
        yield None
        return
    settings = {
        "auto_explain.log_min_duration": "0",
        "auto_explain.log_analyze": "on",
        "auto_explain.log_buffers": "on",
        "auto_explain.log_timing": "on",
        "auto_explain.log_nested_statements": "on",
        "auto_explain.log_level": "notice",
        "client_min_messages": "notice",
    }
    for name, value in settings.items():
        await conn.execute(
            sql.SQL("SET {} = {}").format(sql.Identifier(*name.split(".")), sql.Literal(value))
        )
    conn.add_notice_handler(keep)
    try:
        yield notices
    finally:
        conn.remove_notice_handler(keep)
        await conn.execute("SET auto_explain.log_min_duration = -1")


# The baseline the submit benchmarks are measured against: pgbench inserting one row of an
# answer's shape into a scratch table.
PGBENCH_TABLE = "bench_pgbench_insert"
PGBENCH_TABLE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {PGBENCH_TABLE} (id bigserial PRIMARY KEY,"
    " task_id uuid NOT NULL, user_id uuid NOT NULL, chosen_response text NOT NULL,"
    " confidence smallint, created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP)"
)
PGBENCH_INSERT_SCRIPT = (
    f"INSERT INTO {PGBENCH_TABLE} (task_id, user_id, chosen_response, confidence)"
    " VALUES (gen_random_uuid(), gen_random_uuid(), 'A', 3);\n"
)


def pgbench(
    url: str,
    script: str,
    *,
    clients: int,
    seconds: float,
    folder: Path,
    options: str | None = None,
) -> dict[str, Any]:
    """Run pgbench (prepared statements) with `script` for `seconds`; return its transactions
    per second, mean latency, failed transactions and the command line (without the URL).
    `options`: server settings for its sessions (PGOPTIONS, e.g. "-c track_functions=all")."""
    from whstudio.db.embedded import pg_bin_dir

    path = folder / "pgbench_script.sql"
    path.write_text(script)
    command = [
        str(pg_bin_dir() / "pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j", "2",
        "-T", str(max(1, round(seconds))), "-f", str(path), url,
    ]  # fmt: skip
    env = {**os.environ, "PGOPTIONS": options} if options else None
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 120, check=False, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {done.stderr.strip()[-500:]}")
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    return {
        "tps": float(tps.group(1)) if tps else float("nan"),
        "latency_ms": float(latency.group(1)) if latency else float("nan"),
        "failed": int(failed.group(1)) if failed else 0,
        "command": " ".join(command[:-1]) + " <url>",
    }


LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def scratch_server(given: str | None, prefix: str = "whs-bench-pg-") -> tuple[str, Any]:
    """A server for a benchmark's scratch database: `given`, else DATABASE_URL, else the
    machine's PostgreSQL at 127.0.0.1:5432 if it answers, else an embedded one. Returns its
    maintenance URL and the embedded server to clean up (None for the others)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    url = given or os.environ.get("DATABASE_URL")
    if url:
        params = conninfo_to_dict(url)
        params["dbname"] = "postgres"
        return make_conninfo(**params), None
    try:
        with psycopg.connect(LOCAL_SERVER, connect_timeout=3):
            return LOCAL_SERVER, None
    except psycopg.Error:
        from whstudio.db.embedded import embedded_server

        server = embedded_server(Path(tempfile.mkdtemp(prefix=prefix)))
        return server.get_uri(), server


def empty_database(server_url: str, name: str) -> str:
    """Drop and create database `name` on the server; return its URL."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    drop_database(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(server_url)
    params["dbname"] = name
    return make_conninfo(**params)


def fresh_database(server_url: str, name: str) -> str:
    """Drop and create database `name` on the server, bring it to the newest revision."""
    from whstudio.db import migrate

    url = empty_database(server_url, name)
    migrate.upgrade(url, "head")
    return url


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def generated_database(given: str | None, name: str, scale: Scale) -> Iterator[str]:
    """A database `name` made afresh on a scratch server (see `scratch_server`), filled by the
    generator at `scale`; dropped after a run that ends normally, kept for a look otherwise."""
    from benchmarks.generate import generate

    server_url, server = scratch_server(given)
    try:
        url = fresh_database(server_url, name)
        generate(url, scale, log=lambda m: print(m, flush=True))
        yield url
        drop_database(server_url, name)
    finally:
        if server is not None:
            server.cleanup()
