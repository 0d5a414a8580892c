"""`whstudio import-items` as a subprocess: check first, refuse bad files whole, import once."""

from __future__ import annotations

import io
import json

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from tests.cli.conftest import whstudio  # noqa: F401
from tests.importing.mtbench import judgments


def _count(url, sql):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def test_mtbench_parquet_checks_then_imports_once(whstudio, db_url, tmp_path):  # noqa: F811
    env = {"DATABASE_URL": db_url}
    path = tmp_path / "human.parquet"
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(judgments()), buffer)
    path.write_bytes(buffer.getvalue())
    checked = whstudio("import-items", str(path), "--check", env=env)
    assert checked.code == 0, checked.err
    assert "5 distinct items, 8 recorded answers; 0 bad rows; nothing stored" in checked.out
    assert _count(db_url, "SELECT count(*) FROM questions") == 0
    done = whstudio("import-items", str(path), "--json", env=env)
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert (report["layout"], report["tasks_created"], report["responses_created"]) == (
        "mtbench_judgments",
        5,
        8,
    )
    assert _count(db_url, "SELECT count(DISTINCT source_dataset) FROM questions") == 1
    again = json.loads(whstudio("import-items", str(path), "--json", env=env).out)
    assert (again["tasks_created"], again["responses_existing"]) == (0, 8)


def test_a_bad_row_refuses_the_file_and_lists_the_reason(whstudio, db_url, tmp_path):  # noqa: F811
    env = {"DATABASE_URL": db_url}
    rows = judgments()
    rows[2]["winner"] = "both"
    path = tmp_path / "human.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    refused = whstudio("import-items", str(path), env=env)
    assert refused.code == 1 and "row 3: winner must be" in refused.err
    assert _count(db_url, "SELECT count(*) FROM questions") == 0
    skipped = whstudio("import-items", str(path), "--skip-bad", env=env)
    assert skipped.code == 1 and "answers 7 new" in skipped.out


def test_ranking_items_with_a_mapping(whstudio, db_url, tmp_path):  # noqa: F811
    env = {"DATABASE_URL": db_url}
    path = tmp_path / "rank.jsonl"
    path.write_text(json.dumps({"q": "order", "cands": ["a", "b", "c"]}) + "\n")
    done = whstudio(
        "import-items",
        str(path),
        "--type",
        "ranking",
        "--map",
        "prompt=q",
        "--map",
        "options=cands",
        env=env,
    )
    assert done.code == 0, done.err
    assert _count(db_url, "SELECT count(*) FROM questions WHERE question_type = 'ranking'") == 1
    bad = whstudio("import-items", str(path), "--type", "ranking", "--map", "x=y", env=env)
    assert bad.code == 1 and "ranking has no field 'x'" in bad.err


def test_the_crowd_csv_imports_from_the_command_line(whstudio, db_url, tmp_path):  # noqa: F811
    env = {"DATABASE_URL": db_url}
    items_path = tmp_path / "items.jsonl"
    items_path.write_text(
        "\n".join(
            json.dumps({"id": f"i{i}", "prompt": f"p{i}", "optionA": "yes", "optionB": "no"})
            for i in range(2)
        )
    )
    made = whstudio("import-items", str(items_path), "--type", "pairwise_ab", env=env)
    assert made.code == 0, made.err
    crowd = tmp_path / "crowd.csv"
    crowd.write_text("task,worker,label,confidence\ni0,w1,yes,0.9\ni0,w2,no,\ni1,w1,yes,high\n")
    checked = whstudio("import-answers", str(crowd), "--check", env=env)
    assert checked.code == 0 and "3 answers readable; 0 bad rows; nothing stored" in checked.out
    refused = whstudio("import-answers", str(crowd), "--dataset", "items", env=env)
    assert refused.code == 1 and "not A, B or tie" in refused.err
    assert _count(db_url, "SELECT count(*) FROM submissions") == 0
    args = ["--dataset", "items", "--labels", "yes=A", "--labels", "no=B", "--json"]
    done = whstudio("import-answers", str(crowd), *args, env=env)
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert (report["answers_created"], report["annotators_created"]) == (3, 2)
    assert any("confidence 0.9 read as 5" in n for n in report["notes"])
    again = json.loads(whstudio("import-answers", str(crowd), *args, env=env).out)
    assert (again["answers_created"], again["answers_existing"]) == (0, 3)
