"""A read replica (issue 18, item 2): with WHSTUDIO_READ_DATABASE_URL, staff's heavy reads
(exports, rankings, analytics) go to a streaming replica, and everything an annotator
reads after writing goes to the primary, so a lagging replica never shows an annotator a state
older than their own answer. The replica here is a real one (pg_basebackup), paused to lag."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests import replica
from tests.web.conftest import PASSWORD
from whstudio.db import migrate
from whstudio.db.connect import read_url
from whstudio.domain import tasks as tasks_domain
from whstudio.domain import users
from whstudio.settings import Settings
from whstudio.web.app import create_app

pytestmark = pytest.mark.skipif(
    replica.binaries() is None, reason="no PostgreSQL server binaries with pg_basebackup"
)


@pytest.fixture(scope="module")
def servers():
    with replica.primary_and_replica() as (primary_port, replica_port):
        with psycopg.connect(replica.url(primary_port), autocommit=True) as conn:
            conn.execute("CREATE DATABASE whs")
        primary, standby = replica.url(primary_port, "whs"), replica.url(replica_port, "whs")
        migrate.upgrade(primary, "head")
        yield primary, standby


async def _seed(url: str) -> tuple[str, dict]:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        async with conn.transaction():
            made = await tasks_domain.create_many(
                conn,
                [
                    {
                        "question_type": "pairwise_ab",
                        "content": {
                            "prompt": "Which reads better?",
                            "optionA": "a",
                            "optionB": "b",
                        },
                        "source_dataset": "replicated",
                    }
                ],
                creator_id=None,
            )
            tokens = {}
            for name, role in (("admin", "admin"), ("ann", "annotator")):
                user = await users.create_user(conn, name, PASSWORD, role)
                tokens[name] = (await users.create_token(conn, user["id"], "t"))["token"]
    return made[0]["task_id"], tokens


async def test_a_lagging_replica_serves_staff_reads_and_never_an_annotators(servers, tmp_path):
    primary, standby = servers
    task, tokens = await _seed(primary)
    await asyncio.to_thread(replica.caught_up, primary, standby)
    settings = Settings(home=tmp_path, secret_key="replica-secret-0123456789")
    app = create_app(settings, primary, read_url=standby)
    assert app.state.read_pool is not app.state.pool
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)

        def client(name: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=transport,
                base_url="http://test",
                headers={"Authorization": f"Bearer {tokens[name]}"},
            )

        async with client("admin") as admin, client("ann") as ann:
            with psycopg.connect(standby, autocommit=True) as paused:
                paused.execute("SELECT pg_wal_replay_pause()")
                try:
                    got = await ann.get("/api/tasks/next")
                    assert got.status_code == 200 and got.json()["id"] == str(task)
                    sent = await ann.post(
                        f"/api/tasks/{task}/submit",
                        json={"chosen_response": "A", "confidence": 4, "time_spent_seconds": 5},
                    )
                    assert sent.status_code == 201, sent.text
                    # what the annotator reads next comes from the primary: their answer is there
                    seen = await ann.get(f"/api/consensus/{task}")
                    assert seen.status_code == 200 and seen.json()["total_responses"] == 1
                    listed = await ann.get("/api/tasks")
                    assert listed.status_code == 200, listed.text
                    [card] = [t for t in listed.json()["items"] if t["id"] == str(task)]
                    assert card["total_responses"] == 1
                    mine = await ann.get("/api/users/quality")
                    assert mine.status_code == 200, mine.text
                    assert str(task) in mine.text
                    # staff's heavy reads come from the replica, which has not replayed it yet
                    export = await admin.get("/api/export/responses")
                    assert export.status_code == 200 and export.text.strip() == "", export.text
                    ranked = await admin.get("/api/rankings/models")
                    assert ranked.status_code == 200, ranked.text
                    figures = await admin.get("/admin/analytics.json", params={"fresh": "true"})
                    assert figures.status_code == 200, figures.text
                    # the task dashboard, for staff, and the agreement figures (no temporary
                    # table, which a standby refuses)
                    listed = await admin.get("/api/tasks")
                    [card] = [t for t in listed.json()["items"] if t["id"] == str(task)]
                    assert card["total_responses"] == 0
                    agreed = await admin.get("/api/quality/agreement")
                    assert agreed.status_code == 200, agreed.text
                    assert agreed.json()["items_with_one_answer"] == 0
                    pairs = await admin.get("/api/quality/agreement/vote-pairs")
                    assert pairs.status_code == 200, pairs.text
                finally:
                    paused.execute("SELECT pg_wal_replay_resume()")
            await asyncio.to_thread(replica.caught_up, primary, standby)
            export = await admin.get("/api/export/responses")
            assert export.status_code == 200 and export.text.count("\n") == 1, export.text
            agreed = await admin.get("/api/quality/agreement")
            assert agreed.json()["items_with_one_answer"] == 1, agreed.text


def test_the_read_url_comes_from_its_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("WHSTUDIO_READ_DATABASE_URL", "postgres://app@replica:5432/whs")
    assert read_url(Settings(home=tmp_path, _env_file=None)) == "postgresql://app@replica:5432/whs"
    monkeypatch.delenv("WHSTUDIO_READ_DATABASE_URL")
    assert read_url(Settings(home=tmp_path, _env_file=None)) is None
