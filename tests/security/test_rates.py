"""Issue 16, items 2 and 15: there was no request rate limit anywhere. Requests per client address
and per account are limited (429 with Retry-After), and an account may have only so many
requests holding a database connection at once. The tests failed on the code before (no 429)."""

from __future__ import annotations

import asyncio

import httpx

from tests.web.conftest import env, settings  # noqa: F401  (fixtures)
from whstudio.web.limits import Buckets


def test_a_bucket_admits_its_burst_then_its_rate():
    bucket = Buckets(rate=2, burst=3)
    assert [bucket.take("k", now=10.0) for _ in range(3)] == [0, 0, 0]
    assert bucket.take("k", now=10.0) == 0.5  # the next token is due in half a second
    assert bucket.take("other", now=10.0) == 0  # keys are apart
    assert bucket.take("k", now=10.5) == 0
    assert bucket.take("k", now=10.5) > 0
    assert Buckets(rate=0, burst=1).take("k") == 0  # 0: no limit


def test_a_flood_of_keys_is_forgotten_once_refilled():
    bucket = Buckets(rate=10, burst=1)
    bucket.MAX_KEYS, bucket.SWEEP_EVERY = 100, 50
    for i in range(500):
        bucket.take(i, now=float(i))  # each key refills within 0.1 s
    assert len(bucket._level) <= 100 + 50


async def test_requests_from_one_address_past_its_rate_get_429(env):  # noqa: F811
    limits = env.app.state.limits
    limits.ip = Buckets(rate=1, burst=5)
    transport = httpx.ASGITransport(app=env.app, client=("198.51.100.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        codes = [(await client.get("/api/tasks")).status_code for _ in range(5)]
        assert codes == [401] * 5  # counted, and answered as usual
        refused = await client.get("/api/tasks")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"] == "too_many_requests"
        page = await client.get("/tasks", headers={"accept": "text/html"})
        assert page.status_code == 429 and "too many requests" in page.text
        assert (await client.get("/healthz")).status_code == 200  # probes are not counted
    # another address is not held by it
    assert (await env.client.get("/api/tasks")).status_code == 401


async def test_an_account_past_its_rate_gets_429_whatever_its_tokens(env):  # noqa: F811
    limits = env.app.state.limits
    limits.user = Buckets(rate=1, burst=4)
    token = await env.token_for("busy")
    async with env.client_with(token) as client:
        codes = [(await client.get("/api/me")).status_code for _ in range(4)]
        assert codes == [200] * 4
        refused = await client.get("/api/me")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert "this account" in refused.json()["message"]
    # a second token of the same account shares its count
    async with env.client_with(await _second_token(env, "busy")) as client:
        assert (await client.get("/api/me")).status_code == 429
    # another account is not held by it
    async with env.client_with(await env.token_for("calm")) as client:
        assert (await client.get("/api/me")).status_code == 200


async def _second_token(env, username: str) -> str:  # noqa: F811
    import psycopg
    from psycopg.rows import dict_row

    from whstudio.domain import users

    async with await psycopg.AsyncConnection.connect(env.url, row_factory=dict_row) as conn:
        async with conn.transaction():
            row = await users.get_user(conn, username)
            return (await users.create_token(conn, row["id"], "second"))["token"]


async def test_an_account_holds_at_most_its_share_of_connections(env):  # noqa: F811
    """Six answers at once from one account while the task's consensus row is locked: four
    wait holding a connection each, the other two are refused at once (429), and the pool keeps
    its other connections for everyone else."""
    import psycopg

    from tests.web.test_pages import make_task

    limits = env.app.state.limits
    assert limits.user_concurrency == 4  # the default
    task = (await make_task(env))["task_id"]
    user = await env.make_user("hog")
    token = await _second_token(env, "hog")
    answer = {"chosen_response": "A", "confidence": 3, "time_spent_seconds": 3}
    async with await psycopg.AsyncConnection.connect(env.url) as blocker:
        await blocker.execute(
            "SELECT 1 FROM response_consensus WHERE task_id = %s FOR UPDATE", (task,)
        )
        async with env.client_with(token) as client:
            sent = [
                asyncio.create_task(client.post(f"/api/tasks/{task}/submit", json=answer))
                for _ in range(6)
            ]
            for _ in range(200):
                await asyncio.sleep(0.02)
                if sum(t.done() for t in sent) == 2:
                    break
            assert limits.in_flight(user["id"]) == 4
            refused = [t.result() for t in sent if t.done()]
            assert [r.status_code for r in refused] == [429, 429]
            assert refused[0].headers["retry-after"] == "1"
            assert "requests in progress" in refused[0].json()["message"]
            # someone else is served meanwhile
            async with env.client_with(await env.token_for("other")) as other:
                assert (await other.get("/api/me")).status_code == 200
            await blocker.rollback()  # the row is free: the four go through
            done = await asyncio.gather(*sent)
    assert sorted(r.status_code for r in done) == [201, 201, 201, 201, 429, 429]  # 3 revisions
    assert limits.in_flight(user["id"]) == 0


async def test_the_body_size_and_bootstrap_rounds_are_settings(db_url, tmp_path):
    """Issue 16: body sizes and bootstrap rounds are limits the operator sets."""
    from whstudio.settings import Settings
    from whstudio.web.app import create_app

    limited = Settings(
        home=tmp_path,
        secret_key="limits-secret-0123456789",
        max_body_bytes=64 * 1024,
        bootstrap_max_rounds=50,
    )
    app = create_app(limited, db_url)
    async with app.router.lifespan_context(app):
        await app.state.pool.wait()
        import psycopg
        from psycopg.rows import dict_row

        from whstudio.domain import users

        async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
            async with conn.transaction():
                made = await users.create_user(conn, "rev", "a-long-secret-42", "reviewer")
                token = (await users.create_token(conn, made["id"], "t"))["token"]
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            big = await client.post("/api/tasks", content=b"x" * (64 * 1024 + 1))
            assert big.status_code == 413 and "65536" in big.json()["message"]
            many = await client.get("/api/rankings/models", params={"rounds": 51})
            assert many.status_code == 422 and many.json()["field"] == "rounds"
            assert "at most 50" in many.json()["message"]
            fine = await client.get("/api/rankings/models", params={"rounds": 50})
            assert fine.status_code == 200, fine.text
