"""`GET /api/consensus/{id}` for a task with 10 answers and one with many (10,000 at full and
small scale): the stored row is read, never recounted, so both should cost the same."""

from __future__ import annotations

from typing import Any

from benchmarks import http_load
from benchmarks.common import (
    Context,
    ExplainingConnection,
    connect,
    fmt_ms,
    percentiles,
    result,
    write_plan,
)

TARGET_MS = 5.0


async def run(ctx: Context) -> dict[str, Any]:
    from uuid import UUID

    from whstudio.domain import consensus as consensus_domain

    special = ctx.meta["special"]
    rows = []
    worst = 0.0
    ok = True
    async with http_load.client(ctx.base_url) as http:
        for key in ("task_10", "task_big"):
            task_id = special[key]
            lat, statuses, body = await http_load.sample(
                http,
                f"/api/consensus/{task_id}",
                token=ctx.admin_token,
                count=ctx.scale.consensus_requests,
                warmup=10,
            )
            p = percentiles(lat)
            worst = max(worst, p["p95"])
            bad = sum(n for code, n in statuses.items() if code != 200)
            ok = ok and bad == 0
            total = body.get("total_responses") if isinstance(body, dict) else None
            rows.append([key, total, fmt_ms(p["p50"]), fmt_ms(p["p95"]), fmt_ms(p["p99"]), bad])
            conn = await connect(ctx.url)
            try:
                recorder = ExplainingConnection(conn)
                await consensus_domain.read(recorder, UUID(task_id))
                write_plan(ctx, f"consensus_read__{key}", recorder.plans)
            finally:
                await conn.close()
    return result(
        "consensus_read",
        "GET /api/consensus/{id}",
        target=f"p95 < {TARGET_MS:.0f} ms",
        columns=["task", "answers", "p50 ms", "p95 ms", "p99 ms", "non-200"],
        rows=rows,
        passed=ok and worst < TARGET_MS,
        notes=[
            f"{ctx.scale.consensus_requests} sequential requests each (after 10 warm-up ones), "
            "admin token, over HTTP. Plans: benchmarks/plans/consensus_read__*.txt.",
        ],
        extra={"worst_p95_ms": worst},
    )
