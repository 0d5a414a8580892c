"""`GET /api/tasks/next` under 32 concurrent annotators, each answering what it got, in a loop;
afterwards, how many tasks received more answers than their threshold."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from benchmarks import http_load
from benchmarks.common import (
    Context,
    auto_explain,
    connect,
    fmt_ms,
    make_users_with_tokens,
    percentiles,
    result,
    write_plan,
)

TARGET_MS = 20.0
PACE_S = 1.0

_OVER = """
SELECT c.task_id FROM response_consensus c JOIN tasks t ON t.id = c.task_id
 WHERE c.total_responses > t.consensus_threshold AND NOT c.has_gold
"""


async def _over_threshold(conn) -> set[str]:
    return {str(r["task_id"]) for r in await (await conn.execute(_OVER)).fetchall()}


async def run(ctx: Context) -> dict[str, Any]:
    scale = ctx.scale
    clients = scale.clients
    conn = await connect(ctx.url)
    try:
        users = await make_users_with_tokens(conn, f"bench-next-{time.time_ns():x}"[-20:], clients)
        before = await _over_threshold(conn)
    finally:
        await conn.close()

    rng = random.Random(11)
    answered: dict[str, int] = {}
    exhausted = 0

    async with http_load.client(ctx.base_url, connections=clients) as http:

        async def cycle(worker: int, stats: http_load.LoadStats) -> bool:
            """One annotator's turn: next, then answer what it gave."""
            nonlocal exhausted
            headers = http_load.bearer(users[worker][1])
            began = time.perf_counter()
            got = await http.get("/api/tasks/next", headers=headers)
            stats.add("next", time.perf_counter() - began, got.status_code)
            if got.status_code == 204:
                exhausted += 1
                return False
            if got.status_code != 200:
                return True
            view = got.json()
            body = {
                "chosen_response": rng.choice("AB"),
                "confidence": rng.randint(1, 5),
                "time_spent_seconds": rng.randint(5, 300),
            }
            began = time.perf_counter()
            sent = await http.post(f"/api/tasks/{view['id']}/submit", json=body, headers=headers)
            stats.add("submit", time.perf_counter() - began, sent.status_code)
            if sent.status_code == 201:
                answered[view["id"]] = answered.get(view["id"], 0) + 1
            return True

        # Paced: each annotator takes a task every PACE_S seconds (a person reading two
        # answers needs far longer), starting at random offsets.
        offsets = [rng.uniform(0, PACE_S) for _ in range(clients)]
        turn = [0] * clients
        paced_began = time.perf_counter()

        async def paced(worker: int, stats: http_load.LoadStats) -> bool:
            due = paced_began + offsets[worker] + turn[worker] * PACE_S
            turn[worker] += 1
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            return await cycle(worker, stats)

        paced_stats = await http_load.closed_loop(clients, scale.next_seconds, paced)
        # Saturation: the same annotators with no pause at all.
        stats = await http_load.closed_loop(clients, scale.next_seconds, cycle)

    conn = await connect(ctx.url)
    try:
        after = await _over_threshold(conn)
        cur = await conn.execute(
            "SELECT count(*) AS n FROM response_consensus"
            " WHERE has_gold AND task_id = ANY(%s::uuid[])",
            [list(answered)],
        )
        gold_seen = (await cur.fetchone())["n"]
        plan_user = users[0][0]
        sections = []
        # next_task_v2 runs its queries inside PL/pgSQL: auto_explain shows them, nested.
        async with auto_explain(conn) as notices:
            if notices is None:
                sections.append(("-- next_task_v2", "(auto_explain cannot be loaded here)"))
            else:
                async with conn.transaction(force_rollback=True):
                    await conn.execute(
                        "SELECT * FROM next_task_v2(%s, 120, 1.0, 0.0, NULL)", [plan_user]
                    )
                sections.append(
                    ("-- every statement of one next (auto_explain)", "\n\n".join(notices))
                )
        write_plan(ctx, "next_task", sections)
    finally:
        await conn.close()

    overshoot = len(after - before)
    p = percentiles(paced_stats.latencies.get("next", []))
    ps = percentiles(paced_stats.latencies.get("submit", []))
    q = percentiles(stats.latencies.get("next", []))
    qs = percentiles(stats.latencies.get("submit", []))
    bad = 0
    for run_stats in (paced_stats, stats):
        bad += sum(
            n for k, n in run_stats.statuses.items() if not k.endswith((" 200", " 201", " 204"))
        )
        bad += sum(run_stats.errors.values())

    def rate(run_stats: http_load.LoadStats) -> str:
        n = len(run_stats.latencies.get("next", []))
        return f"{n / run_stats.seconds:.0f}" if run_stats.seconds else ""

    statuses = ", ".join(
        f"{k}: {n}" for k, n in sorted((paced_stats.statuses + stats.statuses).items())
    )
    kinds = dict(paced_stats.errors + stats.errors) or "none"
    return result(
        "next_task",
        "GET /api/tasks/next under 32 concurrent annotators",
        target=f"p95 < {TARGET_MS:.0f} ms (paced annotators); no task over its threshold",
        columns=["request", "count", "per second", "p50 ms", "p95 ms", "p99 ms"],
        rows=[
            [
                f"GET /api/tasks/next, paced (one task per annotator every {PACE_S:.0f} s)",
                p["n"],
                rate(paced_stats),
                fmt_ms(p["p50"]),
                fmt_ms(p["p95"]),
                fmt_ms(p["p99"]),
            ],
            [
                "POST submit (what next gave), paced",
                ps["n"],
                "",
                fmt_ms(ps["p50"]),
                fmt_ms(ps["p95"]),
                fmt_ms(ps["p99"]),
            ],
            [
                "GET /api/tasks/next, saturated (no pause)",
                q["n"],
                rate(stats),
                fmt_ms(q["p50"]),
                fmt_ms(q["p95"]),
                fmt_ms(q["p99"]),
            ],
            [
                "POST submit (what next gave), saturated",
                qs["n"],
                "",
                fmt_ms(qs["p50"]),
                fmt_ms(qs["p95"]),
                fmt_ms(qs["p99"]),
            ],
            ["tasks answered / over threshold", len(answered), "", "", "", overshoot],
        ],
        passed=p["p95"] < TARGET_MS and overshoot == 0 and bad == 0,
        notes=[
            f"{clients} fresh annotators, each looping next → submit: first paced for "
            f"{scale.next_seconds:.0f} s (each takes a task every {PACE_S:.0f} s, at random "
            f"offsets: {clients / PACE_S:.0f} next and {clients / PACE_S:.0f} submits a second "
            "in all, still far faster than people answer), then saturated for "
            f"{scale.next_seconds:.0f} s (no pause: a closed loop where every client waits "
            "only for the server, so latency there is queueing: clients ÷ throughput). The "
            f"target is judged on the paced run; statuses: {statuses}; errors: {bad} "
            f"(client-side, no HTTP answer, by kind: {kinds}).",
            "Over threshold counts non-gold tasks whose total answers exceed their "
            f"consensus_threshold afterwards and did not before, over both runs: {overshoot}. "
            f"Gold tasks are put to every annotator by design ({gold_seen} gold tasks answered) "
            "and are not counted.",
            f"Annotators that found nothing left: {exhausted}. "
            "Plans of the statements inside next_task_v2: benchmarks/plans/next_task.txt.",
        ],
        extra={"p95_ms": p["p95"], "overshoot": overshoot},
    )
