"""`SELECT consensus_recompute_v1(id)` for the task with the most answers: the from-scratch count
that repairs and rule changes rely on."""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import (
    Context,
    auto_explain,
    connect,
    explain,
    fmt_ms,
    percentiles,
    result,
    write_plan,
)

TARGET_MS = 50.0

# The statement consensus_recompute_v1 runs for pairwise counts, for its plan.
_INNER = """
SELECT count(*), count(*) FILTER (WHERE chosen_response = 'A'),
       count(*) FILTER (WHERE chosen_response = 'B'),
       count(*) FILTER (WHERE chosen_response = 'tie'),
       coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'A'), 0),
       coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'B'), 0),
       coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'tie'), 0),
       coalesce(sum(confidence), 0), count(confidence),
       coalesce(sum(confidence) FILTER (WHERE chosen_response = 'A'), 0),
       coalesce(sum(confidence) FILTER (WHERE chosen_response = 'B'), 0),
       coalesce(sum(confidence) FILTER (WHERE chosen_response = 'tie'), 0),
       coalesce(sum(time_spent_seconds), 0), count(time_spent_seconds)
  FROM submissions
 WHERE task_id = %(task_id)s AND is_latest
"""


async def _nested_plans(conn, task_id: str) -> str | None:
    """The plans of the statements inside the function, through auto_explain, if loadable."""
    async with auto_explain(conn) as notices:
        if notices is None:
            return None
        await conn.execute("SELECT consensus_recompute_v1(%s)", [task_id])
    return "\n\n".join(notices) or None


async def run(ctx: Context) -> dict[str, Any]:
    task_id = ctx.meta["special"]["task_big"]
    conn = await connect(ctx.url)
    try:
        total = (
            await (
                await conn.execute(
                    "SELECT total_responses FROM response_consensus WHERE task_id = %s", [task_id]
                )
            ).fetchone()
        )["total_responses"]
        for _ in range(3):
            await conn.execute("SELECT consensus_recompute_v1(%s)", [task_id])
        samples = []
        for _ in range(ctx.scale.recompute_runs):
            began = time.perf_counter()
            await conn.execute("SELECT consensus_recompute_v1(%s)", [task_id])
            samples.append(time.perf_counter() - began)
        p = percentiles(samples)
        sections = [
            (
                "SELECT consensus_recompute_v1(%(task_id)s)",
                await explain(
                    conn, "SELECT consensus_recompute_v1(%(task_id)s)", {"task_id": task_id}
                ),
            ),
            (_INNER, await explain(conn, _INNER, {"task_id": task_id})),
        ]
        nested = await _nested_plans(conn, task_id)
        if nested:
            sections.append(("-- auto_explain of the statements inside the function", nested))
        write_plan(ctx, "recompute_one", sections)
    finally:
        await conn.close()
    return result(
        "recompute_one",
        "Recompute one task from scratch (consensus_recompute_v1)",
        target=f"< {TARGET_MS:.0f} ms",
        columns=["answers", "runs", "p50 ms", "p95 ms", "max ms"],
        rows=[[total, p["n"], fmt_ms(p["p50"]), fmt_ms(p["p95"]), fmt_ms(p["max"])]],
        passed=p["p95"] < TARGET_MS,
        notes=[
            "Timed from a client on the same machine (one round trip included), warm cache. "
            "Plan: benchmarks/plans/recompute_one.txt."
        ],
        extra={"p95_ms": p["p95"]},
    )
