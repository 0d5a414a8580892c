"""The plan's question: question content as JSONB (the new schema) against the legacy TEXT column
parsed at query time, on the same data (a scratch copy of every question's content as TEXT)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from benchmarks.common import Context, connect, explain, result, write_plan

SCRATCH = "bench_legacy_questions"

# (case, JSONB query, TEXT query parsed as JSON, TEXT query without parsing or None)
QUERIES: list[tuple[str, str, str, str | None]] = [
    (
        "prompt LIKE '%quantum%' (count)",
        "SELECT count(*) FROM questions WHERE content ->> 'prompt' LIKE '%%quantum%%'",
        f"SELECT count(*) FROM {SCRATCH} WHERE instructions::jsonb ->> 'prompt' LIKE '%%quantum%%'",
        f"SELECT count(*) FROM {SCRATCH} WHERE instructions LIKE '%%quantum%%'",
    ),
    (
        "key lookup, one question by id",
        "SELECT content ->> 'optionA' FROM questions WHERE id = %(id)s",
        f"SELECT instructions::jsonb ->> 'optionA' FROM {SCRATCH} WHERE id = %(id)s",
        None,
    ),
    (
        "extract a key from every row (sum of lengths)",
        "SELECT sum(length(content ->> 'optionA')) FROM questions",
        f"SELECT sum(length(instructions::jsonb ->> 'optionA')) FROM {SCRATCH}",
        None,
    ),
    (
        "rows having a key (content ? 'optionB')",
        "SELECT count(*) FROM questions WHERE content ? 'optionB'",
        f"SELECT count(*) FROM {SCRATCH} WHERE instructions::jsonb ? 'optionB'",
        f"SELECT count(*) FROM {SCRATCH} WHERE instructions LIKE '%%\"optionB\"%%'",
    ),
]


async def _time(conn, query: str, params: dict[str, Any], repeats: int) -> float:
    await conn.execute(query, params)  # warm
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        await conn.execute(query, params)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples) * 1000.0


async def run(ctx: Context) -> dict[str, Any]:
    conn = await connect(ctx.url)
    rows = []
    sections = []
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        await conn.execute(
            f"CREATE TABLE {SCRATCH} AS SELECT id, content::text AS instructions FROM questions"
        )
        await conn.execute(f"ALTER TABLE {SCRATCH} ADD PRIMARY KEY (id)")
        await conn.execute(f"VACUUM ANALYZE {SCRATCH}")
        sizes = await (
            await conn.execute(
                f"SELECT pg_size_pretty(pg_table_size('questions')) AS jsonb,"
                f" pg_size_pretty(pg_table_size('{SCRATCH}')) AS text,"
                f" (SELECT count(*) FROM {SCRATCH}) AS n"
            )
        ).fetchone()
        some = await (await conn.execute("SELECT id FROM questions LIMIT 1")).fetchone()
        params = {"id": some["id"]}
        repeats = ctx.scale.jsonb_repeats if ctx.scale.name != "full" else 3
        for case, as_jsonb, as_text, raw in QUERIES:
            one = case.startswith("key lookup")
            n = repeats * 50 if one else repeats
            j = await _time(conn, as_jsonb, params, n)
            t = await _time(conn, as_text, params, n)
            r = await _time(conn, raw, params, n) if raw else None
            rows.append(
                [
                    case,
                    f"{j:.2f}",
                    f"{t:.2f}",
                    f"{t / j:.1f}×" if j else "",
                    f"{r:.2f}" if r is not None else "–",
                ]
            )
            sections.append((as_jsonb, await explain(conn, as_jsonb, params)))
            sections.append((as_text, await explain(conn, as_text, params)))
            if raw:
                sections.append((raw, await explain(conn, raw, params)))
        write_plan(ctx, "jsonb_vs_text", sections)
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        await conn.close()
    return result(
        "jsonb_vs_text",
        "Question content: JSONB vs legacy TEXT parsed per query",
        target="(comparison; no target)",
        columns=["query", "JSONB ms", "TEXT::jsonb ms", "TEXT / JSONB", "TEXT, no parse ms"],
        rows=rows,
        passed=None,
        notes=[
            f"{sizes['n']:,} questions; table size with JSONB {sizes['jsonb']}, the TEXT copy "
            f"{sizes['text']} (the questions table also holds the other columns). Median of "
            "repeated runs, warm cache, no index on content in either. Plans: "
            "benchmarks/plans/jsonb_vs_text.txt.",
            "'TEXT, no parse' is a plain substring match on the raw text: faster, but it also "
            "matches the word inside other keys and cannot tell keys from values.",
        ],
    )
