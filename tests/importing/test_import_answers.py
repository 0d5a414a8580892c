"""Existing answers in bulk: the crowd's (task, worker, label) CSV and richer files, checked
first, stored as answers submitted one by one would be, once."""

from __future__ import annotations

import csv
import io
import json
import random

import psycopg
import pytest
from psycopg.rows import dict_row

from whstudio.domain import importing as items
from whstudio.domain import tasks as tasks_domain
from whstudio.domain.importing import answers
from whstudio.errors import InvalidInput


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _jsonl(rows: list[dict]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


async def _items(conn, n: int, dataset: str = "crowd") -> None:
    """n pairwise items with ids item-0.., imported as a crowd set's items would be."""
    rows = [
        {"id": f"item-{i}", "prompt": f"Is {i} even?", "optionA": "yes", "optionB": "no"}
        for i in range(n)
    ]
    checked = items.check_file(_jsonl(rows), "items.jsonl")
    await items.store(conn, checked, source="items.jsonl", dataset=dataset, allow_tie=False)


async def _rows(conn, sql: str, *args):
    cur = await conn.execute(sql, args)
    return await cur.fetchall()


def crowd(seed: int = 1, n_items: int = 12, workers: int = 5) -> list[dict]:
    """(task, worker, label) rows as crowd-kit reads them, labels yes/no."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_items):
        truth = "yes" if i % 2 == 0 else "no"
        for w in rng.sample(range(workers), 3):
            label = truth if rng.random() < 0.8 else ("no" if truth == "yes" else "yes")
            rows.append({"task": f"item-{i}", "worker": f"w{w}", "label": label})
    return rows


async def test_the_crowd_csv_imports_once_with_its_labels_read_as_sides(conn):
    await _items(conn, 12)
    checked = answers.check_answers_file(_csv(crowd()), "crowd.csv")
    assert checked.failed == [] and len(checked.answers) == 36
    labels = answers.parse_labels(["yes=A", "no=B"])
    report = await answers.store_answers(
        conn, checked, source="crowd.csv", dataset="crowd", labels=labels, groups=["crowd"]
    )
    assert (report.answers_created, report.annotators_created, report.failed) == (36, 5, [])
    stored = await _rows(
        conn,
        "SELECT u.username, u.groups, u.is_active, s.chosen_response, s.shown_order, q.source_ref"
        "  FROM submissions s JOIN users u ON u.id = s.user_id"
        "  JOIN questions q ON q.id = s.question_id",
    )
    expected = {(r["worker"], r["task"], "A" if r["label"] == "yes" else "B") for r in crowd()}
    assert {(s["username"], s["source_ref"], s["chosen_response"]) for s in stored} == expected
    assert all(s["shown_order"] is None and s["groups"] == ["crowd"] for s in stored)
    assert not any(s["is_active"] for s in stored)
    # the order they saw is unknown: no answer counts toward a position bias
    sided = await _rows(conn, "SELECT coalesce(sum(sided), 0) AS n FROM annotator_stats")
    assert sided[0]["n"] == 0
    reached = await _rows(
        conn, "SELECT count(*) AS n FROM response_consensus WHERE total_responses = 3"
    )
    assert reached[0]["n"] == 12
    again = await answers.store_answers(
        conn, checked, source="crowd.csv", dataset="crowd", labels=labels
    )
    assert (again.answers_created, again.answers_existing) == (0, 36)


async def test_rows_that_cannot_be_understood_are_refused_and_usable_fields_are_noted(conn):
    await _items(conn, 3)
    rows = [
        {"item": "item-0", "worker": "a", "label": "A", "confidence": 0.8, "time": "12.4"},
        {"item": "item-0", "worker": "b", "label": "B", "confidence": "high", "time": 30},
        {"item": "item-1", "worker": "a", "label": "A", "confidence": "sure?", "time": -5},
        {"item": "item-9", "worker": "a", "label": "A"},  # no such item
        {"item": "item-2", "worker": "a", "label": "maybe"},  # not a side
        {"item": "item-2", "label": "A"},  # no annotator
        {"item": "item-2", "worker": "c", "label": "tie"},  # these tasks allow no tie
    ]
    checked = answers.check_answers_file(_jsonl(rows), "messy.jsonl")
    assert [(f.line, f.reason) for f in checked.failed] == [(6, "annotator is missing")]
    with pytest.raises(answers.AnswersRefused) as refused:
        await answers.store_answers(conn, checked, source="messy.jsonl", dataset="crowd")
    reasons = {f.line: f.reason for f in refused.value.report.failed}
    assert "no item 'item-9' in dataset 'crowd'" in reasons[4]
    assert "not A, B or tie" in reasons[5] and "--labels" in reasons[5]
    assert "does not allow ties" in reasons[7]
    assert (await _rows(conn, "SELECT count(*) AS n FROM submissions"))[0]["n"] == 0
    report = await answers.store_answers(
        conn, checked, source="messy.jsonl", dataset="crowd", strict=False
    )
    assert report.answers_created == 3 and len(report.failed) == 4
    assert any("confidence 0.8 read as 4" in n for n in report.notes)
    assert any("confidence 'high' read as 4" in n for n in report.notes)
    assert any("confidence 'sure?' dropped" in n for n in report.notes)
    assert any("time_spent_seconds dropped: outside" in n for n in report.notes)
    kept = await _rows(
        conn,
        "SELECT u.username, s.confidence, s.time_spent_seconds FROM submissions s"
        "  JOIN users u ON u.id = s.user_id ORDER BY 1, 2 NULLS FIRST",
    )
    assert [(k["username"], k["confidence"], k["time_spent_seconds"]) for k in kept] == [
        ("a", None, None),
        ("a", 4, 12),
        ("b", 4, 30),
    ]


async def test_every_question_type_and_the_order_answers_were_given(conn):
    made = await tasks_domain.create_many(
        conn,
        [
            {"question_type": "ranking", "content": {"prompt": "r", "options": ["x", "y", "z"]}},
            {"question_type": "text_generation", "content": {"prompt": "write"}},
            {
                "question_type": "voice_transcription",
                "content": {"prompt": "listen", "audio_url": "https://example.org/a.wav"},
            },
            {
                "question_type": "pairwise_ab",
                "content": {"prompt": "p", "optionA": "a", "optionB": "b"},
            },
        ],
        creator_id=None,
    )
    ranking, text, talk, pair = (str(m["task_id"]) for m in made)
    rows = [
        {"task_id": ranking, "annotator": "u", "answer": "2,0,1", "created_at": 1767225600},
        {"task_id": ranking, "annotator": "v", "answer": [1, 0, 2], "created_at": "1767225600"},
        {"task_id": text, "annotator": "u", "answer": "An essay.", "created_at": 1767225600000},
        {"task_id": talk, "annotator": "u", "answer": "hello world", "created_at": "2026-01-01"},
        # given later, written first: every row says when, so the later one revises the earlier
        {"task_id": pair, "annotator": "u", "answer": "B", "created_at": "2026-01-02T00:00:00Z"},
        {"task_id": pair, "annotator": "u", "answer": "A", "created_at": "2026-01-01T00:00:00Z"},
    ]
    checked = answers.check_answers_file(_jsonl(rows), "all.jsonl")
    report = await answers.store_answers(conn, checked, source="all.jsonl")
    assert report.answers_created == 6 and report.failed == []
    latest = await _rows(
        conn,
        "SELECT chosen_response, created_at FROM submissions WHERE task_id = %s AND is_latest",
        pair,
    )
    assert latest[0]["chosen_response"] == "B" and latest[0]["created_at"].year == 2026
    # seconds, a digit string and milliseconds since 1970 all read as 2026-01-01
    times = await _rows(conn, "SELECT DISTINCT created_at::date AS d FROM submissions")
    assert {str(t["d"]) for t in times} == {"2026-01-01", "2026-01-02"}
    # the transcription task has its medoid, as after an answer in the app
    talked = await _rows(conn, "SELECT details FROM response_consensus WHERE task_id = %s", talk)
    assert talked[0]["details"]["transcription"]["medoid"] == "hello world"
    payloads = await _rows(
        conn, "SELECT payload FROM submissions WHERE payload IS NOT NULL ORDER BY payload::text"
    )
    assert {json.dumps(p["payload"], sort_keys=True) for p in payloads} >= {
        '{"ranking": [2, 0, 1]}',
        '{"text": "An essay."}',
    }
    bad = answers.check_answers_file(
        _jsonl([{"task_id": ranking, "annotator": "w", "answer": [0, 0, 1]}]), "bad.jsonl"
    )
    with pytest.raises(answers.AnswersRefused) as refused:
        await answers.store_answers(conn, bad, source="bad.jsonl")
    assert "orders every option index 0..2 once" in refused.value.report.failed[0].reason


async def test_an_item_with_several_tasks_must_be_named_by_task(conn):
    from tests.importing.mtbench import row

    rows = [
        row(81, "gpt-4", "vicuna-13b", "model_a", "expert_0"),
        row(81, "gpt-4", "llama-13b", "model_a", "expert_0"),
    ]
    checked = items.check(list(enumerate(rows, start=1)))
    await items.store(conn, checked, source="h", dataset="mtb")
    found = answers.check_answers_file(
        _jsonl([{"item": "81", "worker": "x", "label": "A"}]), "x.jsonl"
    )
    with pytest.raises(answers.AnswersRefused) as refused:
        await answers.store_answers(conn, found, source="x.jsonl", dataset="mtb")
    assert "has 2 tasks" in refused.value.report.failed[0].reason


def test_labels_and_mappings_name_what_is_wrong():
    with pytest.raises(InvalidInput) as caught:
        answers.parse_labels(["yes=maybe"])
    assert caught.value.field == "labels"
    with pytest.raises(InvalidInput) as caught:
        answers.check_answers_file(b'{"a": 1}', "x.jsonl", ["colour=c"])
    assert caught.value.field == "map"
    mapped = answers.check_answers_file(
        _jsonl([{"q": "item-0", "who": "a", "says": "A"}]),
        "x.jsonl",
        ["item=q", "annotator=who", "answer=says"],
    )
    assert mapped.failed == [] and mapped.answers[0].item == "item-0"


async def test_a_file_leaves_the_state_answers_sent_one_by_one_leave(make_db):
    """The import against the same answers submitted one at a time through the answer path, in
    the same order: consensus, quality rows, counters and reputations equal."""
    rows = crowd(seed=4, n_items=20, workers=6)
    labels = answers.parse_labels(["yes=A", "no=B"])

    async def state(url: str) -> dict:
        async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
            out = {}
            for name, sql in {
                "consensus": "SELECT q.source_ref, c.count_a, c.count_b, c.count_tie,"
                " c.total_responses, c.remaining, c.consensus_reached, c.final_answer,"
                " c.agreement_percentage FROM response_consensus c"
                " JOIN tasks t ON t.id = c.task_id JOIN questions q ON q.id = t.question_id"
                " ORDER BY 1",
                "quality": "SELECT u.username, q.source_ref, m.choice, m.picked_left, m.agreed,"
                " m.others_agreeing, m.others_total, m.counted FROM response_quality_metrics m"
                " JOIN users u ON u.id = m.user_id JOIN tasks t ON t.id = m.task_id"
                " JOIN questions q ON q.id = t.question_id ORDER BY 1, 2",
                "stats": "SELECT u.username, a.answers, a.evaluated, a.agreed, a.sided,"
                " a.picked_a, a.picked_b, a.flags, a.accuracy FROM annotator_stats a"
                " JOIN users u ON u.id = a.user_id ORDER BY 1",
                "users": "SELECT username, reputation_score, reputation_weight FROM users"
                " ORDER BY 1",
            }.items():
                out[name] = await _rows(conn, sql)
            return out

    imported, sent = make_db(), make_db()
    for url in (imported, sent):
        async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
            async with conn.transaction():
                await _items(conn, 20)
    async with await psycopg.AsyncConnection.connect(imported, row_factory=dict_row) as conn:
        async with conn.transaction():
            checked = answers.check_answers_file(_csv(rows), "crowd.csv")
            await answers.store_answers(
                conn, checked, source="crowd.csv", dataset="crowd", labels=labels
            )
    async with await psycopg.AsyncConnection.connect(sent, row_factory=dict_row) as conn:
        for r in rows:  # each answer its own request, as annotators send them
            async with conn.transaction():
                user = await _rows(
                    conn,
                    "INSERT INTO users (username, is_active) VALUES (%s, false)"
                    " ON CONFLICT (username) DO UPDATE SET username = excluded.username"
                    " RETURNING id",
                    r["worker"],
                )
                task = await _rows(
                    conn,
                    "SELECT t.id FROM tasks t JOIN questions q ON q.id = t.question_id"
                    " WHERE q.source_ref = %s",
                    r["task"],
                )
                await conn.execute(
                    "SELECT submit_answer_v1(%s, %s, %s, NULL, NULL, NULL, NULL, NULL, NULL,"
                    " NULL, NULL)",
                    [task[0]["id"], user[0]["id"], "A" if r["label"] == "yes" else "B"],
                )
    assert await state(imported) == await state(sent)


async def test_revisions_without_times_fractions_and_accounts_people_use(conn):
    await _items(conn, 2)
    rows = [
        {"item": "item-0", "worker": "u", "label": "A", "confidence": 0.9},
        {"item": "item-0", "worker": "u", "label": "B", "confidence": 1.0},
        {"item": "item-0", "worker": "u", "label": "A", "confidence": 0.5},
        {"item": "item-1", "worker": "u", "label": "A", "created_at": "1e30"},
    ]
    checked = answers.check_answers_file(_jsonl(rows), "r.jsonl")
    # 1.0 in a file of fractions is the top of the scale, not its bottom
    assert [a.confidence for a in checked.answers] == [5, 5, 3]
    assert "created_at" in checked.failed[0].reason
    report = await answers.store_answers(
        conn, checked, source="r.jsonl", dataset="crowd", strict=False
    )
    assert report.answers_created == 3  # A, B, A again: three answers, the last one latest
    [latest] = await _rows(conn, "SELECT chosen_response FROM submissions WHERE is_latest")
    assert latest["chosen_response"] == "A"
    again = await answers.store_answers(
        conn, checked, source="r.jsonl", dataset="crowd", strict=False
    )
    assert (again.answers_created, again.answers_existing) == (0, 3)
    # a worker named like an account people sign in with is not taken over
    await conn.execute("INSERT INTO users (username, role) VALUES ('boss', 'admin')")
    taken = answers.check_answers_file(
        _jsonl([{"item": "item-1", "worker": "boss", "label": "A"}]), "t.jsonl"
    )
    with pytest.raises(answers.AnswersRefused) as refused:
        await answers.store_answers(conn, taken, source="t.jsonl", dataset="crowd")
    assert "people sign in with" in refused.value.report.failed[0].reason
    prefixed = await answers.store_answers(
        conn, taken, source="t.jsonl", dataset="crowd", annotator_prefix="crowd."
    )
    assert prefixed.answers_created == 1


async def test_an_import_outside_a_transaction_makes_its_own(db_url):
    """The import's setting and its writes share one transaction even when the caller has
    none (autocommit): the per-answer triggers never count an imported answer a second time."""
    async with await psycopg.AsyncConnection.connect(
        db_url, row_factory=dict_row, autocommit=True
    ) as conn:
        await _items(conn, 4)
        checked = answers.check_answers_file(_csv(crowd(seed=3, n_items=4)), "crowd.csv")
        report = await answers.store_answers(
            conn, checked, source="crowd.csv", dataset="crowd",
            labels=answers.parse_labels(["yes=A", "no=B"]),
        )  # fmt: skip
        assert report.answers_created == 12
        [row] = await _rows(
            conn,
            "SELECT sum(total_responses) AS n, sum(count_a + count_b) AS ab"
            " FROM response_consensus",
        )
        assert (row["n"], row["ab"]) == (12, 12)
        [setting] = await _rows(conn, "SELECT current_setting('whstudio.bulk_answers', true) s")
        assert setting["s"] in (None, "", "off")


async def test_imported_answers_are_sent_to_the_webhooks_listening_for_them(conn):
    """response.created for every imported answer, in the order given, when a webhook
    listens for it; nothing queued when none does."""
    from whstudio.domain import webhooks
    from whstudio.domain.destinations import AllowList

    await _items(conn, 4)
    labels = answers.parse_labels(["yes=A", "no=B"])
    first = answers.check_answers_file(_csv(crowd(seed=4, n_items=2)), "first.csv")
    await answers.store_answers(conn, first, source="first.csv", dataset="crowd", labels=labels)
    [row] = await _rows(conn, "SELECT count(*) AS n FROM webhook_events")
    assert row["n"] == 0
    await webhooks.create(
        conn,
        url="http://127.0.0.1:9/hook",
        events=["response.created"],
        allowed=AllowList.parse("127.0.0.1"),
    )
    rows = [r for r in crowd(seed=4, n_items=4) if r["task"] in ("item-2", "item-3")]
    second = answers.check_answers_file(_csv(rows), "second.csv")
    report = await answers.store_answers(
        conn, second, source="second.csv", dataset="crowd", labels=labels
    )
    assert report.answers_created == len(rows) == 6
    events = await _rows(
        conn,
        "SELECT e.payload, q.source_ref, u.username FROM webhook_events e"
        "  JOIN submissions s ON s.id = (e.payload ->> 'submission_id')::uuid"
        "  JOIN questions q ON q.id = s.question_id JOIN users u ON u.id = s.user_id"
        " WHERE e.event = 'response.created' ORDER BY e.id",
    )
    assert [(e["source_ref"], e["username"]) for e in events] == [
        (r["task"], r["worker"]) for r in rows
    ]
    assert [e["payload"]["chosen_response"] for e in events] == [
        "A" if r["label"] == "yes" else "B" for r in rows
    ]
    [row] = await _rows(conn, "SELECT count(*) AS n FROM webhook_deliveries")
    assert row["n"] == 6
