"""Sustained `POST /api/tasks/{id}/submit` over HTTP from 32 concurrent clients, each a different
annotator answering different tasks, beside two floors measured in the same run against the same
server: pgbench's single-row INSERT for the same time, and the same INSERT served by FastAPI +
Pydantic under uvicorn with as many workers as the app (benchmarks/floor_app.py), driven by the
same load generator and clients for half that time. Issue 17's target: at least 40% of the
FastAPI floor, with a p99 under 100 ms."""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any
from uuid import UUID

import psycopg

from benchmarks import cpu, http_load, submit_floor
from benchmarks.common import (
    PGBENCH_INSERT_SCRIPT,
    PGBENCH_TABLE,
    PGBENCH_TABLE_DDL,
    Context,
    auto_explain,
    connect,
    fmt_ms,
    make_users_with_tokens,
    percentiles,
    pgbench,
    result,
    write_plan,
)

TARGET_OF_FLOOR = 0.40  # of the FastAPI + one-INSERT floor, measured in the same run
TARGET_P99_MS = 100.0
FLOOR_SERVICE = "fastapi_insert"


_WAL = ("wal_records", "wal_fpi", "wal_bytes")


def _wal(conn: psycopg.Connection) -> dict[str, float]:
    row = conn.execute(f"SELECT {', '.join(_WAL)} FROM pg_stat_wal").fetchone()
    return {k: float(v) for k, v in zip(_WAL, row, strict=True)}


async def pick_tasks(conn, count: int) -> list[str]:
    """Active, non-gold, unexpired tasks, those furthest from their threshold first."""
    cur = await conn.execute(
        """
        SELECT c.task_id FROM response_consensus c JOIN tasks t ON t.id = c.task_id
         WHERE c.task_active AND NOT c.has_gold AND t.expires_at IS NULL
         ORDER BY c.remaining DESC, c.task_id LIMIT %s
        """,
        [count],
    )
    return [str(r["task_id"]) for r in await cur.fetchall()]


def run_pgbench(url: str, clients: int, seconds: float, scratch) -> dict[str, Any]:
    """Run pgbench with a one-row INSERT script; return its tps and mean latency."""
    return pgbench(url, PGBENCH_INSERT_SCRIPT, clients=clients, seconds=seconds, folder=scratch)


async def _submit_plan(ctx: Context, conn, task_id: str) -> None:
    """The plans of one submit's statements, triggers included, in a rolled-back transaction."""
    from whstudio.domain import responses
    from whstudio.schemas import TaskResponse

    [(user_id, _)] = await make_users_with_tokens(conn, f"bench-plan-{time.time_ns():x}", 1)
    async with auto_explain(conn) as notices:
        if notices is None:
            write_plan(ctx, "submit", [("-- one submit", "(auto_explain cannot be loaded here)")])
            return
        try:
            async with conn.transaction(force_rollback=True):
                await responses.submit(
                    conn,
                    task_id=UUID(task_id),
                    user_id=user_id,
                    answer=TaskResponse(chosen_response="A", confidence=3, time_spent_seconds=30),
                )
        except Exception as exc:  # a plan is a nice-to-have; never fail the benchmark on it
            notices.append(f"(submit failed: {exc})")
    write_plan(
        ctx, "submit", [("-- every statement of one submit (auto_explain)", "\n\n".join(notices))]
    )


async def _hot_task(conn, stamp: str) -> str:
    """A task of a dataset of its own that never closes (its threshold is out of reach) and
    whose annotators never see others' answers (reveal never): every answer to it, a revision
    included, counts and moves its consensus row."""
    from whstudio.domain import tasks as tasks_domain

    dataset = f"bench-hot-{stamp}"
    async with conn.transaction():
        [made] = await tasks_domain.create_many(
            conn,
            [
                {
                    "question_type": "pairwise_ab",
                    "content": {"prompt": f"hot {stamp}", "optionA": "a", "optionB": "b"},
                    "source_dataset": dataset,
                    "consensus_threshold": 10_000,
                }
            ],
            creator_id=None,
        )
        await conn.execute(
            "INSERT INTO dataset_policies (source_dataset, reveal) VALUES (%s, 'never')",
            [dataset],
        )
    return str(made["task_id"])


async def run(ctx: Context) -> dict[str, Any]:
    scale = ctx.scale
    clients = scale.clients
    conn = await connect(ctx.url)
    try:
        stamp = f"{time.time_ns():x}"[-8:]
        tasks = await pick_tasks(conn, clients * 4000)
        if not tasks:
            raise RuntimeError("no active task to answer")
        users = await make_users_with_tokens(
            conn, f"bench-sub-{stamp}", clients * scale.users_per_client
        )
        hot_task = await _hot_task(conn, stamp)
        await _submit_plan(ctx, conn, tasks[-1])
        await conn.execute(PGBENCH_TABLE_DDL)
        await conn.execute(f"TRUNCATE {PGBENCH_TABLE}")
    finally:
        await conn.close()

    slices = [tasks[c::clients] or tasks for c in range(clients)]
    tokens = [
        [users[c * scale.users_per_client + p][1] for p in range(scale.users_per_client)]
        for c in range(clients)
    ]
    position = [0] * clients
    rng = random.Random(7)

    conn = await connect(ctx.url)
    try:
        meter = cpu.Meter(ctx.app_pid, await cpu.postmaster_pid(conn))
    finally:
        await conn.close()
    # The server's WAL over the kept period (pg_stat_wal, the whole server: nothing else runs):
    # bytes and whole pages logged per answer, which grow with the data once its indexes
    # outgrow the buffers (a page dirtied for the first time after a checkpoint is logged whole).
    wal_conn = psycopg.connect(ctx.url, autocommit=True)

    async with http_load.client(ctx.base_url, connections=clients) as http:

        async def step(worker: int, stats: http_load.LoadStats) -> bool:
            mine = slices[worker]
            i = position[worker]
            position[worker] += 1
            task = mine[i % len(mine)]
            user = min(i // len(mine), scale.users_per_client - 1)
            body = {
                "chosen_response": rng.choice("AB"),
                "confidence": rng.randint(1, 5),
                "time_spent_seconds": rng.randint(5, 300),
            }
            began = time.perf_counter()
            response = await http.post(
                f"/api/tasks/{task}/submit",
                json=body,
                headers=http_load.bearer(tokens[worker][user]),
            )
            stats.add("submit", time.perf_counter() - began, response.status_code)
            return True

        marks: dict[str, dict[str, float]] = {}
        stats = await http_load.closed_loop(
            clients,
            scale.submit_seconds,
            step,
            warmup=min(2.0, scale.submit_seconds / 5),
            on_start=lambda: marks.update(start=meter.read(), wal_start=_wal(wal_conn)),
        )
        marks["end"], marks["wal_end"] = meter.read(), _wal(wal_conn)
        wal_conn.close()

        # The hot row: every client answers one task, every answer counted, so that each
        # waits for the same consensus row's lock.
        hot_position = [0] * clients

        async def hot_step(worker: int, stats: http_load.LoadStats) -> bool:
            i = hot_position[worker]
            hot_position[worker] += 1
            began = time.perf_counter()
            response = await http.post(
                f"/api/tasks/{hot_task}/submit",
                json={
                    "chosen_response": rng.choice("AB"),
                    "confidence": 3,
                    "time_spent_seconds": 30,
                },
                headers=http_load.bearer(tokens[worker][i % scale.users_per_client]),
            )
            stats.add("hot", time.perf_counter() - began, response.status_code)
            return True

        hot_seconds = max(1.0, scale.submit_seconds / 4)
        hot = await http_load.closed_loop(
            clients, hot_seconds, hot_step, warmup=min(1.0, hot_seconds / 5)
        )

    ok = stats.statuses.get("submit 201", 0)
    hot_ok = hot.statuses.get("hot 201", 0)
    hot_errors = sum(n for k, n in hot.statuses.items() if k != "hot 201") + sum(
        hot.errors.values()
    )
    hot_tps = hot_ok / hot.seconds if hot.seconds else 0.0
    hot_p = percentiles(hot.latencies.get("hot", []))
    errors = sum(n for k, n in stats.statuses.items() if k != "submit 201") + sum(
        stats.errors.values()
    )
    ours = ok / stats.seconds if stats.seconds else 0.0
    p = percentiles(stats.latencies.get("submit", []))
    handled = sum(len(v) for v in stats.latencies.values())
    ours_cpu = cpu.per_operation(marks["start"], marks["end"], handled)
    wal = {k: (marks["wal_end"][k] - marks["wal_start"][k]) / max(handled, 1) for k in _WAL}
    before_pgbench = meter.read()
    bench = run_pgbench(ctx.url, clients, scale.submit_seconds, ctx.scratch)
    pgbench_cpu = cpu.per_operation(
        before_pgbench, meter.read(), round(bench["tps"] * scale.submit_seconds)
    )
    # The FastAPI floor, the same run: the INSERT pgbench ran, served by FastAPI + Pydantic with
    # as many uvicorn workers as the app has (the app stays up, idle), same clients and load
    # generator; half the time, since its rate settles within seconds.
    workers = int(os.environ.get("WHSTUDIO_WORKERS", "1"))
    floor_seconds = max(1.0, scale.submit_seconds / 2)
    floor = await asyncio.to_thread(
        submit_floor.serve_one,
        FLOOR_SERVICE,
        ctx.url,
        meter.postmaster_pid,
        clients=clients,
        seconds=floor_seconds,
        workers=workers,
        folder=ctx.scratch,
    )
    conn = await connect(ctx.url)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {PGBENCH_TABLE}")
    finally:
        await conn.close()
    ratio = ours / bench["tps"] if bench["tps"] else float("nan")
    of_floor = ours / floor["per_second"] if floor["per_second"] else float("nan")
    service_ms = 1000.0 / ours if ours else float("nan")
    cores = os.cpu_count() or 1
    per_answer = ours_cpu["app"] + ours_cpu["db"] + ours_cpu["loadgen"]
    ceiling = cores * 1e6 / per_answer if per_answer > 0 else float("nan")
    busy = ours * per_answer / 1e6
    floor_tps = floor["per_second"]
    budget = cores * 1e6 / (TARGET_OF_FLOOR * floor_tps) if floor_tps else float("nan")
    statuses = ", ".join(f"{k.split()[1]}: {n}" for k, n in sorted(stats.statuses.items()))
    return result(
        "submit",
        "Sustained POST /api/tasks/{id}/submit, 32 clients, beside pgbench and the FastAPI floor",
        target=(
            f"ours / FastAPI + one-INSERT floor ≥ {TARGET_OF_FLOOR:.0%}, "
            f"p99 < {TARGET_P99_MS:.0f} ms (issue 17)"
        ),
        columns=["what", "clients", "seconds", "per second", "p50 ms", "p99 ms", "errors"],
        rows=[
            [
                "POST /submit over HTTP",
                clients,
                f"{stats.seconds:.1f}",
                f"{ours:.0f}",
                fmt_ms(p["p50"]),
                fmt_ms(p["p99"]),
                errors,
            ],
            [
                "pgbench one-row INSERT",
                clients,
                f"{scale.submit_seconds:.0f}",
                f"{bench['tps']:.0f}",
                fmt_ms(bench["latency_ms"]),
                "",
                bench["failed"],
            ],
            [
                "POST /submit, every client on one task (the hot row)",
                clients,
                f"{hot.seconds:.1f}",
                f"{hot_tps:.0f}",
                fmt_ms(hot_p["p50"]),
                fmt_ms(hot_p["p99"]),
                hot_errors,
            ],
            [
                "FastAPI + Pydantic + the same INSERT (the floor), same clients",
                clients,
                f"{floor_seconds:.0f}",
                f"{floor['per_second']:.0f}",
                fmt_ms(floor["latency"]["p50"]),
                fmt_ms(floor["latency"]["p99"]),
                floor["errors"],
            ],
            ["ratio ours / the FastAPI floor", "", "", f"{of_floor:.1%}", "", "", ""],
            ["ratio ours / pgbench", "", "", f"{ratio:.1%}", "", "", ""],
            [
                "CPU µs per submit: app / PostgreSQL / load generator",
                "",
                "",
                f"{ours_cpu['app']:.0f} / {ours_cpu['db']:.0f} / {ours_cpu['loadgen']:.0f}",
                "",
                "",
                "",
            ],
            [
                "WAL per submit: kB / whole pages logged",
                "",
                "",
                f"{wal['wal_bytes'] / 1024:.1f} / {wal['wal_fpi']:.2f}",
                "",
                "",
                "",
            ],
            [
                "CPU µs per pgbench INSERT: PostgreSQL / pgbench",
                "",
                "",
                f"{pgbench_cpu['db']:.0f} / {pgbench_cpu['finished_children']:.0f}",
                "",
                "",
                "",
            ],
        ],
        passed=(of_floor >= TARGET_OF_FLOOR) and p["p99"] < TARGET_P99_MS and errors == 0,
        notes=[
            f"Answers counted: {ok} (statuses: {statuses}); each client is its own annotator "
            f"({scale.users_per_client} accounts per client, switching account when it has "
            "answered every task of its share), answering active tasks furthest from threshold.",
            f"Client-side errors (no HTTP answer) by kind: {dict(stats.errors) or 'none'}.",
            "The hot row: after the sustained run, every client answers the same task for "
            f"{hot_seconds:.0f} s (each of its accounts in turn, then again: revisions), a "
            "task of a dataset of its own whose annotators never see others' answers, so that "
            "every answer counts and waits for that task's consensus row; statuses: "
            + (", ".join(f"{k.split()[1]}: {n}" for k, n in sorted(hot.statuses.items())) or "none")
            + ".",
            "The load generator (one Python process, a lean asyncio HTTP/1.1 client, "
            "benchmarks/http_load.py) runs on the same machine as the app and PostgreSQL and "
            "competes with them for the cores; pgbench is C and light.",
            f"pgbench: `{bench['command']}`; the script is one INSERT into a scratch table.",
            "Plans of every statement one submit runs (triggers included): "
            "benchmarks/plans/submit.txt; PostgreSQL's time per answer by function: the "
            'section "Where PostgreSQL\'s time goes in one answer" '
            "(benchmarks/submit_profile.py).",
            f"Throughput × p50 ≈ the number of clients: requests queue, and complete one every "
            f"{service_ms:.1f} ms between the app processes. {cores} cores give "
            f"{cores * 1e6:,.0f} µs of CPU a second, and one answer costs {per_answer:,.0f} µs "
            f"of it in all (app + PostgreSQL + load generator), a ceiling of about "
            f"{ceiling:,.0f} answers/s on this machine; the answers kept {busy:.2f} of the "
            f"{cores} cores busy"
            + (
                " (the cores are the limit). "
                if busy >= 0.9 * cores
                else ", so the rest of the time was waiting, not computing (the WAL's flushes "
                'at 10^7 answers: the section "Group commit and time-ordered answer ids"). '
            )
            + f"{TARGET_OF_FLOOR:.0%} of the FastAPI floor's rate would need at most "
            f"{budget:,.0f} µs per answer in all, while one pgbench "
            f"INSERT costs PostgreSQL {pgbench_cpu['db']:.0f} µs. An answer is an HTTP request "
            "(FastAPI, validation, the token, JSON) and a transaction that stores it, moves "
            "its task's consensus row and dashboard counters, writes its quality row and "
            "updates the annotator's counters and reputation, with the idempotency key, all "
            "before it is acknowledged.",
            f"The floor: FastAPI + Pydantic under uvicorn ({workers} worker processes, as the "
            "app) serving only pgbench's INSERT (benchmarks/floor_app.py, no token, no task, no "
            "consensus), measured in this run after pgbench against the same database, with the "
            f"same clients and load generator; CPU µs per request: {floor['cpu']['app']:.0f} "
            f"service / {floor['cpu']['db']:.0f} PostgreSQL; rows written / acknowledged: "
            f"{floor['rows_written']:,} / {floor['acknowledged']:,}. Other services (plain ASGI, "
            'group commit): the section "The floor under sustained submit" '
            "(benchmarks/submit_floor.py).",
        ],
        extra={
            "ours_tps": ours,
            "hot_tps": hot_tps,
            "hot_p99_ms": hot_p["p99"],
            "hot_errors": hot_errors,
            "pgbench_tps": bench["tps"],
            "ratio": ratio,
            "floor": {k: floor[k] for k in ("per_second", "latency", "cpu", "errors")},
            "floor_rows_written": floor["rows_written"],
            "floor_acknowledged": floor["acknowledged"],
            "of_floor": of_floor,
            "p99_ms": p["p99"],
            "errors": errors,
            "cpu_us_per_submit": ours_cpu,
            "wal_per_submit": wal,
            "cpu_us_per_pgbench_insert": pgbench_cpu,
        },
    )
