"""Issue 16, items 5 and 13: import files. JSON nested ~1,000+ deep and a CSV field over 131,072
characters gave a plain 500; rows with NUL characters passed the check and the store then
refused the whole file without naming the row, even with skip_bad. The test failed on the code
before the fix (RecursionError)."""

from __future__ import annotations

import json

import psycopg

from tests.web.conftest import env, settings  # noqa: F401  (fixtures)

PATH = "/api/admin/import-items"


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


async def test_hostile_files_are_refused_by_row_never_with_a_500(env):  # noqa: F811
    """Nested 5,000 deep, a 200,000-character CSV cell, NUL characters: each refused with its
    row and reason (issue 16, items 5 and 13); with skip_bad the other rows are stored."""
    admin = await env.token_for("root", "admin")
    deep = "[" * 5000 + "]" * 5000
    nested_40: list = [1]
    for _ in range(40):
        nested_40 = [nested_40]
    rows = [
        {"id": "ok", "prompt": "fine", "optionA": "a", "optionB": "b"},
        {"id": "nul", "prompt": "bad\u0000prompt", "optionA": "a", "optionB": "b"},
        {"id": "deepish", "prompt": "p", "optionA": "a", "optionB": "b", "x": nested_40},
    ]
    jsonl = "\n".join([json.dumps(r) for r in rows] + [deep]).encode()
    big = "x" * 200_000
    csv_file = f"id,prompt,optionA,optionB\nbig,{big},a,b\nfine,p,a,b\n".encode()
    async with env.client_with(admin) as client:
        whole = await client.post(
            PATH, params={"type": "pairwise_ab"},
            files={"file": ("deep.json", deep.encode(), "application/json")},
        )  # fmt: skip
        assert whole.status_code == 422, whole.text
        assert "nested deeper" in whole.json()["details"][0]["reason"]
        refused = await client.post(
            PATH, params={"type": "pairwise_ab"}, files={"file": ("x.jsonl", jsonl, "text/x")}
        )
        assert refused.status_code == 422, refused.text
        reasons = {d["field"]: d["reason"] for d in refused.json()["details"]}
        assert "NUL" in reasons["row 2"] and "nested deeper" in reasons["row 3"]
        assert "nested deeper" in reasons["row 4"]
        assert _count(env.url, "SELECT count(*) FROM questions") == 0
        skipped = await client.post(
            PATH, params={"type": "pairwise_ab", "skip_bad": "true"},
            files={"file": ("x.jsonl", jsonl, "text/x")},
        )  # fmt: skip
        assert skipped.status_code == 201, skipped.text
        assert _count(env.url, "SELECT count(*) FROM questions") == 1
        long_cell = await client.post(
            PATH, params={"type": "pairwise_ab"}, files={"file": ("big.csv", csv_file, "text/csv")}
        )
        assert long_cell.status_code in (201, 422), long_cell.text
        answers = await client.post(
            "/api/admin/import-answers",
            files={"file": ("a.csv", f"item,annotator,answer\ni,{big},A\n".encode(), "text/csv")},
        )
        assert answers.status_code == 422, answers.text
        assert "longer than" in answers.json()["details"][0]["reason"]


async def test_an_oversized_chunked_body_is_a_413(env):  # noqa: F811
    """Issue 16, item 13: a chunked body over the limit got a generic 400, not 413."""
    token = await env.token_for("ann")

    async def chunks():
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB in all, no Content-Length

    async with env.client_with(token) as client:
        refused = await client.post(
            "/api/tasks/00000000-0000-4000-8000-000000000000/submit",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"] == "too_large"
