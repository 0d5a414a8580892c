"""A task is its source's item: two model pairs with identical answer texts stay two tasks (each
vote on the pair its row names), and judgments by model judges import beside human ones."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
from psycopg.types.json import Jsonb

from tests.importing.mtbench import QUESTIONS, answer, check, conversation, jsonl, parquet, row
from whstudio.domain import importing as items
from whstudio.domain import rankings


def _same_answer(r: dict, side: str, text_of: str) -> dict:
    """The row with one side's conversation answered word for word as another model did."""
    r[f"conversation_{side}"] = conversation(text_of, r["question_id"])
    return r


def twins() -> list[dict]:
    """vicuna-13b and wizardlm-13b gave the identical answer: (gpt-4, vicuna) and (gpt-4,
    wizardlm) are the same texts but different pairs. One judge votes on both, differently."""
    return [
        row(81, "gpt-4", "vicuna-13b", "model_a", "expert_0"),
        _same_answer(row(81, "gpt-4", "wizardlm-13b", "model_b", "expert_0"), "b", "vicuna-13b"),
        _same_answer(row(81, "wizardlm-13b", "gpt-4", "model_a", "expert_1"), "a", "vicuna-13b"),
    ]


async def _rows(conn, sql, *args):
    cur = await conn.execute(sql, args)
    return await cur.fetchall()


def test_identical_texts_of_different_pairs_are_different_items():
    checked = check(jsonl(twins()), "human.jsonl")
    assert checked.failed == []
    assert len({json.dumps(i.content, sort_keys=True) for i in checked.items}) == 1
    pairs = sorted((i.metadata["model_a"], i.metadata["model_b"]) for i in checked.items)
    assert pairs == [("gpt-4", "vicuna-13b"), ("gpt-4", "wizardlm-13b")]
    wizard = next(i for i in checked.items if i.metadata["model_b"] == "wizardlm-13b")
    # both of its rows name (gpt-4, wizardlm); wizardlm won both, whichever side it was shown on
    assert [a.chosen_response for a in wizard.answers] == ["B", "B"]


async def test_each_vote_lands_on_the_pair_its_row_names(conn):
    checked = check(jsonl(twins()), "human.jsonl")
    report = await items.store(conn, checked, source="human.jsonl", dataset="twins")
    assert (report.questions_created, report.tasks_created, report.responses_created) == (1, 2, 3)
    votes = await _rows(
        conn,
        "SELECT t.metadata->>'model_a' AS a, t.metadata->>'model_b' AS b, u.username,"
        "       s.chosen_response, s.is_latest"
        "  FROM submissions s JOIN tasks t ON t.id = s.task_id JOIN users u ON u.id = s.user_id"
        " ORDER BY 1, 2, 3",
    )
    assert [
        (v["a"], v["b"], v["username"], v["chosen_response"], v["is_latest"]) for v in votes
    ] == [
        ("gpt-4", "vicuna-13b", "mtbench.expert_0", "A", True),  # not replaced by his other vote
        ("gpt-4", "wizardlm-13b", "mtbench.expert_0", "B", True),
        ("gpt-4", "wizardlm-13b", "mtbench.expert_1", "B", True),
    ]
    ranked = await rankings.model_rankings(conn, dataset="twins", rounds=20)
    records = {m["model"]: (m["wins"], m["losses"]) for m in ranked["models"]}
    assert records == {"wizardlm-13b": (2, 0), "gpt-4": (1, 2), "vicuna-13b": (0, 1)}
    again = await items.store(conn, checked, source="human.jsonl", dataset="twins")
    assert (again.tasks_created, again.tasks_existing, again.responses_created) == (0, 2, 0)


def gpt4_pair_rows() -> list[dict]:
    """Rows in the layout of the published GPT-4 pairwise judgments (judge `gpt4_pair`)."""
    return [
        row(81, "gpt-4", "vicuna-13b", "model_a", "gpt4_pair"),
        row(81, "vicuna-13b", "llama-13b", "tie (inconsistent)", "gpt4_pair"),
        row(82, "gpt-4", "llama-13b", "tie", "gpt4_pair", turn=2),
    ]


async def test_model_judgments_import_with_their_inconsistent_ties(conn):
    for data, name in (
        (jsonl(gpt4_pair_rows()), "gpt4.jsonl"),
        (parquet(gpt4_pair_rows()), "gpt4.parquet"),
    ):
        checked = check(data, name)
        assert checked.failed == [] and checked.layout == "mtbench_judgments"
    report = await items.store(conn, checked, source="gpt4.parquet", dataset="mtb")
    assert report.failed == [] and report.responses_created == 3
    stored = await _rows(
        conn,
        "SELECT s.chosen_response, s.source_label, u.kind, u.groups"
        "  FROM submissions s JOIN users u ON u.id = s.user_id ORDER BY s.source_label NULLS FIRST,"
        "  s.chosen_response",
    )
    assert [(s["chosen_response"], s["source_label"]) for s in stored] == [
        ("A", None),
        ("tie", None),
        ("tie", "tie (inconsistent)"),
    ]
    assert {(s["kind"], tuple(s["groups"])) for s in stored} == {("model", ("model",))}


async def test_human_judges_are_people_in_the_group_their_names_begin_with(conn):
    rows = [
        row(81, "gpt-4", "vicuna-13b", "model_a", "expert_3"),
        row(81, "gpt-4", "vicuna-13b", "tie (bothbad)", "author_12"),
    ]
    checked = check(jsonl(rows), "human.jsonl")
    await items.store(conn, checked, source="human.jsonl", dataset="mtb")
    judges = await _rows(conn, "SELECT username, kind, groups FROM users ORDER BY username")
    assert [(j["username"], j["kind"], j["groups"]) for j in judges] == [
        ("mtbench.author_12", "person", ["author"]),
        ("mtbench.expert_3", "person", ["expert"]),
    ]
    labels = await _rows(conn, "SELECT source_label FROM submissions ORDER BY 1")
    assert [r["source_label"] for r in labels] == ["tie (bothbad)", None]
    # told otherwise, every judge of the file is a model judge; groups add to an account's own
    forced = check(jsonl(rows), "human.jsonl", judge_kind="model")
    assert {a.judge_kind for i in forced.items for a in i.answers} == {"model"}
    await items.store(conn, forced, source="human.jsonl", dataset="mtb")
    kept = await _rows(conn, "SELECT kind, groups FROM users WHERE username = 'mtbench.expert_3'")
    assert (kept[0]["kind"], kept[0]["groups"]) == ("person", ["expert", "model"])


def test_the_side_is_what_the_rows_say_not_the_order_of_the_names():
    # a binary crowd set written as judgments: "yes" is model_a in every row; the names sort
    # the other way, which once turned every answer round
    rows = [row(81, "yes", "no", w, f"expert_{i}") for i, w in enumerate(("model_a", "model_b"))]
    rows.append(row(81, "no", "yes", "model_b", "expert_2"))  # shown the other way round
    [item] = check(jsonl(rows), "crowd.jsonl").items
    assert (item.metadata["model_a"], item.metadata["model_b"]) == ("yes", "no")
    answers = [(a.chosen_response, a.shown_order) for a in item.answers]
    assert answers == [("A", "AB"), ("B", "AB"), ("A", "BA")]


def test_a_judge_kind_that_is_not_one_is_refused():
    import pytest

    from whstudio.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        check(jsonl(gpt4_pair_rows()), "gpt4.jsonl", judge_kind="robot")
    assert caught.value.field == "judge_kind"


async def _consensus(conn, model_b: str = "vicuna-13b"):
    [row] = await _rows(
        conn,
        "SELECT t.id, c.count_a, c.count_b, c.count_tie, c.total_responses,"
        "       (consensus_recompute_v1(t.id)).total_responses AS recomputed"
        "  FROM tasks t JOIN response_consensus c ON c.task_id = t.id"
        " WHERE t.metadata->>'model_a' = 'gpt-4' AND t.metadata->>'model_b' = %s"
        "   AND t.metadata->>'turn' = '1'",
        model_b,
    )
    assert row["total_responses"] == row["recomputed"]  # the live row is what a recompute gives
    return row


async def test_a_model_judge_never_counts_as_a_person_unless_the_task_says_so(conn):
    from whstudio.domain import tasks as tasks_domain
    from whstudio.domain import users as users_domain

    people = [row(81, "gpt-4", "vicuna-13b", "model_b", f"expert_{i}") for i in range(2)]
    await items.store(conn, check(jsonl(people), "human.jsonl"), source="h", dataset="mtb")
    model = [row(81, "gpt-4", "vicuna-13b", "model_a", "gpt4_pair")]
    await items.store(conn, check(jsonl(model), "gpt4.jsonl"), source="g", dataset="mtb")
    task = await _consensus(conn)
    assert (task["count_a"], task["count_b"], task["total_responses"]) == (0, 2, 2)
    [judged] = await _rows(
        conn,
        "SELECT s.in_consensus, m.counted FROM submissions s"
        "  JOIN users u ON u.id = s.user_id"
        "  JOIN response_quality_metrics m ON m.submission_id = s.id"
        " WHERE u.kind = 'model'",
    )
    assert (judged["in_consensus"], judged["counted"]) == (False, False)
    # the task's rule counts model votes: the judge's answer joins the consensus, and leaves it
    await tasks_domain.change_rule(conn, task["id"], {"count_model_votes": True})
    assert (await _consensus(conn))["count_a"] == 1
    await tasks_domain.change_rule(conn, task["id"], {"count_model_votes": False})
    assert (await _consensus(conn))["count_a"] == 0
    # an account found to be a model judge (or a person after all): its answers follow
    await users_domain.set_groups(conn, "mtbench.expert_0", None, "model")
    assert (await _consensus(conn))["count_b"] == 1
    await users_domain.set_groups(conn, "mtbench.gpt4_pair", None, "person")
    counted = await _consensus(conn)
    assert (counted["count_a"], counted["count_b"]) == (1, 1)
    # and rankings by answers read only the answers that count
    ranked = await rankings.model_rankings(conn, dataset="mtb", rounds=10, basis="answers")
    assert sum(m["wins"] for m in ranked["models"]) == 2


async def test_an_import_may_count_model_votes_on_the_tasks_it_makes(conn):
    rows = [row(81, "gpt-4", "vicuna-13b", "model_a", "gpt4_pair")]
    checked = check(jsonl(rows), "gpt4.jsonl")
    await items.store(conn, checked, source="g", dataset="mtb", count_model_votes=True)
    task = await _consensus(conn)
    assert (task["count_a"], task["total_responses"]) == (1, 1)


async def test_a_rule_given_at_import_reaches_the_tasks_already_there(conn):
    rows = [row(81, "gpt-4", "vicuna-13b", "model_a", "expert_0")]
    checked = check(jsonl(rows), "human.jsonl")
    first = await items.store(conn, checked, source="h", dataset="mtb")
    assert (first.tasks_created, first.rules_changed) == (1, 0)
    assert (await _consensus(conn))["total_responses"] == 1
    [state] = await _rows(conn, "SELECT consensus_reached FROM response_consensus")
    assert state["consensus_reached"] is False  # one answer of the default three
    again = await items.store(
        conn, checked, source="h", dataset="mtb", consensus_threshold=1, gold_rate=0.25
    )
    assert (again.tasks_created, again.tasks_existing, again.rules_changed) == (0, 1, 1)
    [state] = await _rows(
        conn,
        "SELECT c.consensus_reached, t.consensus_threshold FROM response_consensus c"
        " JOIN tasks t ON t.id = c.task_id",
    )
    assert (state["consensus_reached"], state["consensus_threshold"]) == (True, 1)
    [rate] = await _rows(
        conn, "SELECT gold_rate FROM dataset_settings WHERE source_dataset = 'mtb'"
    )
    assert rate["gold_rate"] == 0.25
    # without a rule, an import leaves the tasks' rule as it is
    plain = await items.store(conn, checked, source="h", dataset="mtb")
    assert plain.rules_changed == 0
    import pytest

    from whstudio.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        await items.store(conn, checked, source="h", dataset="mtb", gold_rate=2)
    assert caught.value.field == "gold_rate"


async def test_a_later_turn_stays_a_conversation_through_import_and_export(conn):

    from whstudio.domain import export as export_domain
    from whstudio.domain import questions as questions_domain

    rows = [
        row(82, "gpt-4", "llama-13b", "model_b", "expert_0", turn=2),
        row(81, "gpt-4", "vicuna-13b", "model_a", "expert_0", turn=1),
    ]
    checked = check(jsonl(rows), "human.jsonl")
    second = next(i for i in checked.items if i.metadata["turn"] == 2)
    conversation = second.content["conversation"]
    assert conversation["prompt"] == [{"role": "user", "content": QUESTIONS[82][0]}]
    assert [m["role"] for m in conversation["a"]] == ["assistant", "user", "assistant"]
    assert conversation["a"][0]["content"] == answer("gpt-4", 82, 1)
    assert conversation["b"][2]["content"] == answer("llama-13b", 82, 2)
    # the text is as before: a question stored before messages were kept is the same question
    flat = questions_domain.flat_content(second.content)
    assert flat["prompt"].startswith("Turn 1:\n") and "Turn 2:\n" in flat["optionA"]
    await conn.execute(
        "INSERT INTO questions (question_type, content, source_dataset)"
        " VALUES ('pairwise_ab', %s, 'mtb')",
        [Jsonb(flat)],
    )
    report = await items.store(conn, checked, source="h", dataset="mtb", consensus_threshold=1)
    assert (report.questions_created, report.questions_existing) == (1, 1)
    [stored] = await _rows(
        conn, "SELECT content FROM questions WHERE content->>'prompt' LIKE 'Turn 1:%%'"
    )
    assert stored["content"]["conversation"] == conversation
    out = io.BytesIO()
    params = export_domain.PreferenceFilters().params()
    assert await export_domain.write(conn, "conversations", params, "jsonl", out) == 2
    exported = {r["turn"]: r for r in map(json.loads, out.getvalue().splitlines())}
    assert exported[1]["prompt"] == [{"role": "user", "content": QUESTIONS[81][0]}]
    assert exported[1]["chosen"] == [{"role": "assistant", "content": answer("gpt-4", 81, 1)}]
    # turn 2: llama won; each side keeps its own first reply, then the second question and reply
    assert exported[2]["prompt"] == conversation["prompt"]
    assert (
        exported[2]["chosen"] == conversation["b"] and exported[2]["rejected"] == conversation["a"]
    )
    assert (exported[2]["chosen_model"], exported[2]["winner"]) == ("llama-13b", "B")
    flat_out = io.BytesIO()
    await export_domain.write(conn, "preferences", params, "jsonl", flat_out)
    plain = [json.loads(line) for line in flat_out.getvalue().splitlines()]
    assert sorted(r["turn"] for r in plain) == [1, 2]
    assert all(isinstance(r["prompt"], str) and "conversation" not in r for r in plain)
    parquet = io.BytesIO()
    assert await export_domain.write(conn, "conversations", params, "parquet", parquet) == 2
    table = pq.read_table(io.BytesIO(parquet.getvalue()))
    assert (
        table.schema.field("prompt").type
        == export_domain.SCHEMAS["conversations"].field("prompt").type
    )
    assert sorted(table.column("turn").to_pylist()) == [1, 2]


def test_a_conversation_names_the_message_at_fault():
    import pytest

    from whstudio.domain import questions as questions_domain
    from whstudio.errors import InvalidInput

    good = {
        "prompt": [{"role": "user", "content": "q"}],
        "a": [{"role": "assistant", "content": "x"}],
    }
    cases = [
        ({**good, "b": [{"role": "user", "content": "y"}]}, "conversation.b"),
        ({**good, "b": [{"role": "robot", "content": "y"}]}, "conversation.b.0.role"),
        ({**good, "b": [{"role": "assistant", "content": 3}]}, "conversation.b.0.content"),
        ({**good, "b": []}, "conversation.b"),
        (good, "conversation"),
    ]
    for messages, field in cases:
        content = {"prompt": "p", "optionA": "x", "optionB": "y", "conversation": messages}
        with pytest.raises(InvalidInput) as caught:
            questions_domain.validate_content("pairwise_ab", content)
        assert caught.value.field == field


def test_an_annotator_sees_each_sides_turns_in_their_own_order():
    from whstudio.domain.responses import shown_content

    content = {
        "prompt": "p",
        "optionA": "x",
        "optionB": "y",
        "conversation": {"prompt": [], "a": ["left"], "b": ["right"]},
    }
    swapped = shown_content(content, "BA")
    assert (swapped["optionA"], swapped["conversation"]["a"]) == ("y", ["right"])
    assert shown_content(content, "AB") == content


async def test_tasks_imported_before_they_kept_their_identity_are_found_again(conn):
    """An import made before tasks kept their source identity: its task (no key, the models in
    its question's metadata) takes the key on the next import of the file; nothing doubles."""
    rows = [row(81, "vicuna-13b", "gpt-4", "model_b", "expert_0")]
    checked = check(jsonl(rows), "human.jsonl")
    [item] = checked.items
    # as the earlier import stored it: sides in name order, the pair on the question only
    old = item.flipped()
    assert old.metadata["model_a"] == "gpt-4"
    [q] = await _rows(
        conn,
        "INSERT INTO questions (question_type, content, source_dataset, metadata)"
        " VALUES ('pairwise_ab', %s, 'mtb', %s) RETURNING id",
        Jsonb(old.content),
        Jsonb(old.metadata),
    )
    [t] = await _rows(
        conn,
        "INSERT INTO tasks (question_id, title, allow_tie) VALUES (%s, 'old', true) RETURNING id",
        q["id"],
    )
    [u] = await _rows(
        conn,
        "INSERT INTO users (username, is_active) VALUES ('mtbench.expert_0', false) RETURNING id",
    )
    await conn.execute(
        "SELECT submit_answer_v1(%s, %s, 'A', NULL, NULL, NULL, NULL, NULL, NULL, 'BA', %s)",
        [t["id"], u["id"], item.answers[0].key],
    )
    report = await items.store(conn, checked, source="h", dataset="mtb")
    assert (report.tasks_created, report.tasks_existing) == (0, 1)
    assert (report.responses_created, report.responses_existing) == (0, 1)
    [task] = await _rows(conn, "SELECT source_key, metadata FROM tasks")
    assert task["source_key"] == item.source_key and task["metadata"]["model_a"] == "gpt-4"


async def test_a_pair_named_the_other_way_round_by_another_file_is_the_same_task(conn):
    human = [row(81, "vicuna-13b", "gpt-4", "model_b", "expert_0")]
    model = [row(81, "gpt-4", "vicuna-13b", "model_a", "gpt4_pair")]
    await items.store(conn, check(jsonl(human), "h.jsonl"), source="h", dataset="mtb")
    await items.store(conn, check(jsonl(model), "g.jsonl"), source="g", dataset="mtb")
    tasks = await _rows(conn, "SELECT metadata FROM tasks")
    assert len(tasks) == 1 and tasks[0]["metadata"]["model_a"] == "vicuna-13b"
    votes = await _rows(
        conn,
        "SELECT u.username, s.chosen_response, s.shown_order FROM submissions s"
        "  JOIN users u ON u.id = s.user_id ORDER BY 1",
    )
    # both chose gpt-4, side B of the task; the model judge saw it on the left
    assert [(v["username"], v["chosen_response"], v["shown_order"]) for v in votes] == [
        ("mtbench.expert_0", "B", "AB"),
        ("mtbench.gpt4_pair", "B", "BA"),
    ]
    from whstudio.domain import agreement

    versus = await agreement.vote_pairs(conn, group="model", versus="person")
    assert versus["overall"]["with_ties"] == {"agreement": 1.0, "agreeing": 1, "pairs": 1}


async def test_a_tie_rule_given_at_import_applies_before_the_answers_go_in(conn):
    rows = [
        row(81, "gpt-4", "vicuna-13b", "model_a", "expert_0"),
        row(81, "gpt-4", "vicuna-13b", "tie", "expert_1"),
    ]
    first = await items.store(
        conn, check(jsonl(rows[:1]), "h.jsonl"), source="h", dataset="mtb", allow_tie=False
    )
    assert (first.tasks_created, first.responses_created) == (1, 1)
    # the whole file again, ties allowed now: the task takes the rule before its answers
    checked = check(jsonl(rows), "h.jsonl")
    second = await items.store(conn, checked, source="h", dataset="mtb", allow_tie=True)
    assert (second.rules_changed, second.responses_created, second.failed) == (1, 1, [])


def test_a_judge_that_is_neither_named_as_a_person_nor_as_a_model_is_not_guessed():
    rows = [row(81, "gpt-4", "vicuna-13b", "model_a", "worker_12")]
    checked = check(jsonl(rows), "x.jsonl")
    assert "--judge-kind" in checked.failed[0].reason
    assert check(jsonl(rows), "x.jsonl", judge_kind="person").failed == []


def test_two_pairs_of_one_question_have_titles_that_tell_them_apart():
    from tests.importing.mtbench import row as judgment

    rows = [
        judgment(81, "gpt-4", "vicuna-13b", "model_a", "expert_1"),
        judgment(81, "claude-v1", "gpt-4", "model_b", "expert_1"),
        judgment(81, "vicuna-13b", "gpt-4", "model_b", "expert_2"),  # the first pair again
    ]
    checked = items.check(list(enumerate(rows, start=1)))
    titles = [item.title for item in checked.items]
    assert len(titles) == 2 and titles[0] != titles[1]  # the third row is the first pair
    assert all(t.startswith("A/B Preference – MT-Bench #81 turn 1, pair ") for t in titles)
    assert not any(name in t for t in titles for name in ("gpt", "vicuna", "claude"))
