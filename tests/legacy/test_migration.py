"""The online migration, step by step, on generated legacy databases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from whstudio.db import catalog
from whstudio.legacy import objects, steps
from whstudio.legacy.verify import checksum_differences, verify

from .oldapp import OldApp

SYSTEM = "00000001-0000-4000-0000-000000000000"


def _user(conn, i: int) -> tuple:
    return conn.execute(
        "SELECT id, nullifier_hash FROM users ORDER BY id OFFSET %s LIMIT 1", (i,)
    ).fetchone()


def _snapshot(url: str) -> dict:
    """What the migration produced, by value (question ids are random, contents are not)."""
    with psycopg.connect(url) as conn:
        tasks = conn.execute(
            "SELECT t.id, q.question_type, q.content, q.gold_standard, t.consensus_threshold"
            "  FROM tasks t LEFT JOIN questions q ON q.id = t.question_id ORDER BY t.id"
        ).fetchall()
        subs = conn.execute(
            "SELECT id, chosen_response, confidence, explanation, time_spent_seconds, payload"
            "  FROM submissions ORDER BY id"
        ).fetchall()
        quarantine = conn.execute(
            "SELECT table_name, row_id, reason, raw FROM whs_legacy.quarantine ORDER BY 1, 2"
        ).fetchall()
        consensus = conn.execute(
            "SELECT task_id, count_a, count_b, total_responses, final_answer, consensus_reached"
            "  FROM response_consensus ORDER BY task_id"
        ).fetchall()
        n_questions = conn.execute("SELECT count(*) FROM questions").fetchone()[0]
    return {"tasks": tasks, "subs": subs, "quarantine": quarantine, "consensus": consensus,
            "questions": n_questions}  # fmt: skip


def _migrate(url: str, reference_url: str) -> None:
    steps.expand(url, reference_url=reference_url)
    steps.backfill(url, batch=50)


def test_expand_only_adds_and_a_rerun_changes_nothing(legacy_url, reference_url):
    with steps.connect(legacy_url) as conn:
        before = objects.read(conn).names()
    steps.expand(legacy_url, reference_url=reference_url)
    with steps.connect(legacy_url) as conn:
        after = objects.read(conn).names()
        assert before <= after
        assert {("table", "questions"), ("column", "tasks.question_id")} <= after - before
        assert checksum_differences(conn) == {}
        assert steps.state(conn)["step"] == "expanded"
    described = catalog.describe(legacy_url)
    assert steps.plan(legacy_url, reference_url=reference_url) == []
    steps.expand(legacy_url, reference_url=reference_url)
    assert catalog.describe(legacy_url) == described


def test_expand_builds_its_own_fresh_reference_from_the_revisions(legacy_url):
    report = steps.expand(legacy_url)
    assert any(s.target == "questions" for s in report.statements)
    with steps.connect(legacy_url) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database")]
    assert not [n for n in names if "_whsref_" in n]


def test_indexes_on_legacy_tables_are_built_concurrently_and_invalid_leftovers_rebuilt(
    legacy_url, reference_url
):
    fresh = steps.fresh_catalog(legacy_url, reference_url)
    with steps.connect(legacy_url) as conn:
        plan = objects.expand_plan(conn, objects.read(conn), fresh)
        on_legacy = [s for s in plan if s.kind == "index" and s.target.split(".")[0] == "tasks"]
        assert on_legacy and all("CONCURRENTLY" in s.sql for s in on_legacy)
        # every DDL statement on a legacy table says which lock it takes
        assert all(s.locks for s in plan)
    steps.expand(legacy_url, reference_url=reference_url)
    with steps.connect(legacy_url) as conn:
        # an interrupted concurrent build leaves an invalid index behind: make one
        conn.execute(
            "UPDATE pg_index SET indisvalid = false"
            " WHERE indexrelid = 'public.tasks_priority_idx'::regclass"
        )
    report = steps.expand(legacy_url, reference_url=reference_url)
    assert report.indexes["tasks.tasks_priority_idx"] == "rebuilt"
    with steps.connect(legacy_url) as conn:
        from whstudio.legacy import ddl

        assert ddl.index_state(conn, "tasks_priority_idx") is True


def test_constraints_on_legacy_tables_are_added_not_valid_then_validated_by_backfill(
    legacy_url, reference_url
):
    steps.expand(legacy_url, reference_url=reference_url)
    q = "SELECT convalidated FROM pg_constraint WHERE conname = 'tasks_question_id_fkey'"
    with steps.connect(legacy_url) as conn:
        assert conn.execute(q).fetchone() == (False,)
    steps.backfill(legacy_url)
    with steps.connect(legacy_url) as conn:
        assert conn.execute(q).fetchone() == (True,)


def test_ddl_gives_up_on_a_held_lock_and_retries(legacy_url):
    from whstudio.legacy import ddl

    holder = psycopg.connect(legacy_url)
    holder.execute("LOCK TABLE notifications IN ACCESS SHARE MODE")
    waits: list[float] = []
    with steps.connect(legacy_url) as conn:
        with pytest.raises(ddl.DDLTimeout):
            ddl.run(conn, "ALTER TABLE notifications ADD COLUMN x int", attempts=3,
                    sleep=waits.append)  # fmt: skip
        assert len(waits) == 2
        holder.rollback()
        assert ddl.run(conn, "ALTER TABLE notifications ADD COLUMN x int") == 1
    holder.close()


def test_backfill_quarantines_what_it_cannot_parse_with_reason_and_raw(legacy_url, reference_url):
    _migrate(legacy_url, reference_url)
    with psycopg.connect(legacy_url) as conn:
        rows = conn.execute(
            "SELECT z.table_name, z.reason, z.raw,"
            "       coalesce(t.instructions, s.submission_data::text)"
            "  FROM whs_legacy.quarantine z"
            "  LEFT JOIN tasks t ON z.table_name = 'tasks' AND t.id = z.row_id"
            "  LEFT JOIN submissions s ON z.table_name = 'submissions' AND s.id = z.row_id"
        ).fetchall()
    reasons = {r[1] for r in rows}
    for expected in ("not JSON", "empty instructions", "JSON string, not an object",
                     "JSON array, not an object",
                     "contains \\u0000, which PostgreSQL cannot store in JSONB",
                     "duplicate key gold with different values",
                     "chosen_response C is not A, B or tie"):  # fmt: skip
        assert expected in reasons
    assert all(raw == source for _, _, raw, source in rows)
    # an answer whose choice is clear is never held for its other fields
    assert not [r for r in reasons if r.startswith(("confidence", "time_spent"))]


def test_backfill_stores_one_question_per_distinct_content_normalised(legacy_url, reference_url):
    _migrate(legacy_url, reference_url)
    with psycopg.connect(legacy_url) as conn:
        # snake_case keys and lower-case gold land on the same question as the canonical form
        rows = conn.execute(
            "SELECT t.instructions, q.content, q.gold_standard FROM tasks t"
            "  JOIN questions q ON q.id = t.question_id"
            " WHERE t.task_type = 'pairwise_ab'"
        ).fetchall()
        assert any('"option_a"' in text for text, _, _ in rows)
        for _text, content, gold in rows:
            assert set(content) >= {"prompt", "optionA", "optionB"}
            assert "gold" not in content and gold in (None, "A", "B")
        (dupes,) = conn.execute(
            "SELECT count(*) FROM (SELECT content FROM questions GROUP BY question_type, content"
            " HAVING count(*) > 1) d"
        ).fetchone()
        assert dupes == 0
        (shared,) = conn.execute(
            "SELECT count(*) FROM (SELECT question_id FROM tasks WHERE question_id IS NOT NULL"
            " GROUP BY 1 HAVING count(*) > 1) d"
        ).fetchone()
        assert shared > 0


def test_backfill_leaves_legacy_columns_and_updated_at_alone(legacy_url, reference_url):
    with psycopg.connect(legacy_url) as conn:
        stamps = conn.execute(
            "SELECT (SELECT max(updated_at) FROM tasks), (SELECT max(updated_at) FROM submissions)"
        ).fetchone()
    _migrate(legacy_url, reference_url)
    with psycopg.connect(legacy_url) as conn:
        assert checksum_differences(conn) == {}
        assert (
            conn.execute(
                "SELECT (SELECT max(updated_at) FROM tasks),"
                " (SELECT max(updated_at) FROM submissions)"
            ).fetchone()
            == stamps
        )


def test_backfill_rerun_changes_nothing(legacy_url, reference_url):
    _migrate(legacy_url, reference_url)
    first = _snapshot(legacy_url)
    steps.backfill(legacy_url, batch=7)
    assert _snapshot(legacy_url) == first


def test_backfill_killed_with_sigkill_resumes_to_the_same_result(make_legacy, reference_url):
    whole, killed = make_legacy(seed=5), make_legacy(seed=5)
    _migrate(whole, reference_url)
    steps.expand(killed, reference_url=reference_url)
    code = (
        "import sys; from whstudio.legacy import steps;"
        "steps.backfill(sys.argv[1], batch=10, rate=150)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, killed])
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with psycopg.connect(killed) as conn:
                row = conn.execute("SELECT sum(migrated) FROM whs_legacy.progress").fetchone()
            if row[0] and row[0] > 30:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    with psycopg.connect(killed) as conn:
        (unfinished,) = conn.execute(
            "SELECT count(*) FROM whs_legacy.progress WHERE finished_at IS NULL"
        ).fetchone()
    assert unfinished >= 1, "the kill came after the backfill had finished"
    steps.backfill(killed, batch=50)
    assert _snapshot(killed) == _snapshot(whole)
    assert verify(killed).ok


def test_old_app_prepared_statements_work_after_every_step(legacy_url, reference_url):
    app = OldApp(legacy_url)
    with psycopg.connect(legacy_url) as conn:
        user, nullifier = _user(conn, 3)
    other = []
    with psycopg.connect(legacy_url) as conn:
        other = [_user(conn, i) for i in range(10, 20)]
    app.exercise(SYSTEM, user, nullifier)  # prepared before anything changed
    for i, step in enumerate(("expand", "backfill", "verify", "switch", "rollback")):
        if step == "expand":
            steps.expand(legacy_url, reference_url=reference_url)
        elif step == "backfill":
            steps.backfill(legacy_url)
        elif step == "verify":
            assert verify(legacy_url).ok
        elif step == "switch":
            steps.switch(legacy_url, "new")
        else:
            assert steps.rollback(legacy_url).ok
        app.exercise(SYSTEM, *other[i])
    app.close()


def test_old_path_writes_reach_the_new_structure(legacy_url, reference_url):
    steps.expand(legacy_url, reference_url=reference_url)
    steps.backfill(legacy_url, max_batches=1, batch=20)  # part done: triggers carry the rest
    app = OldApp(legacy_url)
    with psycopg.connect(legacy_url) as conn:
        (u1, n1), (u2, n2) = _user(conn, 5), _user(conn, 6)
    doc = {"type": "pairwise_ab", "prompt": "Which is kinder?", "option_a": "x", "optionB": "y",
           "gold": "b"}  # fmt: skip
    task = app.insert_task(SYSTEM, json.dumps(doc))
    s1 = app.insert_submission(task, u1, n1, {"chosen_response": "a", "confidence_score": 4})
    s2 = app.insert_submission(task, u2, n2, {"chosen_response": "B", "confidence": 2})
    app.update_submission(s1, {"chosen_response": "b", "confidence": 5})
    with psycopg.connect(legacy_url) as conn:
        content, gold = conn.execute(
            "SELECT q.content, q.gold_standard FROM tasks t"
            " JOIN questions q ON q.id = t.question_id"
            " WHERE t.id = %s",
            (task,),
        ).fetchone()
        assert content == {"prompt": "Which is kinder?", "optionA": "x", "optionB": "y"}
        assert gold == "B"
        got = conn.execute(
            "SELECT id, chosen_response, confidence FROM submissions WHERE id = ANY(%s)",
            ([s1, s2],),
        ).fetchall()
        assert sorted(got) == sorted([(s1, "B", 5), (s2, "B", 2)])
        assert conn.execute(
            "SELECT count_b, total_responses FROM response_consensus WHERE task_id = %s", (task,)
        ).fetchone() == (2, 2)
    # an unparseable write is quarantined, a fix through the old path releases it
    app.update_task(task, "compare these")
    with psycopg.connect(legacy_url) as conn:
        assert conn.execute(
            "SELECT reason FROM whs_legacy.quarantine WHERE row_id = %s", (task,)
        ).fetchone() == ("not JSON",)
    app.update_task(task, json.dumps(doc))
    steps.backfill(legacy_url)
    report = verify(legacy_url)
    assert report.ok, report.as_dict()
    with psycopg.connect(legacy_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM whs_legacy.quarantine WHERE row_id = %s", (task,)
        ).fetchone() == (0,)
    app.close()


def test_new_path_writes_reach_the_legacy_columns(legacy_url, reference_url):
    _migrate(legacy_url, reference_url)
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        task, question = conn.execute(
            "SELECT t.id, t.question_id FROM tasks t JOIN questions q ON q.id = t.question_id"
            " WHERE q.question_type = 'pairwise_ab' ORDER BY t.id LIMIT 1"
        ).fetchone()
        user, nullifier = conn.execute(
            "SELECT u.id, u.nullifier_hash FROM users u WHERE NOT EXISTS (SELECT FROM submissions s"
            " WHERE s.task_id = %s AND s.user_id = u.id) ORDER BY u.id LIMIT 1",
            (task,),
        ).fetchone()
        sid = conn.execute(
            "INSERT INTO submissions (task_id, user_id, chosen_response, confidence,"
            " time_spent_seconds) VALUES (%s, %s, 'A', 3, 40) RETURNING id",
            (task, user),
        ).fetchone()[0]
        data, nul = conn.execute(
            "SELECT submission_data, submitter_nullifier FROM submissions WHERE id = %s", (sid,)
        ).fetchone()
        assert data == {"chosen_response": "A", "confidence": 3, "time_spent_seconds": 40}
        assert nul == nullifier
        conn.execute("UPDATE submissions SET chosen_response = 'B' WHERE id = %s", (sid,))
        assert conn.execute(
            "SELECT submission_data ->> 'chosen_response' FROM submissions WHERE id = %s", (sid,)
        ).fetchone() == ("B",)
        # the criteria ticked go back as the old clients wrote them
        conn.execute(
            "UPDATE submissions SET reasons = '{helpfulness,accuracy}' WHERE id = %s", (sid,)
        )
        assert conn.execute(
            "SELECT submission_data -> 'rating_reasons' FROM submissions WHERE id = %s", (sid,)
        ).fetchone() == (["helpfulness", "accuracy"],)
        new_task = conn.execute(
            "INSERT INTO tasks (question_id, creator_id, title, description, reward_amount)"
            " VALUES (%s, %s, 'new path', 'd', 1) RETURNING id",
            (question, SYSTEM),
        ).fetchone()[0]
        text, ttype = conn.execute(
            "SELECT instructions, task_type FROM tasks WHERE id = %s", (new_task,)
        ).fetchone()
        assert ttype == "pairwise_ab" and json.loads(text)["optionA"]
        assert conn.execute(
            "SELECT count(*) FROM response_consensus WHERE task_id = %s", (new_task,)
        ).fetchone() == (1,)
    assert verify(legacy_url).ok


def test_the_legacy_sybil_rule_holds_during_the_migration(legacy_url, reference_url):
    _migrate(legacy_url, reference_url)
    app = OldApp(legacy_url)
    with psycopg.connect(legacy_url) as conn:
        task, user, nullifier = conn.execute(
            "SELECT task_id, user_id, submitter_nullifier FROM submissions LIMIT 1"
        ).fetchone()
        other = conn.execute("SELECT id FROM users WHERE id <> %s LIMIT 1", (user,)).fetchone()[0]
    with pytest.raises(psycopg.errors.UniqueViolation):
        app.insert_submission(task, other, nullifier, {"chosen_response": "A"})
    app.close()


def test_verify_fails_on_a_changed_legacy_row_or_a_wrong_migrated_value(legacy_url, reference_url):
    _migrate(legacy_url, reference_url)
    assert verify(legacy_url).ok
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        with conn.transaction():
            # a write that bypasses the change log, as a faulty migration step would
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(
                "UPDATE submissions SET chosen_response = CASE chosen_response WHEN 'A' THEN 'B'"
                " ELSE 'A' END WHERE id = (SELECT id FROM submissions"
                " WHERE chosen_response IS NOT NULL ORDER BY id LIMIT 1)"
            )
            conn.execute(
                "UPDATE payments SET amount = amount + 1"
                " WHERE id = (SELECT id FROM payments ORDER BY id LIMIT 1)"
            )
    report = verify(legacy_url)
    assert not report.ok
    assert report.checksums == {"payments": {"vanished": 0, "appeared": 0, "changed": 1}}
    assert len(report.json_mismatches["submissions"]) == 1
    assert report.consensus_drift == 1
    with steps.connect(legacy_url) as conn:
        assert steps.state(conn)["step"] == "backfilled"


@pytest.mark.parametrize("step", ["expanded", "backfilled", "verified", "switched"])
def test_rollback_from_every_step_restores_schema_and_checksums(
    make_db, make_legacy, reference_url, step
):
    url = make_legacy(seed=2)
    pristine = make_db(migrated=False)
    from whstudio.legacy.generate import generate

    generate(pristine, tasks=300, submissions=400, seed=2)
    app = OldApp(url)
    steps.expand(url, reference_url=reference_url)
    if step != "expanded":
        steps.backfill(url)
    if step in ("verified", "switched"):
        assert verify(url).ok
    if step == "switched":
        steps.switch(url, "new")
    with psycopg.connect(url) as conn:
        user, nullifier = _user(conn, 9)
    written = app.exercise(SYSTEM, user, nullifier)
    report = steps.rollback(url)
    assert report.ok, (report.catalog_diff, report.checksum_problems)
    assert catalog.diff(url, pristine, skip_tables=()) == []
    with steps.connect(url) as conn:
        assert steps.state(conn)["step"] == "rolled_back"
        assert steps.state(conn)["read_path"] == "old"
        # what the old application wrote during the migration is still there
        assert conn.execute(
            "SELECT submission_data FROM submissions WHERE id = %s", (written["submission"],)
        ).fetchone() == ({"chosen_response": "B", "confidence": 5},)
    assert steps.rollback(url).ok  # a rerun changes nothing
    app.exercise(SYSTEM, *_user(psycopg.connect(url), 11))
    app.close()


def test_steps_refuse_out_of_order(legacy_url, reference_url):
    with pytest.raises(steps.StepRefused):
        steps.backfill(legacy_url)
    steps.expand(legacy_url, reference_url=reference_url)
    with pytest.raises(steps.StepRefused):
        steps.switch(legacy_url, "new")
    steps.backfill(legacy_url)
    assert verify(legacy_url).ok
    assert steps.switch(legacy_url, "new") == "old"
    assert steps.switch(legacy_url, "old") == "new"
    with steps.connect(legacy_url) as conn:
        assert conn.execute("SELECT step FROM whs_legacy.history ORDER BY id").fetchall() == [
            ("expand",),
            ("backfill",),
            ("verify",),
            ("switch",),
            ("switch",),
        ]


@pytest.mark.parametrize("batch", [50, 2])
def test_backfill_gives_a_shared_question_one_gold_whatever_the_batches(
    legacy_url, reference_url, batch
):
    # four tasks with one content, after every generated one (their ids sort last), in id order:
    # no gold, gold "a", gold B, no gold
    golds = [None, "a", "B", None]
    ids = [f"ffffffff-0000-4000-0000-00000000000{i}" for i in range(4)]
    with psycopg.connect(legacy_url) as conn:
        for i, gold in zip(ids, golds, strict=True):
            doc = {"type": "pairwise_ab", "prompt": "shared", "optionA": "x", "optionB": "y"}
            if gold is not None:
                doc["gold"] = gold
            conn.execute(
                "INSERT INTO tasks (id, creator_id, title, description, instructions, task_type,"
                " reward_amount, max_submissions, status)"
                " VALUES (%s, %s, 't', 'd', %s, 'pairwise_ab', 1, 3, 'active')",
                (i, SYSTEM, json.dumps(doc)),
            )
    steps.expand(legacy_url, reference_url=reference_url)
    steps.backfill(legacy_url, batch=batch)
    with psycopg.connect(legacy_url) as conn:
        rows = dict(
            conn.execute(
                "SELECT t.id::text, q.gold_standard FROM tasks t"
                " LEFT JOIN questions q ON q.id = t.question_id WHERE t.id = ANY(%s::uuid[])",
                (ids,),
            ).fetchall()
        )
        (reason,) = conn.execute(
            "SELECT reason FROM whs_legacy.quarantine WHERE table_name = 'tasks' AND row_id = %s",
            (ids[2],),
        ).fetchone()
        (questions,) = conn.execute(
            "SELECT count(*) FROM questions WHERE content ->> 'prompt' = 'shared'"
        ).fetchone()
    assert questions == 1
    assert [rows[i] for i in ids] == ["A", "A", None, "A"]
    assert reason == 'gold "B" conflicts with gold "A" of the same question in another task'
    assert verify(legacy_url).ok


def test_an_old_path_edit_locks_its_counter_shard_in_one_order_first(legacy_url, reference_url):
    # An edit of instructions moves the task's counter rows twice; two such writers could take
    # them in opposite orders (a deadlock at 10^6 rows). The whole shard is locked up front.
    steps.expand(legacy_url, reference_url=reference_url)
    steps.backfill(legacy_url)
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        task, shard = conn.execute(
            "SELECT t.id, abs(hashtext(t.id::text)) % 16 FROM tasks t"
            " WHERE t.question_id IS NOT NULL AND t.task_type = 'pairwise_ab'"
            "   AND (SELECT count(*) FROM task_counts k"
            "         WHERE k.shard = abs(hashtext(t.id::text)) % 16) > 2"
            " ORDER BY t.id LIMIT 1"
        ).fetchone()
        doc = {"type": "pairwise_ab", "prompt": "edited once", "optionA": "x", "optionB": "y"}
        with psycopg.connect(legacy_url) as writer:  # the old application, mid-transaction
            writer.execute(
                "UPDATE tasks SET instructions = %s WHERE id = %s", (json.dumps(doc), task)
            )
            rows = conn.execute(
                "SELECT task_status, question_type, source_dataset, consensus_reached,"
                " needs_more, has_gold FROM task_counts WHERE shard = %s",
                (shard,),
            ).fetchall()
            locked = 0
            for row in rows:
                try:
                    conn.execute(
                        "SELECT 1 FROM task_counts WHERE shard = %s AND (task_status,"
                        " question_type, source_dataset, consensus_reached, needs_more,"
                        " has_gold) = (%s, %s, %s, %s, %s, %s) FOR UPDATE NOWAIT",
                        (shard, *row),
                    )
                except psycopg.errors.LockNotAvailable:
                    locked += 1
            writer.rollback()
    assert len(rows) > 2 and locked == len(rows)


def test_old_path_writes_and_the_backfill_commit_without_notifying(legacy_url, reference_url):
    # A transaction that notified commits one at a time behind the others' WAL flushes (at 10^6
    # rows old-application writes queued for seconds): the old path and the backfill defer
    # their consensus events; the app's listener finds the rows by version (ConsensusBroker).
    steps.expand(legacy_url, reference_url=reference_url)
    with psycopg.connect(legacy_url, autocommit=True) as listener:
        listener.execute("LISTEN whstudio_consensus")
        steps.backfill(legacy_url)
        app = OldApp(legacy_url)
        with psycopg.connect(legacy_url) as conn:
            (u1, n1), (u2, n2) = _user(conn, 7), _user(conn, 8)
            before = conn.execute("SELECT max(version) FROM response_consensus").fetchone()[0]
        doc = {"type": "pairwise_ab", "prompt": "Quieter?", "optionA": "x", "optionB": "y"}
        task = app.insert_task(SYSTEM, json.dumps(doc))
        s1 = app.insert_submission(task, u1, n1, {"chosen_response": "A", "confidence": 4})
        app.insert_submission(task, u2, n2, {"chosen_response": "B", "confidence": 2})
        app.update_submission(s1, {"chosen_response": "B", "confidence": 5})
        app.update_task(task, json.dumps({**doc, "prompt": "Quieter still?"}))
        app.close()
        heard = list(listener.notifies(timeout=0.5))
        with psycopg.connect(legacy_url) as conn:
            row = conn.execute(
                "SELECT count_b, total_responses, version FROM response_consensus"
                " WHERE task_id = %s",
                (task,),
            ).fetchone()
    assert heard == []
    assert row[:2] == (2, 2) and row[2] > before  # changed, with a newer version to find
    # nor are the events kept in the transaction: a bulk edit of many answers stays linear
    with psycopg.connect(legacy_url) as conn:
        changed = conn.execute(
            'UPDATE submissions SET submission_data = \'{"chosen_response": "A"}\''
            " WHERE id IN (SELECT id FROM submissions WHERE chosen_response IS NOT NULL"
            " ORDER BY id LIMIT 50)"
        ).rowcount
        kept = conn.execute(
            "SELECT current_setting('whstudio.defer_events', true),"
            " coalesce(current_setting('whstudio.deferred_events', true), '')"
        ).fetchone()
        conn.rollback()
    assert changed == 50 and kept == ("silent", "")
    # a new-path write still notifies in its own transaction
    with psycopg.connect(legacy_url, autocommit=True) as listener:
        listener.execute("LISTEN whstudio_consensus")
        with psycopg.connect(legacy_url) as conn:
            conn.execute(
                "SELECT submit_answer_v1(%s, %s, 'A', NULL, NULL, NULL, 3, NULL, 5, 'AB', NULL)",
                (task, _user(conn, 9)[0]),
            )
        assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [
            "whstudio_consensus"
        ]


def test_backfill_rate_caps_rows_per_second_and_changes_no_result(make_legacy, reference_url):
    capped, free = make_legacy(seed=6), make_legacy(seed=6)
    _migrate(free, reference_url)
    steps.expand(capped, reference_url=reference_url)
    rate = 300.0
    seen: list[tuple[float, int]] = []
    started = time.monotonic()
    phases = steps.backfill(
        capped,
        batch=20,
        rate=rate,
        on_progress=lambda p: seen.append((time.monotonic(), p.migrated + p.quarantined)),
    )
    elapsed = time.monotonic() - started
    rows = sum(p.migrated + p.quarantined for p in phases)
    assert rows > 100 and len(seen) > 5
    # each batch is followed by the pause that brings it down to the rate
    assert rows / elapsed <= rate * 1.02, (rows, elapsed)
    assert _snapshot(capped) == _snapshot(free)
