"""The answers import replays a file in memory and writes the end state set-based: held here to
the database's own per-answer path. The same tasks, the same answers from people in the app
before and after, the same file: imported on one database, sent one by one through
submit_answer_v1 on another, every table the answers move must be equal (consensus, quality
rows, counters, reputations and their history, task counts)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from whstudio.domain import responses as responses_domain
from whstudio.domain import tasks as tasks_domain
from whstudio.domain.importing import answers

PEOPLE = ["p0", "p1", "p2"]  # answer in the app, before and after the import
CROWD = [f"w{i}" for i in range(7)]
JUDGES = ["j0"]  # a model judge's file


def _items(rng: random.Random) -> list[dict]:
    items = []
    for i in range(10):
        items.append(
            {
                "question_type": "pairwise_ab",
                "content": {"prompt": f"pair {i}", "optionA": f"a{i}", "optionB": f"b{i}"},
                "source_dataset": "mix",
                "source_ref": f"pair-{i}",
                "consensus_threshold": rng.choice([2, 3, 4]),
                "allow_tie": i % 3 == 0,
                "count_model_votes": i == 4,
                "gold_standard": {1: "A", 7: "B"}.get(i),
            }
        )
    for i in range(3):
        items.append(
            {
                "question_type": "ranking",
                "content": {"prompt": f"rank {i}", "options": ["x", "y", "z"]},
                "source_dataset": "mix",
                "source_ref": f"rank-{i}",
                "consensus_threshold": 2,
                "gold_standard": [2, 0, 1] if i == 0 else None,
            }
        )
    items.append(
        {
            "question_type": "text_generation",
            "content": {"prompt": "write"},
            "source_dataset": "mix",
            "source_ref": "text-0",
            "consensus_threshold": 2,
        }
    )
    items.append(
        {
            "question_type": "voice_transcription",
            "content": {"prompt": "listen", "audio_url": "https://example.org/a.wav"},
            "source_dataset": "mix",
            "source_ref": "talk-0",
            "consensus_threshold": 2,
        }
    )
    return items


def _answer(rng: random.Random, ref: str, tie: bool):
    if ref.startswith("pair"):
        return rng.choice(["A", "A", "B", "tie"] if tie else ["A", "A", "B"])
    if ref.startswith("rank"):
        order = [0, 1, 2]
        rng.shuffle(order)
        return order
    if ref.startswith("text"):
        return rng.choice(["An essay.", 'A "poem"\twith\na back\\slash, 100% café'])
    return rng.choice(["hello world", "hello  World", "jello\tworld"])


def scenario(seed: int, timed: bool) -> dict:
    rng = random.Random(seed)
    items = _items(rng)
    ties = {it["source_ref"]: it.get("allow_tie", False) for it in items}
    refs = list(ties)

    def rows_for(names: list[str], share: float) -> list[dict]:
        rows = []
        for ref in refs:
            for name in names:
                if rng.random() > share:
                    continue
                for _ in range(1 + (rng.random() < 0.2)):  # a revision now and then
                    row = {"item": ref, "annotator": name, "answer": _answer(rng, ref, ties[ref])}
                    if rng.random() < 0.7:
                        row["time"] = rng.choice([1, 2, 11, 30, 40, 45, 60])
                    if rng.random() < 0.5:
                        row["confidence"] = rng.randint(1, 5)
                    rows.append(row)
        rng.shuffle(rows)
        if timed:
            start = datetime(2026, 3, 1, tzinfo=UTC)
            for row in rows:
                row["created_at"] = (start + timedelta(minutes=rng.randint(0, 10_000))).isoformat()
        return rows

    return {
        "items": items,
        "before": rows_for(PEOPLE, 0.35),
        "crowd": rows_for(CROWD, 0.5),
        "judges": rows_for(JUDGES, 0.8),
        "crowd_again": rows_for(CROWD, 0.3),  # a second file: revises answers already stored
        "after": rows_for(PEOPLE, 0.3),
    }


async def _rows(conn, sql: str, *args):
    cur = await conn.execute(sql, args)
    return await cur.fetchall()


async def _user(conn, name: str, kind: str, active: bool) -> object:
    rows = await _rows(
        conn,
        "INSERT INTO users (username, is_active, kind) VALUES (%s, %s, %s)"
        " ON CONFLICT (username) DO UPDATE SET username = excluded.username RETURNING id",
        name,
        active,
        kind,
    )
    return rows[0]["id"]


async def _send(conn, rows: list[dict], kind: str = "person", active: bool = True) -> None:
    """Each answer its own transaction through the answer path, as the app sends them."""
    ordered = (
        sorted(rows, key=lambda r: r["created_at"]) if rows and "created_at" in rows[0] else rows
    )
    # Answers from a file were given elsewhere, where nobody saw this app's consensus: on the
    # answer path they match a dataset that never shows others' answers (revisions count).
    async with conn.transaction():  # its own: each answer below is its own transaction
        await conn.execute(
            "INSERT INTO dataset_policies (source_dataset, reveal) VALUES ('mix', 'never')"
            " ON CONFLICT (source_dataset) DO NOTHING"
        )
    for r in ordered:
        async with conn.transaction():
            user = await _user(conn, r["annotator"], kind, active)
            [task] = await _rows(
                conn,
                "SELECT t.id, q.question_type FROM tasks t JOIN questions q ON q.id = t.question_id"
                " WHERE q.source_ref = %s",
                r["item"],
            )
            kind_of = task["question_type"]
            answer = r["answer"]
            [result] = await _rows(
                conn,
                "SELECT submit_answer_v1(%s, %s, %s, %s, %s, %s, %s, NULL, %s, NULL, NULL) AS r",
                task["id"],
                user,
                answer if kind_of == "pairwise_ab" else None,
                Jsonb(answer) if kind_of == "ranking" else None,
                answer if kind_of == "text_generation" else None,
                answer if kind_of == "voice_transcription" else None,
                r.get("confidence"),
                r.get("time"),
            )
            if "created_at" in r:
                await conn.execute(
                    "UPDATE submissions SET created_at = %s WHERE id = %s",
                    [datetime.fromisoformat(r["created_at"]), result["r"]["submission_id"]],
                )
            if kind_of == "voice_transcription":
                await responses_domain.refresh_transcription(conn, task["id"])


async def _import(conn, rows: list[dict], kind: str) -> answers.AnswersReport:
    data = "\n".join(json.dumps(r) for r in rows).encode()
    checked = answers.check_answers_file(data, "file.jsonl")
    assert checked.failed == []
    async with conn.transaction():
        return await answers.store_answers(
            conn, checked, source="file.jsonl", dataset="mix", annotator_kind=kind
        )


STATE = {
    "answers": "SELECT u.username, q.source_ref, s.response_version, s.is_latest,"
    " s.chosen_response, s.payload, s.confidence, s.time_spent_seconds, s.vote_weight,"
    " s.in_consensus, s.shown_order, {created}"
    " FROM submissions s JOIN users u ON u.id = s.user_id JOIN tasks t ON t.id = s.task_id"
    " JOIN questions q ON q.id = t.question_id ORDER BY 1, 2, 3",
    "consensus": "SELECT q.source_ref, c.count_a, c.count_b, c.count_tie, c.total_responses,"
    " c.weight_a, c.weight_b, c.weight_tie, c.confidence_sum, c.confidence_count,"
    " c.confidence_sum_a, c.confidence_sum_b, c.confidence_sum_tie, c.time_spent_sum,"
    " c.time_spent_count, c.ranking_counts, c.ranking_weights, c.agreement_percentage,"
    " c.weighted_agreement_percentage, c.final_answer, c.consensus_reached,"
    " c.reached_at IS NULL AS unreached, c.remaining,"
    " c.details #- '{{transcription,medoid_submission}}' AS details,"
    " (SELECT u.username || ' ' || s.response_version FROM submissions s"
    "   JOIN users u ON u.id = s.user_id"
    "  WHERE s.id::text = c.details #>> '{{transcription,medoid_submission}}') AS medoid"
    " FROM response_consensus c JOIN tasks t ON t.id = c.task_id"
    " JOIN questions q ON q.id = t.question_id ORDER BY 1",
    "quality": "SELECT u.username, q.source_ref, s.response_version, m.question_type, m.choice,"
    " m.picked_left, m.gold_correct, m.gold_source, m.agreed, m.others_agreeing,"
    " m.others_total, m.agreement_with_consensus, m.time_spent_seconds, m.is_outlier,"
    " m.outlier_reasons, m.flagged_for_review, m.counted"
    " FROM response_quality_metrics m JOIN submissions s ON s.id = m.submission_id"
    " JOIN users u ON u.id = m.user_id JOIN tasks t ON t.id = m.task_id"
    " JOIN questions q ON q.id = t.question_id ORDER BY 1, 2, 3",
    "stats": "SELECT u.username, a.answers, a.gold_answered, a.gold_correct,"
    " a.gold_fail_streak, a.evaluated, a.agreed, a.sided, a.picked_left, a.picked_a,"
    " a.picked_b, a.timed, a.time_sum, a.fast, a.accuracy, a.accuracy_low, a.accuracy_high,"
    " a.flags FROM annotator_stats a JOIN users u ON u.id = a.user_id ORDER BY 1",
    "users": "SELECT username, reputation_score, reputation_weight FROM users ORDER BY 1",
    "history": "SELECT u.username, q.source_ref, e.kind, e.delta, e.score, e.reason"
    " FROM reputation_events e JOIN users u ON u.id = e.user_id"
    " LEFT JOIN tasks t ON t.id = e.task_id LEFT JOIN questions q ON q.id = t.question_id"
    " ORDER BY u.username, e.id",
    "counts": "SELECT task_status, question_type, source_dataset, consensus_reached, needs_more,"
    " has_gold, sum(n) AS n FROM task_counts GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(n) <> 0"
    " ORDER BY 1, 2, 3, 4, 5, 6",
}


async def _state(url: str, timed: bool) -> dict:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        return {
            name: await _rows(conn, sql.format(created="s.created_at" if timed else "1"))
            for name, sql in STATE.items()
        }


@pytest.mark.parametrize(("seed", "timed"), [(1, False), (2, True), (3, False)])
async def test_an_import_leaves_the_state_the_answer_path_leaves(make_db, seed, timed):
    plan = scenario(seed, timed)
    imported, sent = make_db(), make_db()
    for url in (imported, sent):
        async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
            async with conn.transaction():
                await tasks_domain.create_many(conn, plan["items"], creator_id=None)
            await _send(conn, plan["before"])
    async with await psycopg.AsyncConnection.connect(imported, row_factory=dict_row) as conn:
        crowd = await _import(conn, plan["crowd"], "person")
        judges = await _import(conn, plan["judges"], "model")
        assert crowd.answers_created == len(plan["crowd"]) and crowd.failed == []
        assert judges.answers_created == len(plan["judges"])
        again = await _import(conn, plan["crowd_again"], "person")
        assert again.answers_created == len(plan["crowd_again"])
        await _send(conn, plan["after"])
    async with await psycopg.AsyncConnection.connect(sent, row_factory=dict_row) as conn:
        await _send(conn, plan["crowd"], active=False)
        await _send(conn, plan["judges"], kind="model", active=False)
        await _send(conn, plan["crowd_again"], active=False)
        await _send(conn, plan["after"])
    got, want = await _state(imported, timed), await _state(sent, timed)
    for name in STATE:
        if got[name] != want[name]:
            diff = [(g, w) for g, w in zip(got[name], want[name], strict=False) if g != w]
            pytest.fail(
                f"{name}: {len(got[name])} vs {len(want[name])} rows; first diff {diff[:2]}"
            )
    # the same file again adds nothing
    async with await psycopg.AsyncConnection.connect(imported, row_factory=dict_row) as conn:
        again = await _import(conn, plan["crowd"], "person")
    assert (again.answers_created, again.answers_existing) == (0, len(plan["crowd"]))
    assert await _state(imported, timed) == got


async def test_a_ranking_answer_on_a_task_without_gold_is_no_gold_check(conn):
    [made] = await tasks_domain.create_many(
        conn,
        [{"question_type": "ranking", "content": {"prompt": "r", "options": ["x", "y"]}}],
        creator_id=None,
    )
    user = await _user(conn, "ranker", "person", True)
    await conn.execute(
        "SELECT submit_answer_v1(%s, %s, NULL, %s, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        [made["task_id"], user, Jsonb([1, 0])],
    )
    [row] = await _rows(
        conn, "SELECT gold_correct FROM response_quality_metrics WHERE user_id = %s", user
    )
    [stats] = await _rows(
        conn, "SELECT gold_answered FROM annotator_stats WHERE user_id = %s", user
    )
    assert row["gold_correct"] is None and stats["gold_answered"] == 0
