"""Run the benchmark suite and write BENCHMARKS.md.

    .venv/bin/python -m benchmarks.run [--scale full|small] [--only NAME ...]

Which PostgreSQL: --database-url, else DATABASE_URL, else (full scale) the machine's server at
postgresql://postgres@127.0.0.1:5432/postgres if it answers, else the embedded one in
benchmarks/out/pg-<scale>/. The data set goes into a database `whs_bench_<scale>` on that server,
built once and reused by later runs (--regenerate builds it again).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from benchmarks import (
    analytics_page,
    batch_recompute,
    consensus_read,
    jsonb_vs_text,
    next_task,
    recompute_one,
    report,
    submit_load,
    tasks_list,
)
from benchmarks.common import (
    OUT_DIR,
    PLANS_DIR,
    RESULTS_DIR,
    ROOT,
    SCALES,
    Context,
    connect,
    serving,
)
from benchmarks.generate import generate, read_meta

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"

# name -> (module, needs the web app)
BENCHMARKS: dict[str, tuple[Any, bool]] = {
    "tasks_list": (tasks_list, True),
    "consensus_read": (consensus_read, True),
    "recompute_one": (recompute_one, False),
    "submit": (submit_load, True),
    "next_task": (next_task, True),
    "batch_recompute": (batch_recompute, False),
    "jsonb_vs_text": (jsonb_vs_text, False),
    "analytics": (analytics_page, True),
}


def with_db(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True):
            return True
    except psycopg.Error:
        return False


def choose_server(scale: str, given: str | None) -> tuple[str, str]:
    """Return (maintenance URL, label) of the PostgreSQL to use."""
    import os

    if given or os.environ.get("DATABASE_URL"):
        from whstudio.db.connect import normalize_url

        url = normalize_url(given or os.environ["DATABASE_URL"])
        return with_db(url, "postgres"), "given by DATABASE_URL / --database-url"
    if scale == "full" and _answers(LOCAL_SERVER):
        return LOCAL_SERVER, "the machine's PostgreSQL (127.0.0.1:5432)"
    from whstudio.db.embedded import embedded_server

    server = embedded_server(OUT_DIR / f"pg-{scale}")
    return server.get_uri("postgres"), f"embedded pgserver in benchmarks/out/pg-{scale}"


def prepare_database(server: str, name: str, *, regenerate: bool) -> tuple[str, bool]:
    """Return (URL of the benchmark database, whether it must be generated)."""
    from whstudio.db import migrate

    url = with_db(server, name)
    with psycopg.connect(server, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not regenerate and read_meta(url) is not None:
            migrate.upgrade(url, "head")  # a data set built by an older schema catches up
            return url, False
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate.upgrade(url, "head")
    return url, True


async def run_benchmarks(
    ctx: Context, names: list[str], log: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """Run the named benchmarks (the web app is started once for those that need it)."""
    results: dict[str, dict[str, Any]] = {}
    need_web = any(BENCHMARKS[n][1] for n in names)
    with contextlib.ExitStack() as stack:
        if need_web:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="whs-bench-")))
            ctx.base_url, ctx.app_pid = stack.enter_context(serving(ctx.url, home))
            conn = await connect(ctx.url)
            try:
                from benchmarks.common import make_users_with_tokens

                [(_, ctx.admin_token)] = await make_users_with_tokens(
                    conn, "bench-admin", 1, role="admin"
                )
            finally:
                await conn.close()
        for name in names:
            module, _ = BENCHMARKS[name]
            log(f"== {name}")
            began = time.perf_counter()
            results[name] = await module.run(ctx)
            results[name]["seconds"] = round(time.perf_counter() - began, 1)
            results[name]["ran_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            for row in results[name]["rows"]:
                log("   " + " | ".join(str(c) for c in row))
            log(f"   passed: {results[name]['passed']}  ({results[name]['seconds']} s)")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME")
    parser.add_argument("--database-url", help="PostgreSQL server to use (any database on it)")
    parser.add_argument(
        "--bench-url", help="use this database as it is (migrated; generated if empty)"
    )
    parser.add_argument("--regenerate", action="store_true", help="build the data set again")
    parser.add_argument("--report", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--plans", type=Path, default=PLANS_DIR)
    parser.add_argument("--results", type=Path, help="JSON results file (merged across runs)")
    parser.add_argument("--maintenance-work-mem", default="1GB")
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]

    def log(message: str) -> None:
        print(message, flush=True)

    if args.bench_url:
        url, label = args.bench_url, "given by --bench-url"
        must_generate = read_meta(url) is None
    else:
        server, label = choose_server(scale.name, args.database_url)
        url, must_generate = prepare_database(
            server, f"whs_bench_{scale.name}", regenerate=args.regenerate
        )
    log(f"PostgreSQL: {label}")
    if must_generate:
        log(f"generating the {scale.name} data set")
        generate(url, scale, maintenance_work_mem=args.maintenance_work_mem, log=log)
    meta = read_meta(url)
    assert meta is not None
    if meta.get("scale") != scale.name:
        log(f"warning: the database holds the {meta.get('scale')} data set, not {scale.name}")
    ctx = Context(scale=scale, url=url, server_label=label, plans_dir=args.plans, meta=meta)
    names = args.only or list(BENCHMARKS)
    results = asyncio.run(run_benchmarks(ctx, names, log))

    results_path = args.results or RESULTS_DIR / f"{scale.name}.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    stored: dict[str, Any] = {}
    if results_path.exists():
        stored = json.loads(results_path.read_text())
    from benchmarks.common import machine

    stored.setdefault("benchmarks", {}).update(results)
    stored["machine"] = machine(url)
    stored["server"] = label
    stored["generated"] = meta
    stored["scale"] = scale.name
    results_path.write_text(json.dumps(stored, indent=2, default=str))
    report.write(args.report, stored, order=list(BENCHMARKS))
    log(f"wrote {args.report} and {results_path}")
    failed = [n for n, r in results.items() if r["passed"] is False]
    if failed:
        log(f"missed their target: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
