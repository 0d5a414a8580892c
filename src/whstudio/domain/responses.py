"""Answers: validation per question type, position randomisation, revisions and idempotency."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from whstudio.db import queries as q
from whstudio.domain import aggregation
from whstudio.errors import Conflict, InvalidInput, NotFound
from whstudio.schemas import TaskResponse

_SWAP = {"A": "B", "B": "A", "tie": "tie"}


def shown_order(task_id: UUID, user_id: UUID) -> str:
    """Return 'AB' or 'BA': the stable, per-annotator order in which a task's answers are shown.

    A hash, not a stored coin flip, so every view of the task agrees without a write; over many
    tasks each annotator sees the canonical A first about half the time.
    """
    digest = hashlib.sha256(f"{task_id}:{user_id}".encode()).digest()
    return "AB" if digest[0] & 1 == 0 else "BA"


def to_canonical(choice: str, order: str) -> str:
    """Map a choice made on the shown labels to the canonical A/B."""
    return choice if order == "AB" else _SWAP[choice]


def to_shown(choice: str | None, order: str) -> str | None:
    """Map a canonical choice to the label this annotator saw."""
    return choice if choice is None or order == "AB" else _SWAP[choice]


def shown_content(content: dict[str, Any], order: str) -> dict[str, Any]:
    """Return pairwise content with optionA/optionB in the order this annotator sees them."""
    if order == "AB" or "optionA" not in content:
        return dict(content)
    return {**content, "optionA": content["optionB"], "optionB": content["optionA"]}


@dataclass(frozen=True)
class Answer:
    chosen_response: str | None
    payload: dict[str, Any] | None


def validate_answer(
    question_type: str, content: dict[str, Any], allow_tie: bool, answer: TaskResponse
) -> Answer:
    """Return the answer in stored form, or raise InvalidInput naming the offending field."""
    given = {
        name
        for name in ("chosen_response", "ranking", "text", "transcript")
        if getattr(answer, name) is not None
    }
    expected = {
        "pairwise_ab": "chosen_response",
        "ranking": "ranking",
        "text_generation": "text",
        "voice_transcription": "transcript",
    }[question_type]
    for extra in sorted(given - {expected}):
        raise InvalidInput(f"a {question_type} answer has no {extra}", field=extra)
    if expected not in given:
        raise InvalidInput(f"a {question_type} answer needs {expected}", field=expected)
    if question_type == "pairwise_ab":
        if answer.chosen_response == "tie" and not allow_tie:
            raise InvalidInput("this task does not allow a tie", field="chosen_response")
        return Answer(chosen_response=answer.chosen_response, payload=None)
    if question_type == "ranking":
        n = len(content["options"])
        if sorted(answer.ranking or []) != list(range(n)):
            raise InvalidInput(
                f"ranking must order every option index 0..{n - 1} exactly once", field="ranking"
            )
        return Answer(chosen_response=None, payload={"ranking": answer.ranking})
    if question_type == "text_generation":
        if not (answer.text or "").strip():
            raise InvalidInput("text must not be empty", field="text")
        return Answer(chosen_response=None, payload={"text": answer.text})
    if not (answer.transcript or "").strip():
        raise InvalidInput("transcript must not be empty", field="transcript")
    return Answer(chosen_response=None, payload={"transcript": answer.transcript})


@dataclass(frozen=True)
class Submitted:
    submission_id: UUID
    task_id: UUID
    response_version: int
    replayed: bool


async def submit(
    conn: AsyncConnection,
    *,
    task_id: UUID,
    user_id: UUID,
    answer: TaskResponse,
    idempotency_key: str | None = None,
) -> Submitted:
    """Store one answer (a revision if the user answered before) and update consensus.

    Runs inside the caller's transaction; on a unique violation from a concurrent duplicate the
    caller retries, and the retry finds the first request's answer by its idempotency key.
    """
    if idempotency_key is not None:
        earlier = await q.fetch_one(
            conn, "responses.by_idempotency_key", {"user_id": user_id, "key": idempotency_key}
        )
        if earlier is not None:
            if earlier["task_id"] != task_id:
                raise Conflict(
                    "this Idempotency-Key was already used for another task",
                    field="Idempotency-Key",
                )
            return Submitted(earlier["id"], task_id, earlier["response_version"], replayed=True)
    task = await q.fetch_one(conn, "responses.task_for_answer", {"task_id": task_id})
    if task is None:
        raise NotFound("no such task", field="task_id")
    if task["status"] != "active":
        raise Conflict(f"the task is {task['status']} and takes no answers")
    if task["expired"]:
        raise Conflict("the task has expired and takes no answers")
    stored = validate_answer(task["question_type"], task["content"], task["allow_tie"], answer)
    order = None
    chosen = stored.chosen_response
    if task["question_type"] == "pairwise_ab":
        order = shown_order(task_id, user_id)
        chosen = to_canonical(chosen, order) if chosen else None
    await q.execute(conn, "responses.retire_latest", {"task_id": task_id, "user_id": user_id})
    row = await q.fetch_one(
        conn,
        "responses.insert",
        {
            "task_id": task_id,
            "user_id": user_id,
            "question_id": task["question_id"],
            "chosen_response": chosen,
            "confidence": answer.confidence,
            "explanation": answer.explanation,
            "time_spent_seconds": answer.time_spent_seconds,
            "shown_order": order,
            "payload": Jsonb(stored.payload) if stored.payload is not None else None,
            "idempotency_key": idempotency_key,
        },
    )
    if row is None:
        raise NotFound("no such user", field="user_id")
    await q.execute(conn, "responses.drop_lease", {"task_id": task_id, "user_id": user_id})
    if task["question_type"] == "voice_transcription":
        await refresh_transcription(conn, task_id)
    return Submitted(row["id"], task_id, row["response_version"], replayed=False)


async def refresh_transcription(conn: AsyncConnection, task_id: UUID) -> None:
    """Recompute a transcription task's medoid and agreement (jiwer) and settle its consensus."""
    rows = await q.fetch_all(conn, "responses.latest_transcripts", {"task_id": task_id})
    found = aggregation.transcription_consensus([r["transcript"] or "" for r in rows])
    if found is None:
        summary: dict[str, Any] = {}
    else:
        medoid, agreement = found
        summary = {
            "medoid": rows[medoid]["transcript"],
            "medoid_submission": str(rows[medoid]["id"]),
            "agreement": agreement,
        }
    await q.execute(
        conn, "responses.set_transcription", {"task_id": task_id, "transcription": Jsonb(summary)}
    )
    await q.fetch_one(conn, "responses.settle", {"task_id": task_id})


async def history(conn: AsyncConnection, task_id: UUID, user_id: UUID) -> list[dict[str, Any]]:
    """Return every version of one user's answer to one task, newest first."""
    return await q.fetch_all(conn, "responses.history", {"task_id": task_id, "user_id": user_id})


async def has_answered(conn: AsyncConnection, task_id: UUID, user_id: UUID) -> bool:
    """Return whether the user has answered the task (any version)."""
    row = await q.fetch_one(
        conn, "responses.has_answered", {"task_id": task_id, "user_id": user_id}
    )
    return bool(row and row["answered"])
