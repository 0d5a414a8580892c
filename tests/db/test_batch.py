"""Batch recompute over the database: stored beside the real-time results, and consistent."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from whstudio.domain import batch


async def test_batch_methods_store_results_and_majority_agrees_with_realtime(db_url):
    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        users = []
        for i in range(5):
            cur = await conn.execute(
                "INSERT INTO users (username) VALUES (%s) RETURNING id", [f"u{i}"]
            )
            users.append((await cur.fetchone())["id"])
        for t in range(20):
            cur = await conn.execute(
                "INSERT INTO questions (question_type, content) VALUES ('pairwise_ab', %s)"
                " RETURNING id",
                [Jsonb({"prompt": f"p{t}", "optionA": "a", "optionB": "b"})],
            )
            qid = (await cur.fetchone())["id"]
            cur = await conn.execute(
                "INSERT INTO tasks (question_id, title, allow_tie) VALUES (%s, 't', true)"
                " RETURNING id",
                [qid],
            )
            tid = (await cur.fetchone())["id"]
            for u, user in enumerate(users[: 2 + t % 4]):
                choice = "A" if (t + u) % 3 else ("B" if t % 2 else "tie")
                await conn.execute(
                    "INSERT INTO submissions (task_id, user_id, chosen_response) VALUES"
                    " (%s, %s, %s)",
                    [tid, user, choice],
                )
        run = await batch.recompute(conn)
        assert run.tasks == 20 and run.workers == 5
        assert run.disagreement["realtime vs majority"] == 0.0
        cur = await conn.execute(
            "SELECT method, count(*) AS n FROM consensus_batch_results GROUP BY 1 ORDER BY 1"
        )
        assert {r["method"]: r["n"] for r in await cur.fetchall()} == {
            "dawid_skene": 20,
            "majority": 20,
            "weighted": 20,
        }
        again = await batch.recompute(conn, ("majority",))
        cur = await conn.execute(
            "SELECT count(DISTINCT run_id) AS runs FROM consensus_batch_results"
            " WHERE method = 'majority'"
        )
        assert (await cur.fetchone())["runs"] == 1 and again.run_id != run.run_id
