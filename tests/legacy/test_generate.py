"""The legacy fixture and generator: the schema the description gives, rows in every table."""

from __future__ import annotations

import json

import psycopg
import pytest

from whstudio.legacy.generate import generate

LEGACY_TABLES = (
    "users", "task_categories", "tasks", "submissions", "payments", "user_sessions",
    "task_reviews", "disputes", "notifications", "notification_preferences",
    "notification_templates",
)  # fmt: skip


def test_every_legacy_table_gets_rows(legacy_url):
    with psycopg.connect(legacy_url) as conn:
        for table in LEGACY_TABLES:
            (n,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert n > 0, table
        assert conn.execute("SELECT count(*) FROM task_categories").fetchone()[0] == 8


def test_instructions_hold_every_messy_shape(legacy_url):
    with psycopg.connect(legacy_url) as conn:
        texts = [r[0] for r in conn.execute("SELECT instructions FROM tasks")]
    kinds = set()
    for text in texts:
        if text == "":
            kinds.add("empty")
            continue
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            kinds.add("plain")
            continue
        kinds.add(type(doc).__name__)
        if isinstance(doc, dict):
            kinds.update(k for k in ("option_a", "category") if k in doc)
            if doc.get("gold") in ("a", "b"):
                kinds.add("lower_gold")
            if "\u0000" in str(doc.get("prompt")):
                kinds.add("nul")
            if text.count('"prompt"') > 1 or text.count('"gold"') > 1:
                kinds.add("duplicate_keys")
    expected = {"empty", "plain", "dict", "str", "list", "option_a", "category", "lower_gold",
                "nul", "duplicate_keys"}  # fmt: skip
    assert expected <= kinds


def test_submissions_hold_both_client_formats_and_bad_values(legacy_url):
    with psycopg.connect(legacy_url) as conn:
        docs = [r[0] for r in conn.execute("SELECT submission_data FROM submissions")]
    assert any(d.get("chosen_response") == "A" and "confidence" in d for d in docs)
    assert any(d.get("chosen_response") in ("a", "b") and "confidence_score" in d for d in docs)
    assert any(d.get("confidence") == "high" for d in docs)
    assert any("transcript" in d for d in docs)


def test_generation_is_deterministic(make_db):
    digests = []
    for _ in range(2):
        url = make_db(migrated=False)
        generate(url, tasks=50, submissions=80, seed=3)
        with psycopg.connect(url) as conn:
            digests.append(
                conn.execute(
                    # category ids are drawn by the server; everything else is the seed's
                    "SELECT md5(string_agg((t.id, t.instructions, s.submission_data)::text, ','"
                    " ORDER BY t.id, s.id))"
                    " FROM tasks t LEFT JOIN submissions s ON s.task_id = t.id"
                ).fetchone()[0]
            )
    assert digests[0] == digests[1]


def test_too_few_users_for_the_submissions_is_refused(make_db):
    with pytest.raises(ValueError, match="users"):
        generate(make_db(migrated=False), tasks=2, submissions=10, users=3)
