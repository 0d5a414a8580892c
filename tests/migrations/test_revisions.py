"""Schema revisions: each applies and reverts cleanly, and together they equal schema.sql."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import psycopg

from whstudio.db import catalog, migrate
from whstudio.migrations.sqlfile import sections

VERSIONS = Path(str(resources.files("whstudio.migrations"))) / "versions"
SNAPSHOT = Path(str(resources.files("whstudio.migrations"))) / "schema.sql"


def test_upgrade_downgrade_upgrade_returns_to_the_same_schema(make_db):
    url = make_db(migrated=False)
    migrate.upgrade(url, "head")
    first = catalog.describe(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    leftovers = [line for line in catalog.describe(url) if not line.startswith("function ")]
    assert leftovers == []
    with psycopg.connect(url) as conn:
        functions = conn.execute(
            "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public'"
        ).fetchall()
    assert functions == []
    migrate.upgrade(url, "head")
    assert catalog.describe(url) == first


def test_each_revision_steps_down_and_up_again(make_db):
    url = make_db(migrated=False)
    for revision in migrate.revisions():
        migrate.upgrade(url, revision)
        after_up = catalog.describe(url)
        migrate.downgrade(url, "-1")
        migrate.upgrade(url, revision)
        assert catalog.describe(url) == after_up, revision


def test_upgrade_head_equals_the_schema_snapshot(make_db, db_url):
    from_snapshot = make_db(migrated=False)
    with psycopg.connect(from_snapshot, autocommit=True) as conn:
        conn.execute(SNAPSHOT.read_text())
    difference = catalog.diff(from_snapshot, db_url)
    assert difference == [], "schema.sql is stale; regenerate it:\n" + "\n".join(difference)


def test_every_revision_file_has_up_and_down_sql():
    revisions = sorted(VERSIONS.glob("*.py"))
    assert revisions
    for path in revisions:
        up, down = sections(path.with_suffix(".sql"))
        assert up and down, path.name
        assert path.stem.split("_")[1] in ("expand", "contract", "data"), path.name


def test_upgrading_to_live_consensus_counts_answers_already_stored(make_db):
    url = make_db(migrated=False)
    migrate.upgrade(url, "0001")
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO users (id, username) VALUES"
            " ('00000000-0000-0000-0000-000000000001', 'a'),"
            " ('00000000-0000-0000-0000-000000000002', 'b')"
        )
        conn.execute(
            "INSERT INTO questions (id, question_type, content) VALUES"
            " ('00000000-0000-0000-0000-0000000000aa', 'pairwise_ab',"
            ' \'{"prompt": "p", "optionA": "a", "optionB": "b"}\')'
        )
        conn.execute(
            "INSERT INTO tasks (id, question_id, title, consensus_threshold) VALUES"
            " ('00000000-0000-0000-0000-0000000000bb', '00000000-0000-0000-0000-0000000000aa',"
            " 't', 2)"
        )
        for user in (
            "00000000-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000002",
        ):
            conn.execute(
                "INSERT INTO submissions (task_id, user_id, chosen_response)"
                " VALUES ('00000000-0000-0000-0000-0000000000bb', %s, 'A')",
                [user],
            )
    migrate.upgrade(url, "head")
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT total_responses, consensus_reached, task_active, remaining"
            " FROM response_consensus"
        ).fetchone()
    assert row == (2, True, True, 0)
    # Revision 0005 gave those answers quality rows and their annotators counters, set-based.
    from whstudio.db.queries import QUERIES

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM response_quality_metrics").fetchone()
        answers = conn.execute("SELECT sum(answers) FROM annotator_stats").fetchone()
        drift = conn.execute(QUERIES["quality.stats_drift"]).fetchall()
        assert rows == (2,) and answers == (2,) and drift == []
        # and the refresh judges them like any other answers
        judged = conn.execute(QUERIES["quality.rejudge"]).rowcount
        assert judged == 2
        assert conn.execute(QUERIES["quality.stats_drift"]).fetchall() == []
