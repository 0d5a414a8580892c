"""Import into a real database: one question and task per distinct pair, idempotent."""

from __future__ import annotations

from whstudio.domain import importing


async def _import(conn, text, name, keep_identical=False, **kw):
    parsed = importing.parse_text(text, name, keep_identical=keep_identical)
    return await importing.import_pairs(
        conn, parsed, source=name, dataset=kw.pop("dataset", "ds"), **kw
    )


async def _count(conn, table):
    cur = await conn.execute(f"SELECT count(*) AS n FROM {table}")
    return (await cur.fetchone())["n"]


async def test_mtbench_import_creates_115_tasks_once(conn):
    text = importing.sample_path().read_text()
    left_out = await _import(conn, text, "mtbench_sample.json", dataset="left_out")
    assert (left_out.tasks_created, len(left_out.skipped)) == (112, 3)  # same text both sides
    await conn.execute("DELETE FROM tasks; DELETE FROM questions")
    report = await _import(
        conn, text, "mtbench_sample.json", dataset="mt_bench_human_judgments", keep_identical=True
    )
    assert (report.questions_created, report.tasks_created, report.failed) == (115, 115, [])
    assert any("different verdicts" in note for note in report.notes)
    again = await _import(
        conn, text, "mtbench_sample.json", dataset="mt_bench_human_judgments", keep_identical=True
    )
    assert (again.questions_created, again.tasks_created) == (0, 0)
    assert (again.questions_existing, again.tasks_existing) == (115, 115)
    assert await _count(conn, "questions") == 115
    assert await _count(conn, "tasks") == 115
    assert await _count(conn, "response_consensus") == 115
    cur = await conn.execute(
        "SELECT gold_standard, count(*) AS n FROM questions GROUP BY 1 ORDER BY 1 NULLS FIRST"
    )
    golds = {r["gold_standard"]: r["n"] for r in await cur.fetchall()}
    # 45 A, 37 B, 38 ties in 120 rows; repeats fold into one question; question 108 loses its gold.
    assert golds[None] == 1 and sum(golds.values()) == 115
    cur = await conn.execute(
        "SELECT t.title, t.allow_tie, q.source_ref FROM tasks t JOIN questions q ON q.id ="
        " t.question_id WHERE q.gold_standard IS NULL"
    )
    row = await cur.fetchone()
    assert row == {"title": "A/B Preference – MTBench #108", "allow_tie": True, "source_ref": "108"}


async def test_good_lines_import_and_bad_ones_are_reported(conn):
    text = "\n".join(
        [
            '{"prompt": "p1", "optionA": "a", "optionB": "b", "gold": "B",'
            ' "model_a": "x", "model_b": "y"}',
            '{"prompt": "p2"',
            '{"prompt": "p3", "optionA": "a", "optionB": "b"}',
        ]
    )
    report = await _import(conn, text, "items.jsonl")
    assert report.tasks_created == 2
    assert [(f.line, "not valid JSON" in f.reason) for f in report.failed] == [(2, True)]
    cur = await conn.execute(
        "SELECT gold_standard, metadata FROM questions WHERE content->>'prompt' = 'p1'"
    )
    assert await cur.fetchone() == {
        "gold_standard": "B",
        "metadata": {"model_a": "x", "model_b": "y"},
    }


async def test_a_tie_gold_is_dropped_when_tasks_disallow_ties(conn):
    report = await _import(conn, "prompt,optionA,optionB,gold\np,a,b,tie\n", "t.csv")
    assert report.tasks_created == 1 and any("tie" in n for n in report.notes)
    cur = await conn.execute("SELECT gold_standard FROM questions")
    assert (await cur.fetchone())["gold_standard"] is None


async def test_bulk_steps_analyse_the_tables_they_grew(db_url):
    """A server whose autovacuum is off or behind would plan with the statistics taken before a
    load: task creation and item import analyse what they grew past autovacuum's own rule."""
    import psycopg as pg
    from psycopg.rows import dict_row as rows_as_dicts

    from whstudio.domain import tasks as tasks_domain

    def item(i: int) -> dict:
        return {
            "question_type": "pairwise_ab",
            "content": {"prompt": f"grown {i}", "optionA": "a", "optionB": "b"},
        }

    async def reltuples(conn) -> dict[str, float]:
        cur = await conn.execute(
            "SELECT relname, reltuples FROM pg_class"
            " WHERE relname IN ('tasks', 'questions') AND relnamespace = 'public'::regnamespace"
        )
        return {r["relname"]: r["reltuples"] for r in await cur.fetchall()}

    async with await pg.AsyncConnection.connect(db_url, row_factory=rows_as_dicts) as conn:
        async with conn.transaction():
            await tasks_domain.create_many(conn, [item(i) for i in range(2000)], creator_id=None)
        assert await reltuples(conn) == {"tasks": 2000, "questions": 2000}
        async with conn.transaction():  # 20 more: well under 10% of the table
            await tasks_domain.create_many(
                conn, [item(i) for i in range(2000, 2020)], creator_id=None
            )
        assert await reltuples(conn) == {"tasks": 2000, "questions": 2000}
        async with conn.transaction():  # 300 more, with the 20: past 50 + 10%
            await tasks_domain.create_many(
                conn, [item(i) for i in range(2020, 2320)], creator_id=None
            )
        assert await reltuples(conn) == {"tasks": 2320, "questions": 2320}
