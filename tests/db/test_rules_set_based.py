"""A rule change of many tasks is replayed in the application and written set-based; held here
to the per-task path (tasks_sync_consensus, each task's UPDATE through its triggers): the same
tasks and answers, the same changes, equal tables."""

from __future__ import annotations

import random

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.importing.test_import_replay import STATE, _send, _state
from whstudio.domain import tasks as tasks_domain

CHANGES = [
    # fewer answers needed: tasks settle, waiting answers get their verdicts
    {"consensus_threshold": 2, "min_agreement_percentage": 60},
    # model judges' votes count: their answers move in, their quality rows start counting
    {"count_model_votes": True, "priority": 1},
    # and out again, with a higher bar
    {"count_model_votes": False, "consensus_threshold": 4},
]


def _plan(seed: int) -> tuple[list[dict], list[dict], list[dict]]:
    rng = random.Random(seed)
    items = [
        {
            "question_type": "pairwise_ab",
            "content": {"prompt": f"pair {i}", "optionA": f"a{i}", "optionB": f"b{i}"},
            "source_dataset": "rules",
            "source_ref": f"pair-{i}",
            "consensus_threshold": 6,
            "allow_tie": i % 4 == 0,
            "gold_standard": "A" if i % 9 == 1 else None,
        }
        for i in range(30)
    ]
    people, judges = [], []
    for item in items:
        choices = ["A", "A", "B"] + (["tie"] if item["allow_tie"] else [])
        for name in rng.sample([f"p{k}" for k in range(6)], rng.randint(1, 4)):
            row = {"item": item["source_ref"], "annotator": name, "answer": rng.choice(choices)}
            if rng.random() < 0.5:
                row["time"] = rng.choice([2, 30, 40])
            people.append(row)
        judges.append({"item": item["source_ref"], "annotator": "j0", "answer": rng.choice("AB")})
    return items, people, judges


async def _order(url: str) -> list[str]:
    """The items in the order the set-based path takes their tasks (by task id there)."""
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        cur = await conn.execute(
            "SELECT q.source_ref FROM tasks t JOIN questions q ON q.id = t.question_id"
            " WHERE q.source_dataset = 'rules' ORDER BY t.id"
        )
        return [r["source_ref"] for r in await cur.fetchall()]


async def _per_task(conn, change: dict, order: list[str]) -> None:
    """The change task by task through the trigger, in that order (each task's verdicts move
    its annotators' reputations, so the order writes their history)."""
    sets = ", ".join(f"{name} = %({name})s" for name in change)
    for ref in order:
        await conn.execute(
            f"UPDATE tasks t SET {sets} FROM questions q"
            " WHERE q.id = t.question_id AND q.source_ref = %(ref)s",
            {**change, "ref": ref},
        )


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_set_based_rule_change_ends_as_the_per_task_one(make_db, seed):
    items, people, judges = _plan(seed)
    bulk, each = make_db(), make_db()
    for url in (bulk, each):
        async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
            async with conn.transaction():
                await tasks_domain.create_many(conn, items, creator_id=None)
            await _send(conn, people)
            await _send(conn, judges, kind="model", active=False)
    for change in CHANGES:
        async with await psycopg.AsyncConnection.connect(bulk, row_factory=dict_row) as conn:
            async with conn.transaction():
                done = await tasks_domain.change_rules(conn, {"dataset": "rules"}, change)
            assert done["changed"] >= tasks_domain.SET_BASED_FROM  # the set-based path ran
        async with await psycopg.AsyncConnection.connect(each, row_factory=dict_row) as conn:
            async with conn.transaction():
                await _per_task(conn, change, await _order(bulk))
        got, want = await _state(bulk, False), await _state(each, False)
        for name in STATE:
            if got[name] != want[name]:
                diff = [(g, w) for g, w in zip(got[name], want[name], strict=False) if g != w]
                pytest.fail(f"after {change}: {name}: first diff {diff[:2]}")
