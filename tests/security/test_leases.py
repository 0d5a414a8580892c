"""Issue 16, item 15: one annotator could hold leases on many tasks at once (one per `dataset=`
value) and renew them forever, so those tasks waited for answers that never came. Leases are now
limited per annotator (WHSTUDIO_LEASES_PER_USER) and in life (WHSTUDIO_LEASE_MAX_SECONDS). Both
tests failed on the code before (five leases held; the same task handed back after its life)."""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.rows import dict_row

from tests.web.conftest import env, settings  # noqa: F401  (fixtures)
from whstudio.domain import distribution
from whstudio.domain import tasks as tasks_domain


async def _tasks(url: str, per_dataset: dict[str, int]) -> dict[str, list]:
    made: dict[str, list] = {}
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        async with conn.transaction():
            for dataset, n in per_dataset.items():
                created = await tasks_domain.create_many(
                    conn,
                    [
                        {
                            "question_type": "pairwise_ab",
                            "content": {
                                "prompt": f"{dataset} {i}?",
                                "optionA": "a",
                                "optionB": "b",
                            },
                            "source_dataset": dataset,
                        }
                        for i in range(n)
                    ],
                    creator_id=None,
                )
                made[dataset] = [c["task_id"] for c in created]
    return made


async def _live_leases(url: str, username: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM task_leases l JOIN users u ON u.id = l.user_id"
            " WHERE u.username = %s AND l.expires_at > CURRENT_TIMESTAMP",
            (username,),
        )
        return (await cur.fetchone())[0]


async def test_an_annotator_holds_at_most_its_share_of_leases(env):  # noqa: F811
    await _tasks(env.url, {f"set-{i}": 1 for i in range(5)})
    token = await env.token_for("hoarder")
    async with env.client_with(token) as client:
        for i in range(5):
            got = await client.get("/api/tasks/next", params={"dataset": f"set-{i}"})
            assert got.status_code == 200, got.text
    assert await _live_leases(env.url, "hoarder") == 2  # WHSTUDIO_LEASES_PER_USER
    # the tasks whose leases ended are free for others at once
    other = await env.token_for("other")
    async with env.client_with(other) as client:
        for i in range(3):
            got = await client.get("/api/tasks/next", params={"dataset": f"set-{i}"})
            assert got.status_code == 200, (i, got.text)


async def test_a_lease_is_not_renewed_past_its_life(env):  # noqa: F811
    made = await _tasks(env.url, {"only": 2})
    hog = await env.make_user("hog")
    fair = await env.make_user("fair")

    async def ask(user) -> tuple:
        async with await psycopg.AsyncConnection.connect(env.url, row_factory=dict_row) as conn:
            async with conn.transaction():
                lease = await distribution.next_task(
                    conn, user["id"], lease_seconds=60, gold_rate=0.0, lease_max_seconds=1
                )
        return (lease.task_id, lease.expires_at) if lease else (None, None)

    first, until = await ask(hog)
    again, renewed = await ask(hog)
    assert again == first and renewed <= until  # renewed, but not past its life
    await asyncio.sleep(1.2)
    later, _ = await ask(hog)
    assert later is not None and later != first, "a lease that lived its life is not handed back"
    assert set(made["only"]) == {first, later}
    # the first task goes to someone else
    given, _ = await ask(fair)
    assert given == first
