"""Shared fixtures: a real PostgreSQL (DATABASE_URL, or an embedded one), a migrated template
database, and per-test databases copied from it."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from whstudio.db import migrate

ROOT = Path(__file__).resolve().parent.parent

# The suite signs in and calls the API far faster than people do, from one address: the request
# rates and sign-in limits are lifted for it (servers it starts inherit this environment). The
# tests of those limits (tests/security/test_floods.py, test_sign_in.py) set them themselves;
# the concurrency limit per account stays at its default everywhere.
for _name, _value in (
    ("WHSTUDIO_LOGIN_RATE_PER_IP", "0"),
    ("WHSTUDIO_LOGIN_RATE", "0"),
    ("WHSTUDIO_RATE_PER_IP", "0"),
    ("WHSTUDIO_RATE_PER_USER", "0"),
):
    os.environ.setdefault(_name, _value)
_counter = itertools.count()


def _with_db(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """URL of a maintenance database on the server the tests use."""
    given = os.environ.get("DATABASE_URL")
    if given:
        from whstudio.db.connect import normalize_url

        yield _with_db(normalize_url(given), "postgres")
        return
    from whstudio.db.embedded import embedded_server

    # Outside pytest's own temporary folders: a concurrent pytest run rotates those away, and
    # with them the data folder of a running server.
    home = Path(os.environ.get("WHSTUDIO_TEST_PGHOME") or tempfile.mkdtemp(prefix="whs-test-pg-"))
    server = embedded_server(home)
    yield server.get_uri("postgres")
    if not os.environ.get("WHSTUDIO_TEST_PGHOME"):
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def _create_db(server_url: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_db(server_url, name)


def _drop_db(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def pgbouncer_url(server_url: str) -> Iterator[str | None]:
    """PgBouncer in transaction mode in front of the server when the suite runs with
    WHSTUDIO_TEST_PGBOUNCER=1 (the web app's request pool then goes through it); else None."""
    from tests import pgbouncer

    if not pgbouncer.wanted():
        yield None
        return
    with pgbouncer.running(server_url) as url:
        yield url


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    """Name of a database migrated to head, to copy per test."""
    name = f"whs_tpl_{os.getpid()}"
    url = _create_db(server_url, name)
    migrate.upgrade(url, "head")
    yield name
    _drop_db(server_url, name)


@pytest.fixture
def make_db(server_url: str, template_db: str):
    """Factory of fresh databases: migrated (copied from the template) or empty."""
    made: list[str] = []

    def factory(*, migrated: bool = True) -> str:
        name = f"whs_t_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
        made.append(name)
        return _create_db(server_url, name, template_db if migrated else None)

    yield factory
    for name in made:
        _drop_db(server_url, name)


@pytest.fixture
def db_url(make_db) -> str:
    """A migrated database of this test's own (real commits allowed)."""
    return make_db()


@pytest.fixture(scope="session")
def shared_db_url(server_url: str, template_db: str) -> Iterator[str]:
    name = f"whs_shared_{os.getpid()}"
    yield _create_db(server_url, name, template_db)
    _drop_db(server_url, name)


@pytest.fixture
async def conn(shared_db_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    connection = await psycopg.AsyncConnection.connect(shared_db_url, row_factory=dict_row)
    # An open outer transaction turns every `conn.transaction()` the code under test opens into
    # a savepoint, so nothing it does is committed.
    await connection.execute("SELECT 1")
    try:
        yield connection
    finally:
        await connection.rollback()
        await connection.close()
