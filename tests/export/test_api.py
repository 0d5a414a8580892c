"""The export downloads and the rankings endpoint over HTTP: who may call them, what they send."""

from __future__ import annotations

import asyncio
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
    # what it left out, and why, comes with it: never silently
    skipped = json.loads(answer.headers["x-export-left-out"])
    assert skipped and all(isinstance(n, int) and n > 0 for n in skipped.values())
    assert "fewer answers than min_answers" in skipped
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


async def test_an_empty_export_is_an_empty_download(clients):
    for path in ("preferences", "responses"):
        answer = await clients["admin"].get(
            f"/api/export/{path}", params={"dataset": "no-such-dataset"}
        )
        assert answer.status_code == 200 and answer.content == b""
        assert "attachment" in answer.headers["content-disposition"]


async def test_a_jsonl_export_streams_batch_by_batch_and_gives_its_connection_back(
    env, clients, monkeypatch
):
    from whstudio.domain import export as export_domain

    whole = (await clients["admin"].get("/api/export/responses")).content
    monkeypatch.setattr(export_domain, "BATCH_ROWS", 2)
    token = await env.token_for("streamer", "admin")
    # the app called as an ASGI server would (httpx's test transport gathers the body first)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/api/export/responses", "raw_path": b"/api/export/responses",
        "query_string": b"", "root_path": "", "server": ("test", 80), "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"test"), (b"authorization", f"Bearer {token}".encode())],
    }  # fmt: skip
    sent: list[dict] = []
    requested, done = False, asyncio.Event()

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client stays until the whole body is sent
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    await env.app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert b"x-export-rows" not in dict(sent[0]["headers"])
    parts = [m["body"] for m in sent[1:] if m.get("body")]
    assert b"".join(parts) == whole and whole.count(b"\n") > 4
    assert len(parts) >= whole.count(b"\n") // 2  # sent as the batches of 2 came
    stats = env.app.state.pool.get_stats()
    assert stats["pool_size"] == stats["pool_available"]  # nothing still checked out
