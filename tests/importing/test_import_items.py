"""Import of typed items with a column mapping and of MT-Bench judgments with their answers."""

from __future__ import annotations

import pytest

from tests.importing.mtbench import answer, check, jsonl, judgments, parquet, row
from whstudio.domain import importing as items
from whstudio.domain import rankings
from whstudio.errors import InvalidInput


async def _count(conn, sql, *args):
    cur = await conn.execute(sql, args)
    return (await cur.fetchone())["n"]


def test_mtbench_rows_fold_into_one_item_per_pair_and_turn():
    checked = check(jsonl(judgments()), "human.jsonl")
    assert checked.layout == "mtbench_judgments" and checked.failed == []
    assert checked.rows == 8 and len(checked.items) == 5
    pair = next(i for i in checked.items if len(i.answers) == 3)
    assert pair.metadata == {"model_a": "gpt-4", "model_b": "vicuna-13b", "turn": 1}
    assert pair.content["optionA"] == answer("gpt-4", 81, 1)
    # the flipped row's "model_b" (gpt-4) is canonical A, and its order shown is kept
    assert [(a.chosen_response, a.shown_order) for a in pair.answers] == [
        ("A", "AB"),
        ("A", "AB"),
        ("A", "BA"),
    ]
    assert {a.judge for a in pair.answers} == {
        "mtbench.author_0",
        "mtbench.author_1",
        "mtbench.expert_0",
    }
    second_turn = next(i for i in checked.items if i.metadata["turn"] == 2)
    assert second_turn.content["prompt"].startswith("Turn 1:\nExplain recursion")
    assert "Turn 2:\nGive a one-line example" in second_turn.content["prompt"]
    assert answer("gpt-4", 82, 2) in second_turn.content["optionA"]
    # llama-13b vs vicuna-13b shown as (llama, vicuna): stored as (llama, vicuna), B won
    lv = next(i for i in checked.items if i.source_ref == "82" and i.metadata["turn"] == 1)
    assert lv.metadata["model_a"] == "llama-13b" and lv.answers[0].chosen_response == "B"


def test_parquet_with_nested_conversations_reads_like_jsonl():
    from_parquet = check(parquet(judgments()), "human.parquet")
    from_jsonl = check(jsonl(judgments()), "human.jsonl")
    assert [i.content for i in from_parquet.items] == [i.content for i in from_jsonl.items]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"winner": "model_c"}, "winner must be model_a, model_b or tie"),
        ({"model_b": "gpt-4"}, "the same model"),
        ({"turn": 3}, "turn must be 1 or 2"),
        ({"conversation_b": [{"role": "user", "content": "x"}]}, "alternating user/assistant"),
        ({"judge": ""}, "judge is empty"),
    ],
)
def test_bad_mtbench_rows_are_listed_with_their_reason(change, reason):
    rows = judgments()
    rows[1] = {**rows[1], **change}
    checked = check(jsonl(rows), "human.jsonl")
    assert [f.line for f in checked.failed] == [2]
    assert reason in checked.failed[0].reason


def test_different_questions_on_the_two_sides_are_refused():
    bad = row(81, "gpt-4", "vicuna-13b", "model_a", "a")
    bad["conversation_b"][0] = {"role": "user", "content": "something else"}
    checked = check(jsonl([bad]), "x.jsonl")
    assert "ask different questions" in checked.failed[0].reason


async def test_mtbench_import_stores_questions_tasks_judges_and_answers_once(conn):
    checked = check(jsonl(judgments()), "human.jsonl")
    report = await items.store(conn, checked, source="human.jsonl", dataset="mtb")
    assert (report.questions_created, report.tasks_created) == (5, 5)
    assert (report.users_created, report.responses_created) == (3, 8)
    assert (
        await _count(conn, "SELECT count(*) AS n FROM users WHERE username LIKE 'mtbench.%%'") == 3
    )
    assert (
        await _count(
            conn, "SELECT count(*) AS n FROM users WHERE username LIKE 'mtbench.%%' AND is_active"
        )
        == 0
    )
    cur = await conn.execute(
        "SELECT c.count_a, c.count_b, c.consensus_reached, c.final_answer, t.allow_tie"
        " FROM response_consensus c JOIN tasks t ON t.id = c.task_id"
        " JOIN questions q ON q.id = t.question_id"
        " WHERE q.metadata->>'model_a' = 'gpt-4' AND q.metadata->>'model_b' = 'vicuna-13b'"
    )
    state = await cur.fetchone()
    assert (state["count_a"], state["count_b"], state["consensus_reached"]) == (3, 0, True)
    assert state["allow_tie"] is True
    cur = await conn.execute("SELECT shown_order FROM submissions ORDER BY shown_order")
    # side A is the model a pair's first row names first: only row 3, showing (vicuna, gpt-4)
    # after row 1's (gpt-4, vicuna), is turned round; (vicuna, llama) keeps its own order
    assert [r["shown_order"] for r in await cur.fetchall()].count("BA") == 1
    again = await items.store(conn, checked, source="human.jsonl", dataset="mtb")
    assert (again.questions_created, again.tasks_created, again.users_created) == (0, 0, 0)
    assert (again.responses_created, again.responses_existing) == (0, 8)
    assert await _count(conn, "SELECT count(*) AS n FROM submissions") == 8
    ranked = await rankings.model_rankings(conn, dataset="mtb", rounds=50)
    assert [m["model"] for m in ranked["models"]] == ["gpt-4", "vicuna-13b", "llama-13b"]


async def test_a_file_with_a_bad_row_stores_nothing_unless_told_to_skip(conn):
    rows = judgments()
    rows[4] = {**rows[4], "winner": "nobody"}
    checked = check(jsonl(rows), "human.jsonl")
    with pytest.raises(items.ImportRefused) as caught:
        await items.store(conn, checked, source="human.jsonl", dataset="mtb")
    assert [f.line for f in caught.value.report.failed] == [5]
    assert await _count(conn, "SELECT count(*) AS n FROM questions") == 0
    assert await _count(conn, "SELECT count(*) AS n FROM users") == 0
    report = await items.store(conn, checked, source="human.jsonl", dataset="mtb", strict=False)
    assert report.responses_created == 7 and [f.line for f in report.failed] == [5]


async def test_an_item_the_database_refuses_undoes_only_itself_or_everything(conn):
    rows = [
        {"prompt": "p1", "optionA": "a", "optionB": "b", "gold": "tie"},
        {"prompt": "p2", "optionA": "a", "optionB": "b"},
    ]
    checked = check(jsonl(rows), "pairs.jsonl", question_type="pairwise_ab")
    with pytest.raises(items.ImportRefused):
        await items.store(conn, checked, source="x", dataset="d", allow_tie=False)
    assert await _count(conn, "SELECT count(*) AS n FROM questions") == 0
    report = await items.store(
        conn, checked, source="x", dataset="d", allow_tie=False, strict=False
    )
    assert report.tasks_created == 1 and "tie" in report.failed[0].reason


async def test_ranking_csv_with_a_column_mapping(conn):
    text = (
        b"qid,question,candidates,best_first\n"
        b'7,Order these,"[""x"", ""y"", ""z""]","[2, 0, 1]"\n'
        b'8,And these,"[""u"", ""v""]",\n'
        b'9,Broken,"not json",\n'
        b'10,Bad gold,"[""u"", ""v""]","[0, 0]"\n'
    )
    mapping = items.parse_mapping(
        ["prompt=question", "options=candidates", "gold=best_first", "id=qid"], "ranking"
    )
    checked = check(text, "r.csv", question_type="ranking", mapping=mapping)
    assert [(f.line, "options" in f.reason or "gold" in f.reason) for f in checked.failed] == [
        (4, True),
        (5, True),
    ]
    report = await items.store(conn, checked, source="r.csv", dataset="rk", strict=False)
    assert report.tasks_created == 2
    cur = await conn.execute(
        "SELECT content, gold_standard, source_ref FROM questions ORDER BY source_ref"
    )
    stored = await cur.fetchall()
    assert stored[0] == {
        "content": {"prompt": "Order these", "options": ["x", "y", "z"]},
        "gold_standard": [2, 0, 1],
        "source_ref": "7",
    }
    assert stored[1]["gold_standard"] is None


async def test_text_and_transcription_items(conn):
    text_rows = [{"instruction": "Write a limerick", "reference": "There once was..."}]
    audio_rows = [{"audio": "https://example.org/a.wav", "transcript": "hello world", "id": 1}]
    checked_text = check(jsonl(text_rows), "t.jsonl", question_type="text_generation")
    checked_audio = check(jsonl(audio_rows), "a.jsonl", question_type="voice_transcription")
    await items.store(conn, checked_text, source="t", dataset="txt")
    await items.store(conn, checked_audio, source="a", dataset="aud")
    cur = await conn.execute(
        "SELECT question_type, content, gold_standard FROM questions ORDER BY question_type"
    )
    got = await cur.fetchall()
    assert got[0] == {
        "question_type": "text_generation",
        "content": {"prompt": "Write a limerick"},
        "gold_standard": "There once was...",
    }
    assert got[1]["content"]["audio_url"] == "https://example.org/a.wav"
    assert got[1]["gold_standard"] == "hello world"


def test_mappings_name_what_is_wrong():
    with pytest.raises(InvalidInput) as caught:
        items.parse_mapping(["prompt"], "ranking")
    assert caught.value.field == "map"
    with pytest.raises(InvalidInput) as caught:
        items.parse_mapping(["answer=x"], "ranking")
    assert "has no field 'answer'" in caught.value.message
    checked = check(
        jsonl([{"q": "p", "a": "x", "b": "y"}]),
        "m.jsonl",
        question_type="pairwise_ab",
        mapping={"prompt": "question", "optionA": "a", "optionB": "b"},
    )
    assert "column 'question' (for prompt) is missing" in checked.failed[0].reason


def test_unreadable_files_are_reported_not_raised():
    assert check(b"\xff\xfe", "x.jsonl").failed[0].reason == "the file is not UTF-8 text"
    assert "Parquet" in check(b"nope", "x.parquet").failed[0].reason
    assert "unsupported file type" in check(b"", "x.xlsx").failed[0].reason


KEPT_COUNTS = (
    "SELECT task_status, question_type, source_dataset, consensus_reached, needs_more, has_gold,"
    " sum(n)::int AS n FROM task_counts GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(n) <> 0"
    " ORDER BY 1, 2, 3, 4, 5, 6"
)
TRUE_COUNTS = (
    "SELECT task_status, question_type, coalesce(source_dataset, '') AS source_dataset,"
    " consensus_reached, remaining > 0 AS needs_more, has_gold, count(*)::int AS n"
    " FROM response_consensus GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
)


async def _all(conn, sql):
    cur = await conn.execute(sql)
    return await cur.fetchall()


async def test_the_dashboard_counts_match_the_tasks_after_bulk_steps(conn):
    """Imports and batch creation count their new tasks once, as they end (revision 0020):
    the kept counts equal a count of the consensus rows after tasks were made, answered to
    consensus in the same import, refused and undone, and made again one by one."""
    from whstudio.domain import tasks as tasks_domain

    # new tasks whose answers, in the same import, settle some of them (they move groups)
    await items.store(conn, check(jsonl(judgments()), "human.jsonl"), source="h", dataset="mtb")
    assert await _all(conn, KEPT_COUNTS) == await _all(conn, TRUE_COUNTS)
    reached = await _count(
        conn, "SELECT count(*) AS n FROM response_consensus WHERE consensus_reached"
    )
    assert reached > 0
    # an item refused inside the import is undone with its task; a strict import that stops
    # part way leaves counts that match what it stored (the caller may still roll back)
    rows = [
        {"prompt": "p1", "optionA": "a", "optionB": "b"},
        {"prompt": "p2", "optionA": "a", "optionB": "b", "gold": "tie"},
        {"prompt": "p3", "optionA": "a", "optionB": "b"},
    ]
    checked = check(jsonl(rows), "pairs.jsonl", question_type="pairwise_ab")
    report = await items.store(
        conn, checked, source="x", dataset="d", allow_tie=False, strict=False
    )
    assert report.tasks_created == 2 and len(report.failed) == 1
    assert await _all(conn, KEPT_COUNTS) == await _all(conn, TRUE_COUNTS)
    more = [{"prompt": "p4", "optionA": "a", "optionB": "b"}, rows[1]]
    with pytest.raises(items.ImportRefused):
        await items.store(
            conn, check(jsonl(more), "more.jsonl", question_type="pairwise_ab"),
            source="y", dataset="d", allow_tie=False,
        )  # fmt: skip
    assert await _all(conn, KEPT_COUNTS) == await _all(conn, TRUE_COUNTS)
    # the API's batch creation, and a task made alone, which counts at once as before
    batch = [
        {
            "question_type": "pairwise_ab",
            "source_dataset": "batch",
            "content": {"prompt": f"q{i}", "optionA": "a", "optionB": "b"},
        }
        for i in range(5)
    ]
    made = await tasks_domain.create_many(conn, batch, creator_id=None)
    assert sum(m["task_created"] for m in made) == 5
    question = made[0]["question_id"]
    await tasks_domain.create_task(conn, question_id=question, title="again", creator_id=None)
    assert await _all(conn, KEPT_COUNTS) == await _all(conn, TRUE_COUNTS)
    # nothing is left counting later: the setting is off and no task waits to be counted
    cur = await conn.execute(
        "SELECT coalesce(current_setting('whstudio.counts_later', true), '') AS s,"
        " to_regclass('pg_temp.whs_uncounted_tasks') IS NULL"
        " OR NOT EXISTS (SELECT FROM pg_temp.whs_uncounted_tasks) AS empty"
    )
    state = await cur.fetchone()
    assert state["s"] in ("", "off") and state["empty"]
