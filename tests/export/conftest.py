"""Rows to export: pairwise tasks with model names, answered so that their consensus differs."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

import pytest

from whstudio.domain import importing, users

PAIRS = [
    # prompt, model_a, model_b, canonical answers in order
    ("p-agree-a", "alpha", "beta", ["A", "A", "A"]),
    ("p-split", "alpha", "gamma", ["B", "B", "A"]),
    ("p-b-wins", "beta", "gamma", ["B", "B", "B", "A"]),
    ("p-tie", "alpha", "beta", ["tie", "tie", "tie"]),
    ("p-one", "gamma", "alpha", ["A"]),
]


@dataclass
class Seeded:
    tasks: dict[str, UUID] = field(default_factory=dict)
    users: list[dict] = field(default_factory=list)
    submissions: list[UUID] = field(default_factory=list)


async def seed(conn, dataset: str = "exp") -> Seeded:
    """Import the pairs (ties allowed), then answer them as four annotators."""
    import json

    text = "\n".join(
        json.dumps(
            {
                "prompt": prompt,
                "optionA": f"{prompt} answer by {a}",
                "optionB": f"{prompt} answer by {b}",
                "model_a": a,
                "model_b": b,
            }
        )
        for prompt, a, b, _ in PAIRS
    )
    parsed = importing.parse_text(text, "pairs.jsonl")
    report = await importing.import_pairs(
        conn, parsed, source="pairs.jsonl", dataset=dataset, allow_tie=True
    )
    assert report.tasks_created == len(PAIRS), report
    out = Seeded()
    for i in range(4):
        out.users.append(await users.create_user(conn, f"{dataset}-annot-{i}", None))
    for prompt, _, _, answers in PAIRS:
        cur = await conn.execute(
            "SELECT t.id FROM tasks t JOIN questions q ON q.id = t.question_id"
            " WHERE q.content->>'prompt' = %s",
            (prompt,),
        )
        task_id = (await cur.fetchone())["id"]
        out.tasks[prompt] = task_id
        for user, choice in zip(out.users, answers, strict=False):
            cur = await conn.execute(
                "INSERT INTO submissions (task_id, user_id, chosen_response, confidence,"
                " time_spent_seconds, shown_order) VALUES (%s, %s, %s, 4, 30, 'AB') RETURNING id",
                (task_id, user["id"], choice),
            )
            out.submissions.append((await cur.fetchone())["id"])
    return out


@pytest.fixture
async def seeded(conn) -> Seeded:
    return await seed(conn)


# The web tests here use the app fixtures of tests/web.
from tests.web.conftest import env, settings  # noqa: E402, F401
