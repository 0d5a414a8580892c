"""`whstudio export` and `whstudio rankings` as subprocesses on a database of the test's own."""

from __future__ import annotations

import json

import psycopg
import pyarrow.parquet as pq
from psycopg.rows import dict_row

from tests.cli.conftest import whstudio  # noqa: F401
from tests.export.conftest import seed


async def _seeded(db_url):
    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as c:
        async with c.transaction():
            await seed(c)


async def test_export_writes_parquet_and_jsonl_with_filters(whstudio, db_url, tmp_path):  # noqa: F811
    await _seeded(db_url)
    env = {"DATABASE_URL": db_url}
    target = tmp_path / "prefs.parquet"
    done = whstudio("export", "--output", str(target), env=env)
    assert done.code == 0, done.err
    assert "wrote 2 preferences rows" in done.out
    assert sorted(pq.read_table(target, use_threads=False).column("prompt").to_pylist()) == [
        "p-agree-a",
        "p-b-wins",
    ]
    assert not (tmp_path / "prefs.parquet.partial").exists()
    jsonl = tmp_path / "ties.jsonl"
    done = whstudio("export", "-o", str(jsonl), "--include-ties", "--min-answers", "3", env=env)
    assert done.code == 0, done.err
    assert len(jsonl.read_text().splitlines()) == 3
    raw = tmp_path / "raw.jsonl"
    done = whstudio("export", "-o", str(raw), "--what", "responses", env=env)
    assert done.code == 0 and len(raw.read_text().splitlines()) == 14


def test_export_refuses_bad_options_before_touching_the_database(whstudio, tmp_path):  # noqa: F811
    env = {"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"}
    bad = whstudio("export", "-o", str(tmp_path / "x.csv"), env=env)
    assert bad.code == 1 and "format" in bad.err
    bad = whstudio("export", "-o", str(tmp_path / "x.jsonl"), "--method", "vote", env=env)
    assert bad.code == 1 and "method" in bad.err
    assert not (tmp_path / "x.jsonl").exists()
    bad = whstudio("export", "-o", str(tmp_path / "nowhere" / "x.jsonl"), env=env)
    assert bad.code == 1 and "no such folder" in bad.err


async def test_rankings_prints_a_table_and_json(whstudio, db_url):  # noqa: F811
    await _seeded(db_url)
    env = {"DATABASE_URL": db_url}
    table = whstudio("rankings", "--rounds", "50", env=env)
    assert table.code == 0, table.err
    assert "gamma" in table.out.splitlines()[1]
    doc = json.loads(whstudio("rankings", "--rounds", "50", "--json", env=env).out)
    assert doc["models"][0]["model"] == "gamma"
