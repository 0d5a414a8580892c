"""The application's read path follows the flag, and both paths read the same questions."""

from __future__ import annotations

import psycopg

from whstudio.legacy import readpath, steps
from whstudio.legacy.verify import verify


async def _questions(url: str, ids) -> tuple[str, list]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        path = await readpath.read_path(conn)
        return path, [await readpath.task_question(conn, i) for i in ids]


async def test_both_read_paths_give_the_same_question_and_the_flag_picks_one(
    db_url, legacy_url, reference_url
):
    assert (await _questions(db_url, []))[0] == "new"  # a fresh install
    steps.expand(legacy_url, reference_url=reference_url)
    steps.backfill(legacy_url)
    assert verify(legacy_url).ok
    with psycopg.connect(legacy_url) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM tasks WHERE question_id IS NOT NULL ORDER BY id LIMIT 40"
            )
        ]
    old_path, old = await _questions(legacy_url, ids)
    steps.switch(legacy_url, "new")
    new_path, new = await _questions(legacy_url, ids)
    assert (old_path, new_path) == ("old", "new")
    # same type and content; a task that names no gold may read its question's gold on the new path
    assert [(q["question_type"], q["content"]) for q in old] == [
        (q["question_type"], q["content"]) for q in new
    ]
    assert all(
        o["gold_standard"] in (None, n["gold_standard"]) for o, n in zip(old, new, strict=True)
    )
    steps.switch(legacy_url, "old")
    assert (await _questions(legacy_url, ids[:1]))[0] == "old"
