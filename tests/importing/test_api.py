"""POST /api/admin/import-items: check first, refuse bad files whole (rows listed), admins only."""

from __future__ import annotations

import io
import json

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from tests.importing.mtbench import judgments
from tests.web.conftest import env, settings  # noqa: F401  (fixtures)

PATH = "/api/admin/import-items"


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def _jsonl(rows: list[dict]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


async def test_an_admin_checks_then_imports_mtbench_judgments_once(env):  # noqa: F811
    admin = await env.token_for("root", "admin")
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(judgments()), buffer)
    upload = {"file": ("human.parquet", buffer.getvalue(), "application/octet-stream")}
    async with env.client_with(admin) as client:
        checked = await client.post(PATH, params={"check": "true"}, files=upload)
        assert checked.status_code == 200, checked.text
        assert (checked.json()["layout"], checked.json()["rows"], checked.json()["failed"]) == (
            "mtbench_judgments",
            8,
            [],
        )
        assert _count(env.url, "SELECT count(*) FROM questions") == 0

        done = await client.post(PATH, files=upload)
        assert done.status_code == 201, done.text
        report = done.json()
        assert (report["tasks_created"], report["responses_created"]) == (5, 8)
        assert _count(env.url, "SELECT count(*) FROM submissions") == 8

        again = (await client.post(PATH, files=upload)).json()
        assert (again["tasks_created"], again["responses_existing"]) == (0, 8)


async def test_a_bad_row_refuses_the_file_with_every_bad_row_listed(env):  # noqa: F811
    admin = await env.token_for("root", "admin")
    rows = judgments()
    rows[2]["winner"] = "both"
    rows[5]["model_a"] = ""
    upload = {"file": ("human.jsonl", _jsonl(rows), "application/x-ndjson")}
    async with env.client_with(admin) as client:
        refused = await client.post(PATH, files=upload)
        assert refused.status_code == 422
        body = refused.json()
        assert body["field"] == "file" and "nothing was imported" in body["message"]
        assert [d["field"] for d in body["details"]] == ["row 3", "row 6"]
        assert "winner must be" in body["details"][0]["reason"]
        assert _count(env.url, "SELECT count(*) FROM questions") == 0

        kept = await client.post(PATH, params={"skip_bad": "true"}, files=upload)
        assert kept.status_code == 201
        assert [f["line"] for f in kept.json()["failed"]] == [3, 6]
        assert kept.json()["responses_created"] == 6


async def test_ranking_items_with_a_mapping_and_a_bad_mapping(env):  # noqa: F811
    admin = await env.token_for("root", "admin")
    rows = [{"q": "order these", "cands": ["a", "b", "c"]}]
    upload = {"file": ("rank.jsonl", _jsonl(rows), "application/x-ndjson")}
    async with env.client_with(admin) as client:
        wrong = await client.post(
            PATH, params={"type": "ranking", "map": "nothing=q"}, files=upload
        )
        assert wrong.status_code == 422 and wrong.json()["field"] == "map"
        bad_type = await client.post(PATH, params={"type": "essay"}, files=upload)
        assert bad_type.status_code == 422 and bad_type.json()["field"] == "type"
        done = await client.post(
            PATH,
            params=[("type", "ranking"), ("map", "prompt=q"), ("map", "options=cands")],
            files=upload,
        )
        assert done.status_code == 201, done.text
    assert _count(env.url, "SELECT count(*) FROM questions WHERE question_type = 'ranking'") == 1
    assert _count(env.url, "SELECT count(*) FROM questions WHERE source_dataset = 'rank'") == 1


async def test_only_admins_may_import(env):  # noqa: F811
    upload = {"file": ("x.jsonl", _jsonl(judgments()), "application/x-ndjson")}
    assert (await env.client.post(PATH, files=upload)).status_code == 401
    for role in ("annotator", "reviewer"):
        token = await env.token_for(f"not-admin-{role}", role)
        async with env.client_with(token) as client:
            refused = await client.post(PATH, files=upload)
            assert refused.status_code == 403, role
    assert _count(env.url, "SELECT count(*) FROM questions") == 0


async def test_a_missing_or_unreadable_file_is_a_clear_422(env):  # noqa: F811
    admin = await env.token_for("root", "admin")
    async with env.client_with(admin) as client:
        missing = await client.post(PATH, data={"x": "y"})
        assert missing.status_code == 422 and missing.json()["field"] == "file"
        garbage = await client.post(
            PATH, files={"file": ("data.parquet", b"not parquet at all", "application/x")}
        )
        assert garbage.status_code == 422
        assert "not a readable Parquet file" in garbage.json()["details"][0]["reason"]
    assert _count(env.url, "SELECT count(*) FROM questions") == 0


async def test_answers_arrive_over_http_checked_first_and_for_admins_only(env):  # noqa: F811
    admin = await env.token_for("root", "admin")
    items_file = _jsonl(
        [{"id": f"i{i}", "prompt": f"p{i}", "optionA": "yes", "optionB": "no"} for i in range(2)]
    )
    crowd = b"task,worker,label\ni0,w1,yes\ni0,w2,no\ni1,w1,yes\n"
    upload = {"file": ("crowd.csv", crowd, "text/csv")}
    url = "/api/admin/import-answers"
    async with env.client_with(admin) as client:
        made = await client.post(
            PATH,
            params={"type": "pairwise_ab", "dataset": "crowd"},
            files={"file": ("items.jsonl", items_file, "application/json")},
        )
        assert made.status_code == 201, made.text
        checked = await client.post(url, params={"check": "true"}, files=upload)
        assert checked.status_code == 200 and checked.json()["rows"] == 3
        # without the labels' meaning, "yes" is no side: refused whole, rows listed
        refused = await client.post(url, params={"dataset": "crowd"}, files=upload)
        assert refused.status_code == 422 and refused.json()["field"] == "file"
        assert [d["field"] for d in refused.json()["details"]] == ["row 2", "row 3", "row 4"]
        assert _count(env.url, "SELECT count(*) FROM submissions") == 0
        params = [("dataset", "crowd"), ("labels", "yes=A"), ("labels", "no=B"), ("group", "crowd")]
        stored = await client.post(url, params=params, files=upload)
        assert stored.status_code == 201, stored.text
        assert (stored.json()["answers_created"], stored.json()["annotators_created"]) == (3, 2)
        bad_label = await client.post(url, params={"labels": "yes=maybe"}, files=upload)
        assert bad_label.status_code == 422 and bad_label.json()["field"] == "labels"
    for role in ("annotator", "reviewer"):
        token = await env.token_for(f"answers-{role}", role)
        async with env.client_with(token) as client:
            assert (await client.post(url, files=upload)).status_code == 403, role
