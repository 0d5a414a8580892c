"""The export downloads and the rankings endpoint over HTTP: who may call them, what they send."""

from __future__ import annotations

import json

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg.rows import dict_row

from tests.export.conftest import seed


async def _seed(env):
    async with await psycopg.AsyncConnection.connect(env.url, row_factory=dict_row) as c:
        async with c.transaction():
            return await seed(c)


@pytest.fixture
async def clients(env):
    await _seed(env)
    tokens = {
        role: await env.token_for(f"web-{role}", role)
        for role in ("annotator", "reviewer", "admin")
    }
    made = {role: env.client_with(token) for role, token in tokens.items()}
    yield made
    for client in made.values():
        await client.aclose()


@pytest.mark.parametrize("path", ["preferences", "responses", "quality"])
async def test_exports_are_for_admins_only(env, clients, path):
    assert (await env.client.get(f"/api/export/{path}")).status_code == 401
    for role in ("annotator", "reviewer"):
        assert (await clients[role].get(f"/api/export/{path}")).status_code == 403
    answer = await clients["admin"].get(f"/api/export/{path}", params={"format": "parquet"})
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    table = pq.read_table(pa.BufferReader(answer.content), use_threads=False)
    assert table.num_rows == int(answer.headers["x-export-rows"]) > 0


async def test_preference_download_applies_the_filters(clients):
    admin = clients["admin"]
    answer = await admin.get(
        "/api/export/preferences", params={"min_answers": 4, "format": "jsonl"}
    )
    rows = [json.loads(line) for line in answer.text.splitlines()]
    assert [r["prompt"] for r in rows] == ["p-b-wins"]
    assert rows[0]["chosen_model"] == "gamma" and rows[0]["rejected_model"] == "beta"
    ties = await admin.get("/api/export/preferences", params={"include_ties": "true"})
    assert len(ties.text.splitlines()) == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "xml"}, "format"),
        ({"min_agreement": 101}, "min_agreement"),
        ({"method": "vote"}, "method"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2025-02-01", "until": "2025-01-01"}, "since"),
    ],
)
async def test_bad_export_parameters_are_422_naming_the_field(clients, params, field):
    answer = await clients["admin"].get("/api/export/preferences", params=params)
    assert answer.status_code == 422 and answer.json()["field"] == field


async def test_responses_download_hides_annotators_unless_revealed(env, clients):
    admin = clients["admin"]
    hidden = [json.loads(x) for x in (await admin.get("/api/export/responses")).text.splitlines()]
    shown = [
        json.loads(x)
        for x in (
            await admin.get("/api/export/responses", params={"reveal_annotators": "true"})
        ).text.splitlines()
    ]
    assert len(hidden) == len(shown) == 14
    assert all(r["username"] is None for r in hidden)
    assert {r["username"] for r in shown} == {f"exp-annot-{i}" for i in range(4)}
    assert not {r["annotator"] for r in hidden} & {r["annotator"] for r in shown}


async def test_rankings_are_for_reviewers_and_admins(env, clients):
    assert (await env.client.get("/api/rankings/models")).status_code == 401
    assert (await clients["annotator"].get("/api/rankings/models")).status_code == 403
    for role in ("reviewer", "admin"):
        answer = await clients[role].get("/api/rankings/models", params={"rounds": 50})
        assert answer.status_code == 200
    doc = answer.json()
    assert doc["models"][0]["model"] == "gamma"
    assert doc["comparisons"] == 14 and doc["ties"] == "half"
    for m in doc["models"]:
        assert m["ci_lower"] <= m["rating"] <= m["ci_upper"]
    bad = await clients["admin"].get("/api/rankings/models", params={"basis": "votes"})
    assert bad.status_code == 422 and bad.json()["field"] == "basis"
