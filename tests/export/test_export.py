"""Exports against a real database: preference pairs (checked through the `datasets` library),
filters, raw responses with anonymised annotators, and the annotator quality table."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from whstudio.domain import batch
from whstudio.domain import export as export_domain
from whstudio.errors import InvalidInput

SALT = "test-salt-0123456789"


async def _export(conn, kind, fmt="jsonl", **filters):
    if kind == "preferences":
        params = export_domain.PreferenceFilters(**filters).params()
    else:
        params = export_domain.RawFilters(salt=filters.pop("salt", SALT), **filters).params()
    buffer = io.BytesIO()
    count = await export_domain.write(conn, kind, params, fmt, buffer)
    return count, buffer.getvalue()


def _jsonl(raw: bytes) -> list[dict]:
    return [json.loads(line) for line in raw.decode().splitlines()]


async def _expected_pairs(conn) -> dict[str, dict]:
    """The winners as the consensus rows state them, read independently of the export."""
    cur = await conn.execute(
        "SELECT q.content->>'prompt' AS prompt, q.content AS content, q.metadata AS metadata,"
        " c.final_answer->>'chosen_response' AS winner, c.total_responses, c.agreement_percentage"
        " FROM response_consensus c JOIN tasks t ON t.id = c.task_id"
        " JOIN questions q ON q.id = t.question_id WHERE c.consensus_reached"
    )
    return {r["prompt"]: r for r in await cur.fetchall()}


async def test_parquet_loads_in_datasets_with_the_rows_of_the_database(seeded, conn, tmp_path):
    count, raw = await _export(conn, "preferences", "parquet")
    path = tmp_path / "prefs.parquet"
    path.write_bytes(raw)
    ds = datasets.Dataset.from_parquet(str(path), cache_dir=str(tmp_path / "hf"))
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names)
    assert {
        "task_id",
        "question_id",
        "source_dataset",
        "agreement_percentage",
        "num_answers",
        "mean_confidence",
        "method",
        "chosen_model",
        "rejected_model",
    } <= set(ds.column_names)
    expected = await _expected_pairs(conn)
    assert count == len(ds) == len(expected) == 2
    for row in ds:
        want = expected[row["prompt"]]
        winner, loser = ("optionA", "optionB") if want["winner"] == "A" else ("optionB", "optionA")
        assert row["chosen"] == want["content"][winner]
        assert row["rejected"] == want["content"][loser]
        side = "model_a" if want["winner"] == "A" else "model_b"
        other = "model_b" if side == "model_a" else "model_a"
        assert (row["chosen_model"], row["rejected_model"]) == (
            want["metadata"][side],
            want["metadata"][other],
        )
        assert row["num_answers"] == want["total_responses"]
        assert row["agreement_percentage"] == float(want["agreement_percentage"])
        assert row["task_id"] == str(seeded.tasks[row["prompt"]])
        assert row["method"] == "majority" and row["tie"] is False
        assert row["mean_confidence"] == 4.0 and row["source_dataset"] == "exp"
    b_wins = next(r for r in ds if r["prompt"] == "p-b-wins")
    assert b_wins["chosen"] == "p-b-wins answer by gamma" and b_wins["chosen_model"] == "gamma"


async def test_jsonl_and_parquet_hold_the_same_rows(seeded, conn):
    _, raw_jsonl = await _export(conn, "preferences", "jsonl")
    _, raw_parquet = await _export(conn, "preferences", "parquet")
    from_parquet = pq.read_table(pa.BufferReader(raw_parquet), use_threads=False).to_pylist()
    from_jsonl = _jsonl(raw_jsonl)
    assert [r["task_id"] for r in from_jsonl] == [r["task_id"] for r in from_parquet]
    assert [r["chosen"] for r in from_jsonl] == [r["chosen"] for r in from_parquet]
    assert list(from_jsonl[0]) == list(export_domain.SCHEMAS["preferences"].names)


async def test_filters_agreement_answers_ties_dataset_and_dates(seeded, conn):
    prompts = lambda raw: sorted(r["prompt"] for r in _jsonl(raw))  # noqa: E731
    assert prompts((await _export(conn, "preferences", min_agreement=80))[1]) == ["p-agree-a"]
    assert prompts((await _export(conn, "preferences", min_answers=4))[1]) == ["p-b-wins"]
    with_ties = _jsonl((await _export(conn, "preferences", include_ties=True))[1])
    assert sorted(r["prompt"] for r in with_ties) == ["p-agree-a", "p-b-wins", "p-tie"]
    tie = next(r for r in with_ties if r["prompt"] == "p-tie")
    assert tie["tie"] is True and tie["winner"] == "tie"
    assert (await _export(conn, "preferences", dataset="other"))[0] == 0
    assert (await _export(conn, "preferences", dataset="exp"))[0] == 2
    past = datetime(2000, 1, 1, tzinfo=UTC)
    assert (await _export(conn, "preferences", until=past))[0] == 0
    assert (await _export(conn, "preferences", since=past))[0] == 2


async def test_batch_methods_export_their_own_winners(seeded, conn):
    assert (await _export(conn, "preferences", method="dawid_skene"))[0] == 0  # not run yet
    await batch.recompute(conn, ("majority", "dawid_skene"))
    cur = await conn.execute(
        "SELECT count(*) AS n FROM consensus_batch_results WHERE method = 'dawid_skene'"
        " AND final_answer IS NOT NULL"
    )
    stored = (await cur.fetchone())["n"]
    count, raw = await _export(conn, "preferences", method="dawid_skene")
    assert count == stored and count >= 2
    assert {r["method"] for r in _jsonl(raw)} == {"dawid_skene"}


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"method": "vote"}, "method"),
        ({"min_agreement": 101}, "min_agreement"),
        (
            {"since": datetime(2025, 1, 2, tzinfo=UTC), "until": datetime(2025, 1, 1, tzinfo=UTC)},
            "since",
        ),
    ],
)
def test_bad_filters_name_their_field(filters, field):
    with pytest.raises(InvalidInput) as caught:
        export_domain.PreferenceFilters(**filters).params()
    assert caught.value.field == field


async def test_raw_responses_hide_annotators_behind_a_stable_salted_hash(seeded, conn):
    count, raw = await _export(conn, "responses")
    rows = _jsonl(raw)
    assert count == len(seeded.submissions) == len(rows)
    ids = {str(u["id"]) for u in seeded.users}
    names = {u["username"] for u in seeded.users}
    assert not ids & {r["annotator"] for r in rows}
    assert all(r["username"] is None for r in rows)
    assert not any(name in raw.decode() for name in names)
    again = _jsonl((await _export(conn, "responses"))[1])
    assert [r["annotator"] for r in rows] == [r["annotator"] for r in again]
    other = _jsonl((await _export(conn, "responses", salt="another-salt-xyz"))[1])
    assert {r["annotator"] for r in rows}.isdisjoint({r["annotator"] for r in other})
    # Same person, same label: the hash groups answers exactly as the user ids do.
    revealed = _jsonl((await _export(conn, "responses", reveal=True))[1])
    assert {r["annotator"] for r in revealed} <= ids
    by_hash = {(r["submission_id"], r["annotator"]) for r in rows}
    pairs = {(r["submission_id"], r["annotator"]) for r in revealed}
    mapping = {}
    for (sid, hashed), (_, real) in zip(sorted(by_hash), sorted(pairs), strict=True):
        assert mapping.setdefault(hashed, real) == real, sid
    assert len(mapping) == 4


async def test_raw_responses_keep_revisions_unless_latest_only(seeded, conn):
    task = seeded.tasks["p-one"]
    user = seeded.users[0]["id"]
    await conn.execute(
        "UPDATE submissions SET is_latest = false WHERE task_id = %s AND user_id = %s",
        (task, user),
    )
    await conn.execute(
        "INSERT INTO submissions (task_id, user_id, chosen_response, response_version)"
        " VALUES (%s, %s, 'B', 2)",
        (task, user),
    )
    everything = (await _export(conn, "responses"))[0]
    latest = (await _export(conn, "responses", latest_only=True))[0]
    assert everything == latest + 1 == len(seeded.submissions) + 1


async def test_quality_table_summarises_response_quality_metrics(seeded, conn):
    first = seeded.users[0]["id"]
    cur = await conn.execute(
        "SELECT id, task_id FROM submissions WHERE user_id = %s ORDER BY created_at", (first,)
    )
    mine = await cur.fetchall()
    for i, row in enumerate(mine[:3]):
        await conn.execute(
            "INSERT INTO response_quality_metrics (submission_id, task_id, user_id, gold_correct,"
            " agreement_with_consensus, is_outlier) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (submission_id) DO UPDATE SET gold_correct = excluded.gold_correct,"
            " agreement_with_consensus = excluded.agreement_with_consensus,"
            " is_outlier = excluded.is_outlier",
            (row["id"], row["task_id"], first, i != 2, 50 + 10 * i, i == 1),
        )
    count, raw = await _export(conn, "quality", reveal=True)
    rows = {r["annotator"]: r for r in _jsonl(raw)}
    assert count == 4
    me = rows[str(first)]
    cur = await conn.execute(
        "SELECT count(*) AS n, count(m.gold_correct) AS checks,"
        " count(*) FILTER (WHERE m.gold_correct) AS correct,"
        " avg(m.agreement_with_consensus)::float8 AS agreement,"
        " count(*) FILTER (WHERE m.is_outlier) AS outliers"
        " FROM response_quality_metrics m JOIN submissions s ON s.id = m.submission_id"
        " WHERE s.user_id = %s AND s.is_latest",
        (first,),
    )
    want = await cur.fetchone()
    assert (me["answers"], me["scored_answers"], me["gold_checks"], me["gold_correct"]) == (
        len(mine),
        want["n"],
        want["checks"],
        want["correct"],
    )
    assert (want["checks"], want["correct"]) == (3, 2)
    assert me["gold_accuracy"] == pytest.approx(2 / 3)
    assert me["mean_agreement_with_consensus"] == pytest.approx(want["agreement"])
    assert me["outliers"] == want["outliers"] >= 1
    cur = await conn.execute(
        "SELECT accuracy, flags FROM annotator_stats WHERE user_id = %s", (first,)
    )
    stats = await cur.fetchone()
    assert me["accuracy"] == pytest.approx(stats["accuracy"]) and me["flags"] == stats["flags"]
    others = [r for key, r in rows.items() if key != str(first)]
    assert all(r["gold_checks"] == 0 and r["gold_accuracy"] is None for r in others)
    hidden = _jsonl((await _export(conn, "quality", "jsonl"))[1])
    assert str(first) not in {r["annotator"] for r in hidden}


async def test_an_empty_parquet_export_still_has_its_columns(conn):
    count, raw = await _export(conn, "preferences", "parquet", dataset="nothing-here")
    table = pq.read_table(pa.BufferReader(raw), use_threads=False)
    assert count == 0 and table.num_rows == 0
    assert table.schema.names[:3] == ["prompt", "chosen", "rejected"]


async def test_an_adjudication_overrides_the_crowd_and_says_so(seeded, conn):
    from whstudio.domain import review, users

    reviewer = await users.create_user(conn, "exp-reviewer", None, "reviewer")
    # p-split never reached consensus (B, B, A is 66.67%); a reviewer settles it on A.
    await review.adjudicate(
        conn,
        seeded.tasks["p-split"],
        reviewer_id=reviewer["id"],
        final_answer={"chosen_response": "A"},
        note="A is correct",
    )
    rows = {r["prompt"]: r for r in _jsonl((await _export(conn, "preferences"))[1])}
    assert sorted(rows) == ["p-agree-a", "p-b-wins", "p-split"]
    split = rows["p-split"]
    assert split["method"] == "adjudicated" and split["winner"] == "A"
    assert split["chosen"] == "p-split answer by alpha" and split["chosen_model"] == "alpha"
    assert rows["p-agree-a"]["method"] == "majority"
    # The agreement filter is about the crowd; a reviewer's decision passes it.
    strict = _jsonl((await _export(conn, "preferences", min_agreement=90))[1])
    assert sorted(r["prompt"] for r in strict) == ["p-agree-a", "p-split"]


async def test_every_pairwise_task_is_written_or_left_out_with_its_reason(conn):
    from whstudio.domain import tasks as tasks_domain

    def pair(i: int) -> dict:
        return {
            "question_type": "pairwise_ab",
            "content": {"prompt": f"left out {i}", "optionA": "a", "optionB": "b"},
            "source_dataset": "leftout",
            "allow_tie": True,
        }

    made = await tasks_domain.create_many(conn, [pair(i) for i in range(6)], creator_id=None)
    ids = [m["task_id"] for m in made]
    votes = {
        0: "AAA",  # consensus A, 100%: written
        1: "",  # no answers
        2: "A",  # one answer of three
        3: "ABT",  # all three answers in, no winner
        4: "TTT",  # settled on a tie
        5: "AAAB",  # consensus A at 75%: under the export's 90%
    }
    for task, letters in votes.items():
        for n, letter in enumerate(letters):
            cur = await conn.execute(
                "INSERT INTO users (username) VALUES (%s) ON CONFLICT (username)"
                " DO UPDATE SET username = excluded.username RETURNING id",
                [f"voter{n}"],
            )
            user = (await cur.fetchone())["id"]
            choice = {"A": "A", "B": "B", "T": "tie"}[letter]
            await conn.execute(
                "SELECT submit_answer_v1(%s, %s, %s, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
                " NULL)",
                [ids[task], user, choice],
            )
    filters = export_domain.PreferenceFilters(dataset="leftout", min_agreement=90)
    count, raw = await _export(conn, "preferences", dataset="leftout", min_agreement=90)
    assert count == 1 and _jsonl(raw)[0]["task_id"] == str(ids[0])
    skipped = await export_domain.left_out(conn, filters.params())
    assert skipped == {
        "agreement below min_agreement": 1,
        "no answers": 1,
        "no consensus": 1,
        "settled on a tie": 1,
        "too few answers for the task's rule": 1,
    }
    # with ties and no agreement floor, the tie and the 75% task are written too
    everything = export_domain.PreferenceFilters(dataset="leftout", include_ties=True)
    count, _ = await _export(conn, "preferences", dataset="leftout", include_ties=True)
    left = await export_domain.left_out(conn, everything.params())
    assert count == 3 and sum(left.values()) == 3 and "settled on a tie" not in left
    assert export_domain.left_out_text(left).startswith("1 ")
