"""Every data rule is a constraint: the database refuses each kind of bad row by itself."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

PAIR = {"prompt": "Which is better?", "optionA": "one", "optionB": "two"}


async def _user(conn, name="ann", role="annotator"):
    cur = await conn.execute(
        "INSERT INTO users (username, role) VALUES (%s, %s) RETURNING id", [name, role]
    )
    return (await cur.fetchone())["id"]


async def _question(conn, content=None, qtype="pairwise_ab", gold=None):
    cur = await conn.execute(
        "INSERT INTO questions (question_type, content, gold_standard) VALUES (%s, %s, %s)"
        " RETURNING id",
        [qtype, Jsonb(content or PAIR), Jsonb(gold) if gold is not None else None],
    )
    return (await cur.fetchone())["id"]


async def _task(conn, question_id, **cols):
    names = ["question_id", "title", *cols]
    values = [question_id, "t", *cols.values()]
    placeholders = ", ".join(["%s"] * len(values))
    cur = await conn.execute(
        f"INSERT INTO tasks ({', '.join(names)}) VALUES ({placeholders}) RETURNING id", values
    )
    return (await cur.fetchone())["id"]


async def _refused(conn, statement, params, constraint):
    async with conn.transaction():
        await conn.execute("SAVEPOINT s")
    with pytest.raises(psycopg.errors.IntegrityError) as info:
        async with conn.transaction():
            await conn.execute(statement, params)
    assert info.value.diag.constraint_name == constraint, info.value


BAD_USERS = [
    ({"username": "has space"}, "users_username_check"),
    ({"username": "x", "role": "owner"}, "users_role_check"),
    ({"username": "y", "password_hash": "plaintext"}, "users_password_hash_check"),
    ({"username": "z", "reputation_score": -1}, "users_reputation_score_check"),
    ({"username": "w", "verification_level": "email"}, "users_verification_level_check"),
    ({"username": "v", "total_earned": -5}, "users_total_earned_check"),
]


@pytest.mark.parametrize(("row", "constraint"), BAD_USERS)
async def test_bad_users_are_refused(conn, row, constraint):
    cols = ", ".join(row)
    await _refused(
        conn,
        f"INSERT INTO users ({cols}) VALUES ({', '.join(['%s'] * len(row))})",
        list(row.values()),
        constraint,
    )


async def test_usernames_are_unique(conn):
    await _user(conn, "same")
    await _refused(conn, "INSERT INTO users (username) VALUES (%s)", ["same"], "users_username_key")


BAD_QUESTIONS = [
    ("pairwise_ab", {"prompt": "p", "optionA": "a"}, None, "questions_content_check"),
    (
        "pairwise_ab",
        {"prompt": "", "optionA": "a", "optionB": "b"},
        None,
        "questions_content_check",
    ),
    ("pairwise_ab", {"prompt": "p", "optionA": "a", "optionB": 3}, None, "questions_content_check"),
    ("pairwise_ab", {**PAIR, "gold": "A"}, None, "questions_content_check"),
    ("pairwise_ab", PAIR, "C", "questions_gold_standard_check"),
    ("pairwise_ab", ["not", "an", "object"], None, "questions_content_check"),
    ("ranking", {"prompt": "p", "options": ["only one"]}, None, "questions_content_check"),
    ("ranking", {"prompt": "p", "options": ["a", 2]}, None, "questions_content_check"),
    (
        "ranking",
        {"prompt": "p", "options": ["a", "b", "c"]},
        [0, 1, 1],
        "questions_gold_standard_check",
    ),
    ("ranking", {"prompt": "p", "options": ["a", "b"]}, [0, 1.5], "questions_gold_standard_check"),
    ("voice_transcription", {"prompt": "p"}, None, "questions_content_check"),
    ("text_generation", {"prompt": "p"}, "", "questions_gold_standard_check"),
    ("multiple_choice", {"prompt": "p"}, None, "questions_question_type_check"),
]


@pytest.mark.parametrize(("qtype", "content", "gold", "constraint"), BAD_QUESTIONS)
async def test_bad_questions_are_refused(conn, qtype, content, gold, constraint):
    await _refused(
        conn,
        "INSERT INTO questions (question_type, content, gold_standard) VALUES (%s, %s, %s)",
        [qtype, Jsonb(content), Jsonb(gold) if gold is not None else None],
        constraint,
    )


async def test_good_questions_of_every_type_are_accepted(conn):
    await _question(conn, PAIR, gold="tie")
    await _question(conn, {"prompt": "order", "options": ["a", "b", "c"]}, "ranking", [2, 0, 1])
    await _question(conn, {"prompt": "write"}, "text_generation", "a reference")
    await _question(
        conn,
        {"prompt": "listen", "audio_url": "https://x/a.wav"},
        "voice_transcription",
        "hello world",
    )


async def test_the_same_content_is_stored_once(conn):
    await _question(conn, PAIR)
    reordered = {"optionB": "two", "prompt": "Which is better?", "optionA": "one"}
    await _refused(
        conn,
        "INSERT INTO questions (question_type, content) VALUES (%s, %s)",
        ["pairwise_ab", Jsonb(reordered)],
        "questions_content_hash_key",
    )


async def test_a_first_version_starts_its_own_lineage(conn):
    qid = await _question(conn)
    cur = await conn.execute("SELECT lineage_id, version FROM questions WHERE id = %s", [qid])
    assert await cur.fetchone() == {"lineage_id": qid, "version": 1}


BAD_TASKS = [
    ({"consensus_threshold": 0}, "tasks_consensus_threshold_check"),
    ({"min_agreement_percentage": 0}, "tasks_min_agreement_percentage_check"),
    ({"min_agreement_percentage": 100.5}, "tasks_min_agreement_percentage_check"),
    ({"status": "open"}, "tasks_status_check"),
    ({"priority": 6}, "tasks_priority_check"),
    ({"reward_amount": -1}, "tasks_reward_amount_check"),
    ({"reward_currency": "EUR"}, "tasks_reward_currency_check"),
    ({"difficulty_level": 0}, "tasks_difficulty_level_check"),
    ({"estimated_time_minutes": 0}, "tasks_estimated_time_minutes_check"),
]


@pytest.mark.parametrize(("cols", "constraint"), BAD_TASKS)
async def test_bad_tasks_are_refused(conn, cols, constraint):
    qid = await _question(conn)
    names = ", ".join(["question_id", "title", *cols])
    await _refused(
        conn,
        f"INSERT INTO tasks ({names}) VALUES ({', '.join(['%s'] * (2 + len(cols)))})",
        [qid, "t", *cols.values()],
        constraint,
    )


async def test_a_task_needs_an_existing_question(conn):
    await _refused(
        conn,
        "INSERT INTO tasks (question_id, title) VALUES (gen_random_uuid(), 't')",
        [],
        "tasks_question_id_fkey",
    )


async def test_every_task_gets_exactly_one_consensus_row(conn):
    tid = await _task(conn, await _question(conn))
    cur = await conn.execute(
        "SELECT count(*) AS n, bool_and(total_responses = 0) AS empty"
        " FROM response_consensus WHERE task_id = %s",
        [tid],
    )
    assert await cur.fetchone() == {"n": 1, "empty": True}
    await _refused(
        conn,
        "INSERT INTO response_consensus (task_id, task_status, question_type)"
        " VALUES (%s, 'active', 'pairwise_ab')",
        [tid],
        "response_consensus_pkey",
    )


BAD_CONSENSUS = [
    ("count_a = -1", "response_consensus_counts_check"),
    ("count_a = 5, total_responses = 4", "response_consensus_counts_check"),
    ("agreement_percentage = 101", "response_consensus_agreement_check"),
    ("consensus_reached = true, final_answer = NULL", "response_consensus_reached_check"),
    ("weight_b = -0.5", "response_consensus_weights_check"),
    ("weighted_agreement_percentage = -1", "response_consensus_weighted_agreement_check"),
]


@pytest.mark.parametrize(("assignment", "constraint"), BAD_CONSENSUS)
async def test_bad_consensus_rows_are_refused(conn, assignment, constraint):
    tid = await _task(conn, await _question(conn))
    await _refused(
        conn, f"UPDATE response_consensus SET {assignment} WHERE task_id = %s", [tid], constraint
    )


async def _submission_setup(conn, *, allow_tie=False, qtype="pairwise_ab", content=None):
    uid = await _user(conn)
    qid = await _question(conn, content, qtype)
    tid = await _task(conn, qid, allow_tie=allow_tie)
    return uid, qid, tid


INSERT_SUBMISSION = (
    "INSERT INTO submissions (task_id, user_id, chosen_response, confidence, time_spent_seconds,"
    " explanation, shown_order, payload, idempotency_key, response_version)"
    " VALUES (%(task)s, %(user)s, %(choice)s, %(confidence)s, %(time)s, %(explanation)s,"
    " %(order)s, %(payload)s, %(key)s, %(version)s)"
)

BAD_SUBMISSIONS = [
    ({"choice": "C"}, "submissions_chosen_response_check"),
    ({"confidence": 6}, "submissions_confidence_check"),
    ({"confidence": 0}, "submissions_confidence_check"),
    ({"time": -1}, "submissions_time_spent_seconds_check"),
    ({"time": 86401}, "submissions_time_spent_seconds_check"),
    ({"explanation": "x" * 5001}, "submissions_explanation_check"),
    ({"order": "AA"}, "submissions_shown_order_check"),
    ({"key": ""}, "submissions_idempotency_key_check"),
    ({"version": 0}, "submissions_response_version_check"),
    ({"choice": None}, "submissions_answer_type_check"),
    ({"payload": Jsonb({"text": "both"})}, "submissions_answer_check"),
    ({"choice": "tie"}, "submissions_tie_check"),
    ({"choice": None, "payload": Jsonb({"ranking": [0, 1]})}, "submissions_answer_type_check"),
]


@pytest.mark.parametrize(("override", "constraint"), BAD_SUBMISSIONS)
async def test_bad_submissions_are_refused(conn, override, constraint):
    uid, _, tid = await _submission_setup(conn)
    params = {
        "task": tid,
        "user": uid,
        "choice": "A",
        "confidence": 3,
        "time": 10,
        "explanation": None,
        "order": "AB",
        "payload": None,
        "key": None,
        "version": 1,
        **override,
    }
    await _refused(conn, INSERT_SUBMISSION, params, constraint)


async def test_one_latest_answer_per_user_and_task(conn):
    uid, _, tid = await _submission_setup(conn)
    params = {
        "task": tid,
        "user": uid,
        "choice": "A",
        "confidence": 3,
        "time": 10,
        "explanation": None,
        "order": "AB",
        "payload": None,
        "key": None,
        "version": 1,
    }
    await conn.execute(INSERT_SUBMISSION, params)
    await _refused(conn, INSERT_SUBMISSION, {**params, "version": 2}, "submissions_latest_idx")
    await _refused(conn, INSERT_SUBMISSION, params, "submissions_task_user_version_key")


async def test_an_idempotency_key_is_used_once_per_user(conn):
    uid, qid, tid = await _submission_setup(conn)
    other = await _task(conn, qid)
    params = {
        "task": tid,
        "user": uid,
        "choice": "A",
        "confidence": 3,
        "time": 10,
        "explanation": None,
        "order": "AB",
        "payload": None,
        "key": "k1",
        "version": 1,
    }
    await conn.execute(INSERT_SUBMISSION, params)
    await _refused(
        conn, INSERT_SUBMISSION, {**params, "task": other}, "submissions_idempotency_idx"
    )


async def test_ranking_answers_must_be_permutations(conn):
    uid, _, tid = await _submission_setup(
        conn, qtype="ranking", content={"prompt": "order", "options": ["a", "b", "c"]}
    )
    params = {
        "task": tid,
        "user": uid,
        "choice": None,
        "confidence": 3,
        "time": 10,
        "explanation": None,
        "order": None,
        "key": None,
        "version": 1,
    }
    await _refused(
        conn,
        INSERT_SUBMISSION,
        {**params, "payload": Jsonb({"ranking": [0, 0, 1]})},
        "submissions_answer_type_check",
    )
    await conn.execute(INSERT_SUBMISSION, {**params, "payload": Jsonb({"ranking": [2, 0, 1]})})


async def test_a_submission_answers_a_version_of_its_tasks_question(conn):
    uid, _, tid = await _submission_setup(conn)
    stranger = await _question(conn, {"prompt": "other", "optionA": "x", "optionB": "y"})
    await _refused(
        conn,
        "INSERT INTO submissions (task_id, user_id, question_id, chosen_response)"
        " VALUES (%s, %s, %s, 'A')",
        [tid, uid, stranger],
        "submissions_question_check",
    )


async def test_updated_at_moves_on_update(conn):
    qid = await _question(conn)
    tid = await _task(conn, qid)
    await conn.execute(
        "UPDATE tasks SET created_at = created_at - interval '1 day',"
        " updated_at = updated_at - interval '1 day' WHERE id = %s",
        [tid],
    )
    await conn.execute("UPDATE tasks SET priority = 4 WHERE id = %s", [tid])
    cur = await conn.execute(
        "SELECT updated_at > created_at + interval '1 hour' AS moved FROM tasks WHERE id = %s",
        [tid],
    )
    assert (await cur.fetchone())["moved"]


async def test_the_views_show_tasks_and_submissions(conn):
    uid, _, tid = await _submission_setup(conn)
    await conn.execute(
        "INSERT INTO submissions (task_id, user_id, chosen_response) VALUES (%s, %s, 'B')",
        [tid, uid],
    )
    cur = await conn.execute(
        "SELECT responses_needed, prompt_preview FROM task_dashboard WHERE task_id = %s", [tid]
    )
    assert await cur.fetchone() == {"responses_needed": 2, "prompt_preview": "Which is better?"}
    cur = await conn.execute(
        "SELECT username, chosen_response FROM user_submissions_detailed WHERE task_id = %s", [tid]
    )
    assert await cur.fetchall() == [{"username": "ann", "chosen_response": "B"}]


async def test_a_revision_keeps_the_nullifier_and_the_sybil_rule_holds(conn):
    from whstudio.domain import responses
    from whstudio.schemas import TaskResponse

    ann = await _user(conn, "nul-ann")
    other = await _user(conn, "nul-other")
    await conn.execute("UPDATE users SET nullifier_hash = 'n-1' WHERE id = %s", [ann])
    task = await _task(conn, await _question(conn))
    for choice in ("A", "B"):
        answer = TaskResponse(chosen_response=choice, confidence=3, time_spent_seconds=5)
        await responses.submit(conn, task_id=task, user_id=ann, answer=answer)
    cur = await conn.execute(
        "SELECT response_version, submitter_nullifier FROM submissions"
        " WHERE task_id = %s AND is_latest",
        [task],
    )
    assert await cur.fetchall() == [{"response_version": 2, "submitter_nullifier": "n-1"}]
    # A second account carrying the same nullifier (legacy data) cannot answer the task.
    with pytest.raises(psycopg.errors.UniqueViolation):
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO submissions (task_id, user_id, question_id, chosen_response,"
                " submitter_nullifier) SELECT id, %s, question_id, 'A', 'n-1' FROM tasks"
                " WHERE id = %s",
                [other, task],
            )


async def test_answers_get_time_ordered_ids(conn):
    """An answer's id is a UUID of version 7 (RFC 9562): its first 48 bits are the time in
    milliseconds, so answers stored later sort after earlier ones and new index entries share
    the end of submissions_pkey instead of a random page; its other 74 bits stay random."""
    uid = await _user(conn)
    qid = await _question(conn)
    tasks = [await _task(conn, qid) for _ in range(3)]
    ids = []
    for task_id in tasks:
        cur = await conn.execute(
            "INSERT INTO submissions (task_id, user_id, question_id, chosen_response)"
            " VALUES (%s, %s, %s, 'A') RETURNING id, created_at",
            [task_id, uid, qid],
        )
        ids.append(await cur.fetchone())
        await conn.execute("SELECT pg_sleep(0.002)")
    for row in ids:
        assert row["id"].version == 7
        assert row["id"].variant == "specified in RFC 4122"
        millis = int(row["id"].hex[:12], 16)
        # clock_timestamp() when the row was made: within a second of created_at
        assert abs(millis / 1000 - row["created_at"].timestamp()) < 1.0
    assert [r["id"] for r in ids] == sorted(r["id"] for r in ids)
    cur = await conn.execute(
        "SELECT count(DISTINCT uuid_time_ordered()) FROM generate_series(1, 1000)"
    )
    assert (await cur.fetchone())["count"] == 1000
