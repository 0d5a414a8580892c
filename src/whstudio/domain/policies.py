"""What a dataset's annotators may see: others' answers (reveal) and their gold verdicts.

reveal: `never`, `after_answer` (the default) or `after_close` (once the task has all its
answers or stopped). Whatever the policy, an answer given after its author could see others'
answers is kept but never counted (submit_answer_v1). gold_feedback: whether annotators see
which of their answers were gold checks and whether they got them right (default: no).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.domain.visibility import DEFAULT_REVEAL, REVEALS
from whstudio.errors import InvalidInput


def defaults(dataset: str) -> dict[str, Any]:
    """The policy of a dataset that has none of its own."""
    return {
        "source_dataset": dataset,
        "reveal": DEFAULT_REVEAL,
        "gold_feedback": False,
        "updated_at": None,
    }


async def all_policies(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every dataset's own policy, by name."""
    return await q.fetch_all(conn, "policies.all")


async def policy_of(conn: AsyncConnection, dataset: str) -> dict[str, Any]:
    """A dataset's policy (the defaults when it has none of its own)."""
    return await q.fetch_one(conn, "policies.of", {"dataset": dataset}) or defaults(dataset)


async def set_policy(
    conn: AsyncConnection,
    dataset: str,
    *,
    reveal: str | None = None,
    gold_feedback: bool | None = None,
) -> dict[str, Any]:
    """Set a dataset's reveal policy and/or gold feedback; what is not given stays."""
    if not 1 <= len(dataset) <= 200:
        raise InvalidInput("a dataset name has 1 to 200 characters", field="dataset")
    if reveal is not None and reveal not in REVEALS:
        raise InvalidInput(f"reveal must be one of {', '.join(REVEALS)}", field="reveal")
    row = await q.fetch_one(
        conn,
        "policies.put",
        {"dataset": dataset, "reveal": reveal, "gold_feedback": gold_feedback},
    )
    assert row is not None
    return row
