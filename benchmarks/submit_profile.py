"""Where PostgreSQL's time goes in one answer, function by function, measured with pgbench.

    .venv/bin/python -m benchmarks.submit_profile [--seconds 20] [--clients 2]

pgbench calls `submit_answer_v2` (what the API calls for each answer) directly, random
annotators answering random open tasks of the small generated data set, twice in the same run
after a warm-up: once plainly, for the answers per second and the whole server's CPU per
answer, then with `track_functions = all`, which times every SQL and PL/pgSQL function call
(triggers included) and costs some time itself. The table gives each function's calls and
self time per answer: time inside the function less the functions it called. The statements a
function runs count as its own, so `submit_answer_v2`'s self time holds the INSERT's index and
foreign-key work. Few clients by default, so that wall time stays close to CPU time. The
section "submit_profile" of BENCHMARKS.md; the data goes into a database `whs_bench_profile`,
made afresh.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks import cpu
from benchmarks.common import (
    ROOT,
    SCALES,
    generated_database,
    machine,
    pgbench,
)
from benchmarks.notify_commit import CALL, pick, prepare
from benchmarks.report import put_section, table

DB_NAME = "whs_bench_profile"
SCRIPT = CALL.format(fn="submit_answer_v2") + ";\n"


def _answers(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM submissions").fetchone()[0]


def _postmaster(url: str) -> int | None:
    async def find() -> int | None:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:
            return await cpu.postmaster_pid(conn)
        finally:
            await conn.close()

    return asyncio.run(find())


def _run(url: str, script: str, clients: int, seconds: int, options: str | None) -> dict:
    meter = cpu.Meter(None, _postmaster(url))
    before_rows, before_cpu = _answers(url), meter.read()
    with tempfile.TemporaryDirectory() as folder:
        done = pgbench(
            url, script, clients=clients, seconds=seconds, folder=Path(folder), options=options
        )
    after_cpu = meter.read()
    answers = _answers(url) - before_rows
    return {**done, "answers": answers, "cpu": cpu.per_operation(before_cpu, after_cpu, answers)}


def _functions(url: str) -> list[dict]:
    """Per-function totals since the database's statistics were reset (what pgbench's
    sessions reported when they ended)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(50):  # the sessions' last reports arrive just after they exit
            rows = conn.execute(
                "SELECT schemaname || '.' || funcname AS name, calls, self_time, total_time"
                " FROM pg_stat_user_functions ORDER BY self_time DESC"
            ).fetchall()
            if rows:
                break
            time.sleep(0.1)
            conn.execute("SELECT pg_stat_clear_snapshot()")
    return [dict(zip(("name", "calls", "self_ms", "total_ms"), r, strict=True)) for r in rows]


def measure(url: str, *, clients: int, seconds: int) -> dict:
    tasks, users = prepare(url)
    script = pick(tasks, users, clients) + SCRIPT
    _run(url, script, clients, max(3, seconds // 4), None)  # warm-up: caches, autovacuum
    plain = _run(url, script, clients, seconds, None)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_reset()")
    traced = _run(url, script, clients, seconds, "-c track_functions=all")
    functions = _functions(url)
    return {
        "tasks": tasks,
        "clients": clients,
        "seconds": seconds,
        "plain": plain,
        "traced": traced,
        "functions": functions,
    }


def render(result: dict, info: dict) -> str:
    plain, traced = result["plain"], result["traced"]
    n = traced["answers"] or 1
    top = next((f for f in result["functions"] if f["name"] == "public.submit_answer_v2"), None)
    whole = top["total_ms"] / n * 1000 if top else float("nan")
    rows = []
    for f in result["functions"]:
        self_us = f["self_ms"] / n * 1000
        if self_us < 1 and f["calls"] / n < 0.01:
            continue
        rows.append(
            [
                f"`{f['name'].removeprefix('public.')}`",
                f"{f['calls'] / n:.2f}",
                f"{self_us:.0f}",
                f"{self_us / whole:.0%}" if whole == whole and whole > 0 else "",
            ]
        )
    return "\n".join(
        [
            "## Where PostgreSQL's time goes in one answer",
            "",
            f"`.venv/bin/python -m benchmarks.submit_profile` ({info['date']}; {info['cores']} "
            f"cores, {info['ram']}, {info['cpu']}; {info['postgresql'].split(',')[0]}).",
            "",
            f"pgbench, {result['clients']} clients for {result['seconds']} s, calling "
            f"`submit_answer_v2` directly ({result['tasks']:,} open tasks of the small data set, "
            "random annotators):",
            "",
            table(
                ["run", "answers/s", "latency ms", "server CPU µs per answer"],
                [
                    [
                        "plain",
                        f"{plain['tps']:.0f}",
                        f"{plain['latency_ms']:.2f}",
                        f"{plain['cpu']['db']:.0f}",
                    ],
                    [
                        "track_functions = all",
                        f"{traced['tps']:.0f}",
                        f"{traced['latency_ms']:.2f}",
                        f"{traced['cpu']['db']:.0f}",
                    ],
                ],
            ),
            "",
            f"Per answer, traced: `submit_answer_v2` takes {whole:.0f} µs in all (wall time, "
            "triggers included); the rest of the server's time per answer is parsing, planning "
            "cached statements, the commit and the client protocol. By function, self time:",
            "",
            table(["function", "calls per answer", "self µs per answer", "share"], rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--database-url")
    parser.add_argument("--db-name", default=DB_NAME, help="database made afresh for the run")
    parser.add_argument("--report", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    with generated_database(args.database_url, args.db_name, SCALES[args.scale]) as url:
        result = measure(url, clients=args.clients, seconds=args.seconds)
        put_section(args.report, "submit_profile", render(result, machine(url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
