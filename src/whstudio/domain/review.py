"""Review and adjudication: the queue of disputed tasks, everything a reviewer needs to decide,
and the reviewer's final answer, which overrides consensus and counts as gold from then on."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from whstudio.db import queries as q
from whstudio.domain import consensus as consensus_domain
from whstudio.domain import tasks as tasks_domain
from whstudio.errors import Conflict, InvalidInput, NotFound


async def queue(
    conn: AsyncConnection,
    *,
    limit: int = 50,
    after: tuple[int, datetime, UUID] | None = None,
) -> dict[str, Any]:
    rows = await q.fetch_all(
        conn,
        "review.queue",
        {
            "limit": limit,
            "after_rank": after[0] if after else None,
            "after_since": after[1] if after else None,
            "after_task": after[2] if after else None,
        },
    )
    sizes = await q.fetch_one(conn, "review.queue_sizes")
    cursor = None
    if len(rows) == limit:
        last = rows[-1]
        rank = 0 if last["reason"] == "disputed" else 1
        cursor = f"{rank}|{last['since'].isoformat()}|{last['task_id']}"
    return {"items": rows, "sizes": sizes, "next_cursor": cursor}


def parse_cursor(cursor: str) -> tuple[int, datetime, UUID]:
    try:
        rank, since, task = cursor.split("|")
        return int(rank), datetime.fromisoformat(since), UUID(task)
    except ValueError as exc:
        raise InvalidInput("not a cursor this API gave out", field="cursor") from exc


async def detail(conn: AsyncConnection, task_id: UUID) -> dict[str, Any]:
    """The task in canonical order with its gold, its consensus, every answer with explanation,
    quality marks and the annotator's reputation, and its adjudication if any."""
    row = await tasks_domain.detail(conn, task_id)
    state = await consensus_domain.read(conn, task_id)
    return {
        "task": {
            "id": row["id"],
            "title": row["title"],
            "status": row["status"],
            "question_type": row["question_type"],
            "source_dataset": row["source_dataset"],
            "content": row["content"],
            "gold_standard": row["gold_standard"],
            "allow_tie": row["allow_tie"],
            "consensus_threshold": row["consensus_threshold"],
            "min_agreement_percentage": float(row["min_agreement_percentage"]),
        },
        "consensus": state,
        "answers": await q.fetch_all(conn, "review.answers", {"task_id": task_id}),
        "adjudication": await q.fetch_one(conn, "review.adjudication", {"task_id": task_id}),
    }


def validate_final_answer(task: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """Check an adjudicated answer against the task's question type; return it canonical."""
    qtype = task["question_type"]
    if qtype == "pairwise_ab":
        choice = answer.get("chosen_response")
        if choice not in ("A", "B", "tie"):
            raise InvalidInput(
                "a pairwise_ab answer is chosen_response 'A', 'B' or 'tie'",
                field="final_answer.chosen_response",
            )
        if choice == "tie" and not task["allow_tie"]:
            raise InvalidInput(
                "this task does not allow a tie", field="final_answer.chosen_response"
            )
        expected = {"chosen_response": choice}
    elif qtype == "ranking":
        ranking = answer.get("ranking")
        n = len(task["content"].get("options") or [])
        if (
            not isinstance(ranking, list)
            or any(isinstance(i, bool) or not isinstance(i, int) for i in ranking)
            or sorted(ranking) != list(range(n))
        ):
            raise InvalidInput(
                f"ranking must order every option index 0..{n - 1} exactly once",
                field="final_answer.ranking",
            )
        expected = {"ranking": ranking}
    else:
        key = "text" if qtype == "text_generation" else "transcript"
        value = answer.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(
                f"a {qtype} answer needs a non-empty {key}", field=f"final_answer.{key}"
            )
        if len(value) > 100_000:
            raise InvalidInput("at most 100000 characters", field=f"final_answer.{key}")
        expected = {key: value}
    extra = set(answer) - set(expected)
    if extra:
        raise InvalidInput(
            f"a {qtype} answer has no {sorted(extra)[0]}", field=f"final_answer.{sorted(extra)[0]}"
        )
    return expected


async def adjudicate(
    conn: AsyncConnection,
    task_id: UUID,
    *,
    reviewer_id: UUID,
    final_answer: dict[str, Any],
    note: str,
) -> dict[str, Any]:
    """Set a task's final answer (inside the caller's transaction): the task is completed, its
    answers are judged against this answer as gold, and the consensus shows it as adjudicated.
    A trigger on task_adjudications queues the `task.adjudicated` webhook in the same
    transaction."""
    task = await tasks_domain.detail(conn, task_id)
    if task["status"] == "cancelled":
        raise Conflict("the task is cancelled", field="task_id")
    answer = validate_final_answer(task, final_answer)
    # The voters' counters are locked in one order first, as the settle step does.
    await q.execute(conn, "review.ensure_voter_stats", {"task_id": task_id})
    await q.fetch_all(conn, "review.lock_voters", {"task_id": task_id})
    added = await q.fetch_one(
        conn,
        "review.adjudicate",
        {
            "task_id": task_id,
            "final_answer": Jsonb(answer),
            "note": note,
            "reviewer_id": reviewer_id,
        },
    )
    if added is None:
        exists = await q.fetch_one(conn, "review.adjudication", {"task_id": task_id})
        if exists is None:
            raise NotFound("no such task", field="task_id")
        raise Conflict("this task has already been adjudicated", field="task_id")
    await q.execute(conn, "review.close_task", {"task_id": task_id})
    judged = await q.execute(
        conn, "review.judge_by_adjudication", {"task_id": task_id, "final_answer": Jsonb(answer)}
    )
    result = await q.fetch_one(conn, "review.adjudication", {"task_id": task_id})
    result["answers_judged"] = judged
    return result
