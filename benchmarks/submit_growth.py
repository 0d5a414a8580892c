"""The cost of one answer as the database grows: the sustained submit benchmark on data sets of
10^5, 10^6 and 10^7 answers (a tenth as many tasks), the same clients, accounts and duration.

    .venv/bin/python -m benchmarks.submit_growth [--database-url URL] [--seconds 60]

Each data set is generated afresh in a scratch database (`whs_bench_growth`) on the machine's
PostgreSQL (or --database-url / DATABASE_URL, else an embedded one), measured with
`benchmarks.submit_load` behind two app processes, and dropped. For each size the table gives
answers per second, p99, the CPU per answer of the app and of PostgreSQL, and the WAL per answer
(bytes and whole pages logged): a page that a checkpoint cleaned is logged whole the first time
it is dirtied again, so once the indexes an answer touches outgrow the server's buffers each
answer logs more of them. Writes the section "submit_growth" of BENCHMARKS.md and
benchmarks/results/submit_growth.json. About 15 minutes on two cores, most of it generating
10^7 answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import report, submit_load
from benchmarks.common import (
    RESULTS_DIR,
    ROOT,
    SCALES,
    Context,
    connect,
    generated_database,
    machine,
    make_users_with_tokens,
    serving,
)
from benchmarks.generate import read_meta

SIZES = (10**5, 10**6, 10**7)
DB_NAME = "whs_bench_growth"


def scale_for(answers: int, seconds: float):
    """The full scale's clients and accounts over `answers` answers and a tenth as many tasks."""
    return replace(
        SCALES["full"],
        name=f"growth-{answers}",
        tasks=answers // 10,
        responses=answers,
        submit_seconds=seconds,
    )


@contextlib.contextmanager
def _two_app_processes():
    """WHSTUDIO_WORKERS=2 for the server `serving` starts (unless set), restored after."""
    before = os.environ.get("WHSTUDIO_WORKERS")
    os.environ.setdefault("WHSTUDIO_WORKERS", "2")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("WHSTUDIO_WORKERS", None)


async def _measure(url: str, scale) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(_two_app_processes())
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="whs-growth-")))
        ctx = Context(
            scale=scale,
            url=url,
            server_label="",
            plans_dir=Path(tempfile.gettempdir()),
            meta=read_meta(url) or {},
        )
        ctx.base_url, ctx.app_pid = stack.enter_context(serving(url, home))
        conn = await connect(url)
        try:
            [(_, ctx.admin_token)] = await make_users_with_tokens(
                conn, "bench-admin", 1, role="admin"
            )
        finally:
            await conn.close()
        return await submit_load.run(ctx)


def render(stored: dict[str, Any]) -> str:
    where = stored["machine"]
    rows = []
    for answers, got in stored["runs"].items():
        extra = got["extra"]
        cpu = extra["cpu_us_per_submit"]
        wal = extra["wal_per_submit"]
        rows.append(
            [
                f"{int(answers):,}",
                f"{extra['ours_tps']:.0f}",
                got["rows"][0][5],
                f"{cpu['app']:.0f}",
                f"{cpu['db']:.0f}",
                f"{wal['wal_bytes'] / 1024:.1f}",
                f"{wal['wal_fpi']:.2f}",
                f"{extra['pgbench_tps']:.0f}",
            ]
        )
    return "\n".join(
        [
            "## The cost of an answer as the database grows (issue 17)",
            "",
            f"Measured {stored['ran_at']} on {where['cpu']} ({where['cores']} cores, "
            f"{where['ram']}), {where['postgresql'].split(',')[0]}, shared_buffers "
            f"{stored['shared_buffers']}; `python -m benchmarks.submit_growth`. The sustained "
            f"submit benchmark (32 clients, {stored['seconds']:.0f} s, two app processes) on "
            "data sets generated afresh, a tenth as many tasks as answers:",
            "",
            report.table(
                [
                    "answers stored",
                    "answers/s",
                    "p99 ms",
                    "app CPU µs / answer",
                    "PostgreSQL CPU µs / answer",
                    "WAL kB / answer",
                    "whole pages logged / answer",
                    "pgbench INSERT/s",
                ],
                rows,
            ),
            "",
            "A whole page is logged when a page a checkpoint has cleaned is dirtied again; "
            "once the indexes an answer touches (its task's consensus row and that row's "
            "indexes, the answer's own indexes keyed by task and question, the quality row's "
            "index by task) no longer fit in the buffers, almost every answer dirties pages "
            "nobody touched since the last checkpoint, and the WAL per answer grows with the "
            "data even though the work per answer does not.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.submit_growth", description=__doc__)
    parser.add_argument("--database-url", help="PostgreSQL server to use (any database on it)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--report", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / "submit_growth.json")
    parser.add_argument("--db-name", default=DB_NAME, help="database made afresh for each size")
    args = parser.parse_args(argv)
    runs: dict[str, Any] = {}
    where: dict[str, str] = {}
    shared_buffers = ""
    for answers in args.sizes:
        print(f"== {answers:,} answers", flush=True)
        scale = scale_for(answers, args.seconds)
        with generated_database(args.database_url, args.db_name, scale) as url:
            where = machine(url)
            with psycopg.connect(url) as c:
                shared_buffers = c.execute("SHOW shared_buffers").fetchone()[0]
            got = asyncio.run(_measure(url, scale))
        runs[str(answers)] = got
        for row in got["rows"]:
            print("   " + " | ".join(str(c) for c in row), flush=True)
    stored = {
        "machine": where,
        "ran_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": args.seconds,
        "shared_buffers": shared_buffers,
        "runs": runs,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(stored, indent=2, default=str))
    report.put_section(args.report, "submit_growth", render(stored))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
