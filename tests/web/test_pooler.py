"""The web app through PgBouncer in transaction mode (issue 18, item 1): the request pool goes
through the pooler, without server-side prepared statements; the live-update listener keeps a
session of its own, straight to PostgreSQL. The suite's WHSTUDIO_TEST_PGBOUNCER=1 profile runs
every web test so; these tests run whenever Debian's pgbouncer is installed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from typer.testing import CliRunner

from tests import pgbouncer
from tests.web.conftest import PASSWORD
from whstudio.cli import app as cli_app
from whstudio.db import catalog
from whstudio.db.connect import goes_through_pooler, pooled_url
from whstudio.db.pool import make_pool
from whstudio.domain import tasks as tasks_domain
from whstudio.domain import users
from whstudio.legacy.generate import generate
from whstudio.settings import Settings, get_settings
from whstudio.web.app import create_app

pytestmark = pytest.mark.skipif(
    not Path(pgbouncer.BINARY).exists(), reason="Debian's pgbouncer is not installed"
)


@pytest.fixture(scope="module")
def bouncer(server_url):
    if (conninfo_to_dict(server_url).get("host") or "").startswith("/"):
        # The embedded server listens on a socket in a folder of root's; PgBouncer, which will
        # not run as root, cannot reach it. The DATABASE_URL run (TCP) runs these.
        pytest.skip("the test server listens on a Unix socket only")
    with pgbouncer.running(server_url) as url:
        yield url


async def _seed(url: str, n: int) -> tuple[list, dict]:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        async with conn.transaction():
            made = await tasks_domain.create_many(
                conn,
                [
                    {
                        "question_type": "pairwise_ab",
                        "content": {"prompt": f"Which {i}?", "optionA": "a", "optionB": "b"},
                        "source_dataset": "pooled",
                        "consensus_threshold": 2,
                    }
                    for i in range(n)
                ],
                creator_id=None,
            )
            tokens = {}
            for name, role in (("admin", "admin"), ("ann", "annotator"), ("bea", "annotator")):
                user = await users.create_user(conn, name, PASSWORD, role)
                tokens[name] = (await users.create_token(conn, user["id"], "t"))["token"]
    return [m["task_id"] for m in made], tokens


async def test_the_service_works_through_pgbouncer_in_transaction_mode(db_url, bouncer, tmp_path):
    tasks, tokens = await _seed(db_url, 6)
    settings = Settings(home=tmp_path, secret_key="pooled-secret-0123456789", pool_max_size=6)
    app = create_app(settings, db_url, pgbouncer.through(bouncer, db_url))
    port = conninfo_to_dict(bouncer)["port"]
    assert conninfo_to_dict(app.state.pool.conninfo)["port"] == port
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.broker.listening.wait(), 10)
        transport = httpx.ASGITransport(app=app)

        def client(name: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=transport,
                base_url="http://test",
                headers={"Authorization": f"Bearer {tokens[name]}"},
            )

        async with client("admin") as admin, client("ann") as ann, client("bea") as bea:
            queue = app.state.broker.subscribe()  # what every open stream reads
            try:
                # leases, answers and revisions, many times over (psycopg would prepare these
                # statements after five runs; through the pooler that must not happen)
                for _ in range(3):
                    for person in (ann, bea):
                        got = await person.get("/api/tasks/next")
                        assert got.status_code == 200, got.text
                        task = got.json()["id"]
                        for choice in "ABA":
                            sent = await person.post(
                                f"/api/tasks/{task}/submit",
                                json={
                                    "chosen_response": choice,
                                    "confidence": 3,
                                    "time_spent_seconds": 4,
                                },
                                headers={"Idempotency-Key": f"{task}-{choice}-{id(person)}"},
                            )
                            assert sent.status_code in (200, 201), sent.text
                # the listener, on its own direct session, heard the consensus changes
                event = await asyncio.wait_for(queue.get(), 5)
                assert event
                listed = await admin.get("/api/tasks", params={"limit": 50})
                assert listed.status_code == 200 and len(listed.json()["items"]) == 6
                export = await admin.get("/api/export/responses")  # a server-side cursor
                assert export.status_code == 200 and export.text.count("\n") >= 6
                for task in tasks:
                    seen = await admin.get(f"/api/consensus/{task}")
                    assert seen.status_code == 200, seen.text
            finally:
                app.state.broker.unsubscribe(queue)


async def test_prepared_statements_would_break_through_the_pooler(db_url, bouncer):
    """Why the pool turns them off: with psycopg's default, a statement run often is prepared on
    one server session, and the pooler hands the next run to another that does not know it."""
    url = pgbouncer.through(bouncer, db_url)
    failures = []
    for through_pooler in (True, False):
        pool = make_pool(url, min_size=4, max_size=4, through_pooler=through_pooler)
        await pool.open(wait=True)
        try:

            async def run(pool=pool) -> None:
                async with pool.connection() as conn:
                    for _ in range(12):
                        await (await conn.execute("SELECT count(*) FROM tasks")).fetchone()
                        await asyncio.sleep(0)

            outcome = await asyncio.gather(*(run() for _ in range(8)), return_exceptions=True)
            failures.append([o for o in outcome if isinstance(o, Exception)])
        finally:
            await pool.close()
    assert failures[0] == [], failures[0]
    assert failures[1] and all(isinstance(f, psycopg.Error) for f in failures[1]), failures[1]


def test_a_direct_url_makes_database_url_the_pooled_one(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@pooler:6432/whs")
    monkeypatch.setenv("WHSTUDIO_DIRECT_DATABASE_URL", "postgresql://app@primary:5432/whs")
    from whstudio.db.connect import database_url

    settings = Settings(home=tmp_path, _env_file=None)
    assert database_url(settings) == "postgresql://app@primary:5432/whs"
    assert pooled_url(settings) == "postgresql://app@pooler:6432/whs"
    monkeypatch.delenv("WHSTUDIO_DIRECT_DATABASE_URL")
    plain = Settings(home=tmp_path, _env_file=None)
    assert database_url(plain) == "postgresql://app@pooler:6432/whs"
    assert pooled_url(plain) is None


async def test_the_pooler_is_told_from_postgresql(server_url, bouncer):
    for _ in range(20):
        reason = await goes_through_pooler(bouncer)
        assert reason is not None and "server session" in reason
        assert await goes_through_pooler(server_url) is None


def _everything(url: str, server_url: str) -> tuple[list[str], list[str]]:
    """What the legacy tool could change: the legacy database's schema and the server's databases
    (expand and rehearse make scratch ones)."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database ORDER BY 1")]
    return catalog.describe(url, skip_tables=()), names


@pytest.mark.parametrize("given", ["DATABASE_URL", "WHSTUDIO_DIRECT_DATABASE_URL", "argument"])
def test_the_legacy_tool_refuses_a_pooled_url(
    given, make_db, template_db, server_url, bouncer, monkeypatch
):
    legacy = make_db(migrated=False)
    generate(legacy, tasks=20, submissions=20)
    pooled = pgbouncer.through(bouncer, legacy)
    reference = make_conninfo(server_url, dbname=template_db)
    monkeypatch.delenv("WHSTUDIO_DATABASE_URL", raising=False)
    monkeypatch.delenv("WHSTUDIO_DIRECT_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", pooled if given == "DATABASE_URL" else legacy)
    if given == "WHSTUDIO_DIRECT_DATABASE_URL":  # the direct setting pointing at the pooler
        monkeypatch.setenv(given, pooled)
    command = ["expand", "--reference-url", reference]
    if given == "argument":
        command = ["rehearse", pooled, "--tasks", "10"]
    before = _everything(legacy, server_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["legacy", *command])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "goes through a connection pooler" in message
    assert "requires a direct session to PostgreSQL" in message
    if given != "argument":
        assert "WHSTUDIO_DIRECT_DATABASE_URL" in message
    assert _everything(legacy, server_url) == before
