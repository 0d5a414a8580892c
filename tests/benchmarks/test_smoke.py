"""Every benchmark at a tiny scale, so that the suite keeps working (not a measurement)."""

from __future__ import annotations

import json
import os

import psycopg
import pytest
from benchmarks.generate import read_meta

from benchmarks import run

pytestmark = pytest.mark.slow


def test_every_benchmark_runs_at_tiny_scale(db_url: str, tmp_path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    results = tmp_path / "results.json"
    plans = tmp_path / "plans"

    code = run.main(
        [
            "--scale", "tiny",
            "--bench-url", db_url,
            "--report", str(report),
            "--plans", str(plans),
            "--results", str(results),
        ]
    )  # fmt: skip

    assert code == 0
    meta = read_meta(db_url)
    assert meta is not None and meta["sample_mismatches"] == 0 and meta["sample_checked"] > 0
    stored = json.loads(results.read_text())
    assert set(stored["benchmarks"]) == set(run.BENCHMARKS)
    for name, outcome in stored["benchmarks"].items():
        assert outcome["rows"], name
    submit = stored["benchmarks"]["submit"]["extra"]
    assert submit["ours_tps"] > 0 and submit["pgbench_tps"] > 0
    assert submit["hot_tps"] > 0 and submit["hot_errors"] == 0
    # the FastAPI floor, measured in the same run: every acknowledged row is there
    assert submit["floor"]["per_second"] > 0 and submit["floor"]["errors"] == 0
    assert submit["floor_rows_written"] == submit["floor_acknowledged"] > 0
    assert 0 < submit["of_floor"] == submit["ours_tps"] / submit["floor"]["per_second"]
    assert stored["benchmarks"]["next_task"]["extra"]["overshoot"] == 0
    text = report.read_text()
    for section in ("## Machine", "GET /api/tasks", "Dawid–Skene", "JSONB"):
        assert section in text
    assert (plans / "tasks_list__sort_created.txt").exists()
    assert (plans / "recompute_one.txt").exists()
    analytics = stored["benchmarks"]["analytics"]
    assert [row[:2] for row in analytics["rows"]] == [
        [30, "computed (fresh=true)"], [30, "served"],
        [366, "computed (fresh=true)"], [366, "served"],
    ]  # fmt: skip
    assert all(row[-1] == 0 for row in analytics["rows"])  # every request answered 200
    # the year's window counts the generated answers of the last 366 days, and some there are
    answers = [row[3] for row in analytics["rows"]]
    assert min(answers) > 0 and min(answers[2:]) >= max(answers[:2])
    assert (plans / "analytics__30d.txt").exists()


def test_the_quality_benchmark_runs_at_tiny_scale(server_url: str, tmp_path) -> None:
    from benchmarks import quality

    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nkept text\n")
    name = f"whs_quality_smoke_{os.getpid()}"
    code = quality.main(
        ["--tasks", "40", "--threshold", "3", "--database-url", server_url,
         "--db-name", name, "--report", str(report)]
    )  # fmt: skip
    assert code == 0
    text = report.read_text()
    assert "kept text" in text and "<!-- section:quality -->" in text
    assert "Spearman" in text and "Dawid–Skene (crowd-kit)" in text
    # a second run replaces the section instead of adding another
    quality.main(
        ["--tasks", "20", "--threshold", "2", "--database-url", server_url,
         "--db-name", name, "--report", str(report)]
    )  # fmt: skip
    assert report.read_text().count("<!-- section:quality -->") == 1
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_notify_benchmark_runs_at_tiny_scale(server_url: str, tmp_path) -> None:
    from benchmarks import notify_commit

    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nkept text\n")
    name = f"whs_notify_smoke_{os.getpid()}"
    code = notify_commit.main(
        ["--scale", "tiny", "--seconds", "1", "--clients", "4", "--database-url", server_url,
         "--db-name", name, "--report", str(report)]
    )  # fmt: skip
    assert code == 0
    text = report.read_text()
    assert "kept text" in text and "<!-- section:notify -->" in text
    rows = [line for line in text.splitlines() if line.startswith("| v")]
    assert len(rows) == 3 and all(float(r.split("|")[2]) > 0 for r in rows)
    with psycopg.connect(server_url, autocommit=True) as conn:
        assert (
            conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name]).fetchone()[
                0
            ]
            == 0
        )


def test_the_submit_profile_benchmark_runs_at_tiny_scale(server_url: str, tmp_path) -> None:
    from benchmarks import submit_profile

    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nkept text\n")
    name = f"whs_profile_smoke_{os.getpid()}"
    code = submit_profile.main(
        ["--scale", "tiny", "--seconds", "1", "--clients", "2", "--database-url", server_url,
         "--db-name", name, "--report", str(report)]
    )  # fmt: skip
    assert code == 0
    text = report.read_text()
    assert "kept text" in text and "<!-- section:submit_profile -->" in text
    # the traced run saw the API's function and the triggers it fires
    rows = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| `")}
    assert {"`submit_answer_v2`", "`submissions_count_vote`", "`submissions_quality`"} <= rows
    with psycopg.connect(server_url, autocommit=True) as conn:
        gone = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name])
        assert gone.fetchone()[0] == 0


def test_the_submit_rows_benchmark_measures_both_ways_and_renders(
    server_url: str, tmp_path
) -> None:
    from benchmarks import submit_rows

    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nkept text\n")
    name = f"whs_rows_smoke_{os.getpid()}"
    code = submit_rows.main(
        ["--scale", "tiny", "--seconds", "1", "--rounds", "1", "--sizes", "1", "2",
         "--database-url", server_url, "--db-name", name, "--report", str(report)]
    )  # fmt: skip
    assert code == 0
    text = report.read_text()
    assert "kept text" in text and "<!-- section:submit_rows -->" in text
    rows = [line.split("|") for line in text.splitlines() if line.startswith(("| 1 ", "| 2 "))]
    assert len(rows) == 2
    for row in rows:  # every way stored answers and was metered
        assert all(float(row[i]) > 0 for i in range(2, 8))
    with psycopg.connect(server_url, autocommit=True) as conn:
        gone = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name])
        assert gone.fetchone()[0] == 0


def test_the_submit_floor_benchmark_runs_and_loses_no_acknowledged_row(
    server_url: str, tmp_path
) -> None:
    from benchmarks.common import drop_database, machine

    from benchmarks import submit_floor

    name = f"whs_floor_smoke_{os.getpid()}"
    url = submit_floor.make_database(server_url, name)
    try:
        result = submit_floor.measure(url, clients=4, seconds=1.5, workers=1)
        text = submit_floor.render(result, machine(url))
    finally:
        drop_database(server_url, name)
    services = result["services"]
    assert set(services) == set(submit_floor.SERVICES)
    for name, got in services.items():
        assert got["errors"] == 0 and got["ok"] > 0, (name, got)
        if name != "http_only":
            assert got["rows_written"] == got["acknowledged"], (name, got)
    assert services["http_only"]["rows_written"] == 0
    assert result["pgbench"]["tps"] > 0
    assert "| pgbench, the same INSERT |" in text


def test_the_submit_growth_benchmark_runs_and_renders(server_url: str, tmp_path) -> None:
    from benchmarks import submit_growth

    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nkept text\n")
    name = f"whs_growth_smoke_{os.getpid()}"
    workers = os.environ.get("WHSTUDIO_WORKERS")
    code = submit_growth.main(
        ["--sizes", "20000", "--seconds", "1", "--database-url", server_url, "--db-name", name,
         "--report", str(report), "--results", str(tmp_path / "growth.json")]
    )  # fmt: skip
    assert code == 0
    text = report.read_text()
    assert "kept text" in text and "<!-- section:submit_growth -->" in text
    [row] = [line for line in text.splitlines() if "| 20,000 |" in line]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0].endswith("UTC: this code")
    assert float(cells[2]) > 0 and float(cells[6]) > 0  # answers/s, WAL kB per answer
    stored = json.loads((tmp_path / "growth.json").read_text())
    assert stored["runs"]["20000"]["extra"]["wal_per_submit"]["wal_bytes"] > 0
    # an earlier run's results are shown beside this one's, each row named by its code
    stored["code"] = "the change"
    stored["earlier"] = {"ran_at": "2026-01-01 00:00 UTC", "runs": stored["runs"], "code": "old"}
    rows = [line for line in submit_growth.render(stored).splitlines() if "| 20,000 |" in line]
    assert [r.split("|")[1].strip().split(": ", 1)[1] for r in rows] == ["the change", "old"]
    assert os.environ.get("WHSTUDIO_WORKERS") == workers  # the run's two processes, undone
    with psycopg.connect(server_url, autocommit=True) as conn:
        gone = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name])
        assert gone.fetchone()[0] == 0


def test_the_batch_memory_benchmark_measures_and_renders(capsys) -> None:
    """Its in-process half at a tiny size, and the section drawn from results of its shape."""
    from benchmarks import batch_memory

    for job in batch_memory.JOBS:
        batch_memory.synthetic_main(20_000, job)
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert out["labels"] == 20_000 and out["tasks"] == 2_000
        assert out["peak_rss_mib"] >= out["baseline_rss_mib"] > 0
    measured = {"wall_s": 2.0, "labels": 10**6, "iterations": 4}
    memory = {"baseline_rss_mib": 50.0, "peak_rss_mib": 120.0}
    runs = {
        "medium": {j: {**measured, **memory} for j in batch_memory.JOBS},
        "full": {
            j: {**measured, **memory, "wall_s": 11.0, "labels": 10**7} for j in batch_memory.JOBS
        },
        "synthetic": {str(10**8): {j: {"compute_s": 60.0, **memory} for j in batch_memory.JOBS}},
    }
    machine = {"cores": "2", "cpu": "cpu", "ram": "1 GiB"}
    text = batch_memory.render({"runs": runs, "machine": machine, "ran_at": "now"})
    # the line through (10^6, 2 s) and (10^7, 11 s) reaches 101 s at 10^8
    assert "| dawid_skene | 100,000,000 | database, extrapolated | 101 |" in text
    assert "| agreement | 100,000,000 | made in process, measured | 60.0 | 120 | 70 |" in text


def test_the_answers_import_benchmark_runs_and_renders(server_url: str) -> None:
    import argparse

    from benchmarks import import_answers

    args = argparse.Namespace(
        answers=600, items=120, workers=40, database_url=server_url,
        db_name=f"whs_import_smoke_{os.getpid()}",
    )  # fmt: skip
    result = import_answers.run(args)
    first = result["import"]
    assert (first["created"], first["failed"]) == (600, 0)
    assert result["again"]["existing"] == 600 and result["again"]["created"] == 0
    assert result["state"]["answers"] == result["state"]["quality_rows"] == 600
    # the server runs on this machine: its CPU per answer is measured, for both
    assert first["server_cpu_us_per_row"] > 0 and result["baseline"]["server_cpu_us_per_row"] > 0
    assert first["importer_cpu_us_per_row"] > 0
    text = import_answers.render(result)
    assert "answers import" in text.lower() and "µs per answer" in text
    with psycopg.connect(server_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (args.db_name,)
        ).fetchone() == (0,)
