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


def _rows(runs: dict[str, Any], label: str) -> list[list[str]]:
    rows = []
    for answers, got in runs.items():
        extra = got["extra"]
        cpu = extra["cpu_us_per_submit"]
        wal = extra["wal_per_submit"]
        rows.append(
            [
                label,
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
    return rows


def _growth(runs: dict[str, Any]) -> str:
    """What the CPU per answer did as the data grew, from the figures."""
    db = {int(k): v["extra"]["cpu_us_per_submit"]["db"] for k, v in runs.items()}
    if len(db) < 2:
        return ""
    sizes = sorted(db)
    text = (
        " PostgreSQL's CPU per answer went "
        + " → ".join(f"{db[n]:,.0f}" for n in sizes)
        + f" µs from {sizes[0]:,} to {sizes[-1]:,} answers"
    )
    if db[sizes[-1]] <= 1.15 * min(db.values()):
        text += ": it does not grow with the data."
    else:
        text += f": it grew by {db[sizes[-1]] / min(db.values()) - 1:.0%}."
    if max(db, key=db.get) == sizes[0]:
        text += (
            " It is highest on the smallest set, where the run's answers fall on fewer tasks"
            " (the same number of answers on a tenth as many tasks), so more of them settle"
            " their task, which gives every answer of that task its verdict and moves each"
            " answerer's reputation."
        )
    return text


def render(stored: dict[str, Any]) -> str:
    """The section: this run, and beside it the earlier run kept in the results (`earlier`:
    its time, its code and its runs), if any."""
    where = stored["machine"]
    rows = _rows(stored["runs"], f"{stored['ran_at'][11:]}: {stored.get('code', 'this code')}")
    earlier = stored.get("earlier")
    if earlier:
        rows += _rows(earlier["runs"], f"{earlier['ran_at'][11:]}: {earlier['code']}")
    spread = [got["extra"]["pgbench_tps"] for got in stored["runs"].values()]
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
                    "run (UTC): code",
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
            "",
            "pgbench's single-row INSERT rate, measured beside each size, is how fast the"
            " machine's commits were at the time: it moved between"
            f" {min(spread):,.0f} and {max(spread):,.0f}/s in this run, so compare answers per"
            " second with it, and compare the CPU per answer, which depends less on it."
            + _growth(stored["runs"]),
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
    parser.add_argument("--code", default="this code", help="what the run measured, for its rows")
    parser.add_argument(
        "--earlier", type=Path, help="results of an earlier run (other code) to show beside this"
    )
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
        "code": args.code,
    }
    if args.earlier:
        before = json.loads(args.earlier.read_text())
        stored["earlier"] = {k: before[k] for k in ("ran_at", "runs")}
        stored["earlier"]["code"] = before.get("code", "earlier code")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(stored, indent=2, default=str))
    report.put_section(args.report, "submit_growth", render(stored))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
