"""An app instance on a database of the test's own, and clients signed in as each role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests import pgbouncer
from whstudio.domain import users
from whstudio.settings import Settings
from whstudio.web.app import create_app

PASSWORD = "correct horse battery"


@dataclass
class Env:
    app: object
    url: str
    client: httpx.AsyncClient

    async def make_user(
        self, username: str, role: str = "annotator", password: str = PASSWORD
    ) -> dict:
        async with await psycopg.AsyncConnection.connect(self.url, row_factory=dict_row) as c:
            async with c.transaction():
                return await users.create_user(c, username, password, role)

    async def token_for(self, username: str, role: str = "annotator") -> str:
        user = await self.make_user(username, role)
        async with await psycopg.AsyncConnection.connect(self.url, row_factory=dict_row) as c:
            async with c.transaction():
                row = await users.create_token(c, user["id"], "test")
        return row["token"]

    def client_with(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        )


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path, secret_key="test-secret-key-0123456789", login_free_failures=3)


@pytest.fixture
async def env(db_url: str, settings: Settings, pgbouncer_url: str | None) -> AsyncIterator[Env]:
    # With WHSTUDIO_TEST_PGBOUNCER=1 the request pool goes through PgBouncer (transaction mode);
    # the listener keeps its own direct session, as WHSTUDIO_DIRECT_DATABASE_URL has it.
    pooled = pgbouncer.through(pgbouncer_url, db_url) if pgbouncer_url else None
    app = create_app(settings, db_url, pooled)
    async with app.router.lifespan_context(app):
        await app.state.pool.wait()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            yield Env(app=app, url=db_url, client=client)


@dataclass
class Live:
    base_url: str
    env: Env


@pytest.fixture
async def live(env: Env):
    """The same app served by a real uvicorn on a free port (for streams and real sockets)."""
    import asyncio
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(env.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    await asyncio.wait_for(env.app.state.broker.listening.wait(), 10)
    yield Live(base_url=f"http://127.0.0.1:{port}", env=env)
    server.should_exit = True
    await task
