"""The application's read path follows the flag, and both paths read the same questions."""

from __future__ import annotations

import psycopg

from whstudio.db import readpath
from whstudio.legacy import steps
from whstudio.legacy.verify import verify


async def _questions(url: str, ids) -> tuple[str, list]:
    readpath.forget()
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


async def test_task_detail_api_reads_the_question_through_the_flag(
    legacy_url, reference_url, tmp_path
):
    import httpx

    from whstudio.legacy.users import let_in
    from whstudio.settings import Settings
    from whstudio.web.app import create_app

    steps.expand(legacy_url, reference_url=reference_url)
    steps.backfill(legacy_url)
    assert verify(legacy_url).ok
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        task_id, user_id = conn.execute(
            "SELECT t.id, t.creator_id FROM tasks t JOIN questions q ON q.id = t.question_id"
            " WHERE q.question_type = 'pairwise_ab' ORDER BY t.id LIMIT 1"
        ).fetchone()
        # The two structures made to differ on purpose (no trigger sees this write), so that
        # the answer shows which one was read.
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE tasks SET instructions = (instructions::jsonb"
            ' || \'{"prompt": "read from the legacy column"}\')::text WHERE id = %s',
            (task_id,),
        )
    token = let_in(legacy_url, str(user_id), username="legacy.reader", token_name="t")["token"]
    app = create_app(Settings(home=tmp_path, secret_key="test-secret-key-0123456789"), legacy_url)

    async def prompt() -> str:
        readpath.forget()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            r = await client.get(f"/api/tasks/{task_id}")
            assert r.status_code == 200, r.text
            return r.json()["content"]["prompt"]

    async with app.router.lifespan_context(app):
        await app.state.pool.wait()
        assert await prompt() == "read from the legacy column"  # old path
        steps.switch(legacy_url, "new")
        new_prompt = await prompt()
        assert new_prompt != "read from the legacy column"
        steps.switch(legacy_url, "old")
        assert await prompt() == "read from the legacy column"


async def test_the_flag_is_cached_for_at_most_a_second(db_url, legacy_url, reference_url):
    steps.expand(legacy_url, reference_url=reference_url)
    readpath.forget()
    async with await psycopg.AsyncConnection.connect(legacy_url) as conn:
        assert await readpath.read_path(conn) == "old"
        with psycopg.connect(legacy_url, autocommit=True) as c:
            c.execute("UPDATE whs_legacy.state SET read_path = 'new'")  # as switch would
        assert await readpath.read_path(conn) == "old"  # cached
        assert await readpath.read_path(conn, max_age=0) == "new"
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        assert await readpath.read_path(conn) == "new"  # never a legacy database
