"""Contract: after verify and switch, with --confirm, never while the old path still writes; the
result is structurally a fresh install (a catalog diff), and answers may then be revised."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from whstudio.db import catalog, migrate
from whstudio.legacy import contract, generate, steps
from whstudio.legacy.verify import verify

from .oldapp import OldApp

SYSTEM = "00000001-0000-4000-0000-000000000000"


def _ready(url: str, reference_url: str) -> None:
    steps.expand(url, reference_url=reference_url)
    steps.backfill(url)
    generate.repair_quarantined(url)
    assert verify(url).ok
    steps.switch(url, "new")


def test_contract_leaves_exactly_a_fresh_install_and_every_legacy_row(
    legacy_url, reference_url, make_db
):
    with psycopg.connect(legacy_url) as conn:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in steps.LEGACY_TABLES
        }
    _ready(legacy_url, reference_url)
    report = contract.contract(legacy_url, reference_url=reference_url, quiet_seconds=0.2)
    assert report.catalog_diff == []
    fresh = make_db()
    skip = ("alembic_version", *contract.KEPT_TABLES)
    assert catalog.diff(fresh, legacy_url, skip_tables=skip) == []
    assert migrate.current_revision(legacy_url) == migrate.head_revision()
    with psycopg.connect(legacy_url) as conn:
        for table, n in counts.items():
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == n, table
        # the old columns' values are archived, not lost
        assert report.archived == {"tasks": counts["tasks"], "submissions": counts["submissions"]}
        assert (
            conn.execute(
                "SELECT count(*) FROM whs_legacy.archive_tasks a JOIN tasks t USING (id)"
            ).fetchone()[0]
            == counts["tasks"]
        )
        # foreign keys of the kept tables still hold
        assert (
            conn.execute(
                "SELECT count(*) FROM payments p WHERE NOT EXISTS"
                " (SELECT FROM submissions s WHERE s.id = p.submission_id)"
            ).fetchone()[0]
            == 0
        )
        assert steps.state(conn)["step"] == "contracted"
        assert conn.execute("SELECT count(*) FROM users WHERE username IS NULL").fetchone()[0] == 0
    with pytest.raises(steps.StepRefused):
        steps.rollback(legacy_url)


def test_after_contract_a_second_answer_is_a_new_version_and_the_sybil_rule_holds(
    legacy_url, reference_url
):
    _ready(legacy_url, reference_url)
    contract.contract(legacy_url, reference_url=reference_url, quiet_seconds=0)
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        task, user = conn.execute(
            "SELECT s.task_id, s.user_id FROM submissions s"
            " JOIN tasks t ON t.id = s.task_id JOIN questions q ON q.id = t.question_id"
            " WHERE q.question_type = 'pairwise_ab' AND t.status = 'active'"
            "   AND (t.expires_at IS NULL OR t.expires_at > now())"
            "   AND (SELECT count(*) FROM submissions x WHERE x.task_id = t.id) >= 2"
            " ORDER BY s.id LIMIT 1"
        ).fetchone()
        # another account's answer to the same task, not revised: its nullifier is taken
        (nullifier,) = conn.execute(
            "SELECT submitter_nullifier FROM submissions WHERE task_id = %s AND user_id <> %s"
            " LIMIT 1",
            (task, user),
        ).fetchone()
        result = conn.execute(
            "SELECT submit_answer_v1(%s, %s, 'B', NULL, NULL, NULL, 4, NULL, 30, 'AB', NULL)",
            (task, user),
        ).fetchone()[0]
        assert result["response_version"] == 2
        assert conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_latest) FROM submissions"
            " WHERE task_id = %s AND user_id = %s",
            (task, user),
        ).fetchone() == (2, 1)
        other = conn.execute(
            "SELECT id FROM users u WHERE NOT EXISTS (SELECT FROM submissions s"
            " WHERE s.task_id = %s AND s.user_id = u.id) LIMIT 1",
            (task,),
        ).fetchone()[0]
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO submissions (task_id, user_id, chosen_response, submitter_nullifier)"
                " VALUES (%s, %s, 'A', %s)",
                (task, other, nullifier),
            )


def test_contract_refuses_before_verify_and_switch_and_with_open_quarantine(
    legacy_url, reference_url
):
    steps.expand(legacy_url, reference_url=reference_url)
    steps.backfill(legacy_url)
    with pytest.raises(steps.StepRefused, match="verified"):
        contract.contract(legacy_url, reference_url=reference_url, quiet_seconds=0)
    generate.repair_quarantined(legacy_url)
    assert verify(legacy_url).ok
    with pytest.raises(steps.StepRefused, match="new read path"):
        contract.contract(legacy_url, reference_url=reference_url, quiet_seconds=0)
    steps.switch(legacy_url, "new")
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        tid = conn.execute("SELECT id FROM tasks ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute("UPDATE tasks SET instructions = 'no longer JSON' WHERE id = %s", (tid,))
    with pytest.raises(steps.StepRefused, match="quarantine"):
        contract.contract(legacy_url, reference_url=reference_url, quiet_seconds=0)


def test_contract_refuses_while_the_old_application_still_writes(legacy_url, reference_url):
    _ready(legacy_url, reference_url)
    app = OldApp(legacy_url)
    stop = threading.Event()

    def old_app_writes() -> None:
        n = 0
        while not stop.is_set():
            app.insert_task(
                SYSTEM, f'{{"prompt": "still here {n}", "optionA": "a", "optionB": "b"}}'
            )
            n += 1
            time.sleep(0.05)

    writer = threading.Thread(target=old_app_writes)
    writer.start()
    try:
        with pytest.raises(steps.StepRefused, match="old-path writes still arrive"):
            contract.contract(legacy_url, reference_url=reference_url, quiet_seconds=0.5)
    finally:
        stop.set()
        writer.join()
        app.close()
    with steps.connect(legacy_url) as conn:
        assert steps.state(conn)["step"] == "verified"
