"""Schemathesis against the OpenAPI document of a real running server: no 5xx, and every
response matches the schema the document declares."""

from __future__ import annotations

import asyncio
import os

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from psycopg.rows import dict_row
from schemathesis.checks import positive_data_acceptance

from tests.servers import serving
from whstudio.domain import users

pytestmark = pytest.mark.slow


async def _seed(url: str) -> str:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        admin = await users.create_user(conn, "fuzz-admin", "fuzz-password-1", "admin")
        token = (await users.create_token(conn, admin["id"], "fuzz"))["token"]
        await conn.execute(
            "WITH q AS (INSERT INTO questions (question_type, content) VALUES ('pairwise_ab',"
            ' \'{"prompt": "p", "optionA": "a", "optionB": "b"}\') RETURNING id)'
            " INSERT INTO tasks (question_id, title, allow_tie) SELECT id, 't', true FROM q"
        )
        await conn.commit()
    return token


@pytest.fixture(scope="module")
def running_api(server_url, template_db, tmp_path_factory):
    from tests.conftest import _create_db, _drop_db

    name = f"whs_contract_{os.getpid()}"
    url = _create_db(server_url, name, template_db)
    token = asyncio.run(_seed(url))
    with serving(url, tmp_path_factory.mktemp("contract")) as (_, base):
        yield base, token
    _drop_db(server_url, name)


def test_no_server_errors_and_responses_match_the_schema(running_api):
    """Every operation, fuzzed from its schema, never answers 5xx or breaks its own schema."""
    from hypothesis import given

    base, token = running_api
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in api.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/stream") or operation.path == "/api/events":
            continue  # event streams never end; tests/web/test_events.py covers them
        operations += 1

        @given(operation.as_strategy())
        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case):
            # Left out: positive_data_acceptance. Our rules are stricter than a JSON schema can
            # say (no NUL characters, cursors this API issued, ids that exist), so a 4xx for
            # schema-valid data is correct here; every other check runs.
            case.call_and_validate(
                base_url=base,
                timeout=10,
                headers={"Authorization": f"Bearer {token}"},
                excluded_checks=[positive_data_acceptance],
            )

        try:
            fuzz()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert operations >= 10
    assert not failures, "\n\n".join(failures)
