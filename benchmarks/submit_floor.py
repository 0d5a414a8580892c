"""The floor under sustained POST /submit: how close to pgbench's single-row INSERT rate a Python
web service gets on this machine when all it does is that INSERT.

    .venv/bin/python -m benchmarks.submit_floor [--seconds 30] [--clients 32] [--workers 2]

Five services from benchmarks/floor_app.py (plain ASGI answering without a database; plain
ASGI doing the INSERT through psycopg_pool; FastAPI + Pydantic doing it; the last two again with
group commit, concurrent requests' rows in one INSERT and one transaction), each served by
uvicorn with `--workers` processes and driven by the same load generator and clients as the
submit benchmark (benchmarks/http_load.py), then pgbench with the same INSERT against the same
server for the same time. Each row gives requests per second, latency, the share of pgbench's
rate and the CPU per request by part (service, PostgreSQL, load generator). The section
"submit_floor" of BENCHMARKS.md; a scratch database `whs_bench_floor` is made afresh and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from benchmarks import cpu, http_load
from benchmarks.common import (
    PGBENCH_INSERT_SCRIPT,
    PGBENCH_TABLE,
    PGBENCH_TABLE_DDL,
    PYTHON,
    ROOT,
    drop_database,
    empty_database,
    fmt_ms,
    free_port,
    machine,
    percentiles,
    pgbench,
    scratch_server,
    stop_process,
)
from benchmarks.report import put_section, table

DB_NAME = "whs_bench_floor"
SERVICES = {
    "http_only": "plain ASGI, JSON parsed, no database",
    "raw_insert": "plain ASGI + one INSERT (psycopg_pool)",
    "fastapi_insert": "FastAPI + Pydantic + one INSERT (psycopg_pool)",
    "raw_batched": "plain ASGI + the INSERT by group commit",
    "fastapi_batched": "FastAPI + Pydantic + the INSERT by group commit",
}


def make_database(server_url: str, name: str) -> str:
    """A database `name` made afresh with the one table every service and pgbench write to."""
    url = empty_database(server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PGBENCH_TABLE_DDL)
    return url


def _rows(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(f"SELECT count(*) FROM {PGBENCH_TABLE}").fetchone()[0]


def _body(rng: random.Random) -> dict[str, Any]:
    return {
        "task_id": str(UUID(int=rng.getrandbits(128), version=4)),
        "user_id": str(UUID(int=rng.getrandbits(128), version=4)),
        "chosen_response": rng.choice("AB"),
        "confidence": rng.randint(1, 5),
    }


@contextlib.contextmanager
def _serving(name: str, url: str, workers: int, log: Path) -> Iterator[tuple[str, int]]:
    """uvicorn serving floor_app's `name` on a free port; yields its base URL and process id."""
    port = free_port()
    command = [
        PYTHON, "-m", "uvicorn", f"benchmarks.floor_app:{name}", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env={**os.environ, "FLOOR_DATABASE_URL": url},
            cwd=str(ROOT),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield f"http://127.0.0.1:{port}", proc.pid
        finally:
            stop_process(proc)


async def _ready(base: str, timeout: float = 60.0) -> None:
    """Wait until the service answers a valid request with 201 (one row written)."""
    deadline = time.monotonic() + timeout
    rng = random.Random(1)
    async with http_load.client(base, connections=1) as http:
        while True:
            try:
                if (await http.post("/answers", json=_body(rng))).status_code == 201:
                    return
            except http_load.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{base} did not become ready")
            await asyncio.sleep(0.2)


async def _load(base: str, pid: int, postmaster: int | None, clients: int, seconds: float):
    meter = cpu.Meter(pid, postmaster)
    marks: dict[str, dict[str, float]] = {}
    rngs = [random.Random(1000 + c) for c in range(clients)]
    acknowledged = 0  # 201s, the warm-up's included: each is a row that must be there
    async with http_load.client(base, connections=clients) as http:

        async def step(worker: int, stats: http_load.LoadStats) -> bool:
            nonlocal acknowledged
            body = _body(rngs[worker])
            began = time.perf_counter()
            response = await http.post("/answers", json=body)
            stats.add("post", time.perf_counter() - began, response.status_code)
            acknowledged += response.status_code == 201
            return True

        stats = await http_load.closed_loop(
            clients,
            seconds,
            step,
            warmup=min(3.0, seconds / 5),
            on_start=lambda: marks.setdefault("start", meter.read()),
        )
        marks["end"] = meter.read()
    ok = stats.statuses.get("post 201", 0)
    handled = sum(len(v) for v in stats.latencies.values())
    return {
        "per_second": ok / stats.seconds if stats.seconds else 0.0,
        "ok": ok,
        "acknowledged": acknowledged,
        "errors": handled - ok + sum(stats.errors.values()),
        "latency": percentiles(stats.latencies.get("post", [])),
        "cpu": cpu.per_operation(marks["start"], marks["end"], handled),
    }


def serve_one(
    name: str,
    url: str,
    postmaster: int | None,
    *,
    clients: int,
    seconds: float,
    workers: int,
    folder: Path,
) -> dict[str, Any]:
    """Serve floor_app's `name` against `url` (which holds the INSERT's table), drive it with
    `clients` for `seconds`, and return its figures with the rows it wrote."""
    before = _rows(url)
    with _serving(name, url, workers, folder / f"{name}.log") as (base, pid):
        asyncio.run(_ready(base))
        got = asyncio.run(_load(base, pid, postmaster, clients, seconds))
    # one per acknowledged request, beside the readiness probe's (none without a database)
    probe = 0 if name == "http_only" else 1
    got["rows_written"] = _rows(url) - before - probe
    return got


def measure(url: str, *, clients: int, seconds: float, workers: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    postmaster = cpu.parent_of(backend)
    services: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="whs-floor-") as folder:
        scratch = Path(folder)
        for name in SERVICES:
            services[name] = serve_one(
                name,
                url,
                postmaster,
                clients=clients,
                seconds=seconds,
                workers=workers,
                folder=scratch,
            )
            print(
                f"{name}: {services[name]['per_second']:.0f}/s, errors {services[name]['errors']}",
                flush=True,
            )
        meter = cpu.Meter(None, postmaster)
        before_cpu = meter.read()
        bench = pgbench(
            url, PGBENCH_INSERT_SCRIPT, clients=clients, seconds=seconds, folder=scratch
        )
        bench["cpu"] = cpu.per_operation(before_cpu, meter.read(), round(bench["tps"] * seconds))
        print(f"pgbench: {bench['tps']:.0f}/s", flush=True)
    return {
        "clients": clients,
        "seconds": seconds,
        "workers": workers,
        "services": services,
        "pgbench": bench,
        "ran_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def render(result: dict[str, Any], where: dict[str, str]) -> str:
    bench = result["pgbench"]
    rows = []
    for name, label in SERVICES.items():
        got = result["services"][name]
        use = got["cpu"]
        rows.append(
            [
                label,
                f"{got['per_second']:,.0f}",
                fmt_ms(got["latency"]["p50"]),
                fmt_ms(got["latency"]["p99"]),
                f"{got['per_second'] / bench['tps']:.1%}",
                f"{use['app']:.0f} / {use['db']:.0f} / {use['loadgen']:.0f}",
                got["errors"],
            ]
        )
    rows.append(
        [
            "pgbench, the same INSERT",
            f"{bench['tps']:,.0f}",
            fmt_ms(bench["latency_ms"]),
            "",
            "100%",
            f"– / {bench['cpu']['db']:.0f} / {bench['cpu']['finished_children']:.0f} (pgbench)",
            bench["failed"],
        ]
    )
    return "\n".join(
        [
            "## The floor under sustained submit: one INSERT behind a Python web service",
            "",
            f"`.venv/bin/python -m benchmarks.submit_floor` ({result['ran_at']}; "
            f"{where['cores']} cores, {where['ram']}, {where['cpu']}; {where['postgresql']}).",
            "",
            f"{result['clients']} clients for {result['seconds']:.0f} s each, uvicorn with "
            f"{result['workers']} worker processes, the same load generator as the submit "
            "benchmark; pgbench afterwards with the same INSERT against the same server:",
            "",
            table(
                [
                    "service",
                    "per second",
                    "p50 ms",
                    "p99 ms",
                    "of pgbench",
                    "CPU µs per request: service / PostgreSQL / load generator",
                    "errors",
                ],
                rows,
            ),
            "",
            "None of these services does any of the app's work (no token, no task, no "
            "consensus, no quality, no idempotency): they show what share of pgbench's rate is "
            "open to a Python service on this machine at all, with the stack the project uses "
            "(uvicorn, psycopg_pool; FastAPI and Pydantic where named). Group commit: "
            "concurrent requests' rows go into one INSERT in one transaction, each request "
            "answered once its batch has committed (benchmarks/floor_app.py, GroupCommit).",
            "",
            "Rows written / requests acknowledged (warm-up included): "
            + "; ".join(
                f"{name} {result['services'][name]['rows_written']:,} / "
                f"{result['services'][name]['acknowledged']:,}"
                for name in SERVICES
                if name != "http_only"
            )
            + ".",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url")
    parser.add_argument("--db-name", default=DB_NAME, help="database made afresh for the run")
    parser.add_argument("--report", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-report", action="store_true", help="print only")
    args = parser.parse_args(argv)
    server_url, server = scratch_server(args.database_url)
    try:
        url = make_database(server_url, args.db_name)
        result = measure(url, clients=args.clients, seconds=args.seconds, workers=args.workers)
        if not args.no_report:
            put_section(args.report, "submit_floor", render(result, machine(url)))
        print(render(result, machine(url)))
        drop_database(server_url, args.db_name)
    finally:
        if server is not None:
            server.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
