"""`whstudio legacy rehearse`: the migration run on a sampled copy, the original only read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest

from whstudio.db import catalog
from whstudio.legacy.generate import generate
from whstudio.legacy.rehearse import rehearse


def _fingerprint(url: str) -> tuple:
    """The original's catalog and every row of every table, by value."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]  # fmt: skip
        rows = {
            t: conn.execute(
                f"SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM {t} x"
            ).fetchone()[0]
            for t in tables
        }
        schemas = conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall()
    return catalog.describe(url, skip_tables=()), rows, schemas


@pytest.mark.parametrize("notifications", [True, False], ids=["with_notifications", "without"])
def test_rehearse_reports_what_the_real_run_would_meet_and_touches_nothing(
    make_db, server_url, notifications
):
    url = make_db(migrated=False)
    generate(url, tasks=400, submissions=1200, notifications=notifications, seed=5)
    before = _fingerprint(url)
    report = rehearse(url, tasks=150)
    assert report.ok, report.as_dict()
    assert _fingerprint(url) == before, "the original is only read"
    with psycopg.connect(server_url) as conn:
        assert not conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE '%%whsrehearse%%'"
        ).fetchall(), "the scratch database is dropped"
    assert report.sampled["tasks"] == 150
    assert 0 < report.sampled["submissions"] < report.source_tables["submissions"]
    expected_absent = [] if notifications else [
        "notifications", "notification_preferences", "notification_templates"]  # fmt: skip
    assert report.absent == expected_absent
    assert report.keys["users"] == "id uuid"
    if notifications:
        assert report.keys["notification_templates"] == "id character varying(50)"
    held = report.quarantined["submissions"]
    assert any("chosen_response" in kind for kind in held), held
    assert all(entry["examples"] for entry in held.values())
    noted = report.normalised["submissions"]
    assert any(kind.startswith("confidence") and "read as" in kind for kind in noted), noted
    entry = next(iter(noted.values()))
    assert entry["estimated_in_whole_database"] >= entry["rows"]
    assert report.verify["ok"] and report.rollback_ok


def test_rehearse_from_the_command_line_takes_the_url_as_argument(make_db):
    url = make_db(migrated=False)
    generate(url, tasks=60, submissions=120, seed=6)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "whstudio", "legacy", "rehearse", url, "--tasks", "40", "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["sampled"]["tasks"] == 40


def test_rehearse_refuses_a_database_already_being_migrated(make_db, reference_url):
    from whstudio.legacy import steps

    url = make_db(migrated=False)
    generate(url, tasks=30, submissions=30, seed=7)
    steps.expand(url, reference_url=reference_url)
    with pytest.raises(steps.StepRefused, match="already being migrated"):
        rehearse(url, tasks=10)
