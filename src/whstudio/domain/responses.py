"""Answers: validation per question type, position randomisation, revisions and idempotency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from whstudio.db import queries as q
from whstudio.db.errors import domain_error
from whstudio.domain import aggregation, guidelines, keyed
from whstudio.domain import questions as questions_domain
from whstudio.errors import Conflict
from whstudio.schemas import TaskResponse

_SWAP = {"A": "B", "B": "A", "tie": "tie"}


def shown_order(task_id: UUID, user_id: UUID) -> str:
    """Return 'AB' or 'BA': the stable, per-annotator order in which a task's answers are shown.

    A digest keyed by the server's secret, not a stored coin flip, so every view of the task
    agrees without a write; over many tasks each annotator sees the canonical A first about
    half the time. Keyed, so that nobody can tell from the ids which side was shown first to
    whom (an unkeyed hash could be computed by anyone). An answer keeps the order it was given
    under (submissions.shown_order).
    """
    digest = keyed.digest("shown-order", f"{task_id}:{user_id}")
    return "AB" if digest[0] & 1 == 0 else "BA"


def to_canonical(choice: str, order: str) -> str:
    """Map a choice made on the shown labels to the canonical A/B."""
    return choice if order == "AB" else _SWAP[choice]


def to_shown(choice: str | None, order: str) -> str | None:
    """Map a canonical choice to the label this annotator saw."""
    return choice if choice is None or order == "AB" else _SWAP[choice]


def shown_content(content: dict[str, Any], order: str) -> dict[str, Any]:
    """Return pairwise content with optionA/optionB (and each side's messages) in the order
    this annotator sees them."""
    if order == "AB" or "optionA" not in content:
        return dict(content)
    return questions_domain.swap_sides(content)


def single_statement(answer: TaskResponse) -> bool:
    """Return whether storing this answer is one statement. A transcript is followed by a
    second step (word error rates), ticked criteria by their own, each sharing its transaction;
    an answer without them is either for another type or refused by the database function."""
    return answer.transcript is None and not answer.reasons


@dataclass(frozen=True)
class Submitted:
    submission_id: UUID
    task_id: UUID
    response_version: int
    replayed: bool
    question_type: str
    # Given after its author could see others' answers: kept, but not the answer that counts.
    informed: bool
    reached_now: bool
    consensus: dict[str, Any]
    # Consensus events to publish after the commit (only with `defer_events`; else notified
    # inside the transaction).
    events: tuple[dict[str, Any], ...] = ()


def submit_params(
    task_id: UUID, user_id: UUID, answer: TaskResponse, idempotency_key: str | None
) -> dict[str, Any]:
    """The arguments of `submit_answer_v2` for one answer. A pairwise choice arrives in the
    labels this annotator was shown and is stored canonically."""
    order = shown_order(task_id, user_id)
    chosen = answer.chosen_response
    return {
        "task_id": task_id,
        "user_id": user_id,
        "chosen_response": to_canonical(chosen, order) if chosen else None,
        "ranking": Jsonb(answer.ranking) if answer.ranking is not None else None,
        "text": answer.text,
        "transcript": answer.transcript,
        "confidence": answer.confidence,
        "explanation": answer.explanation,
        "time_spent_seconds": answer.time_spent_seconds,
        "shown_order": order,
        "idempotency_key": idempotency_key,
    }


async def store_one(
    conn: AsyncConnection, params: dict[str, Any], *, defer_events: bool = True
) -> dict[str, Any]:
    """Run the one statement that stores an answer; return the database function's result. A
    refusal on purpose is raised as its domain error, any other error as it is."""
    try:
        row = await q.fetch_one(
            conn, "responses.submit_deferred" if defer_events else "responses.submit", params
        )
    except psycopg.DatabaseError as exc:
        raise domain_error(exc) from exc
    return row["result"]


async def finish_submitted(
    conn: AsyncConnection,
    task_id: UUID,
    result: dict[str, Any],
    params: dict[str, Any],
    reasons: list[str] | None = None,
) -> Submitted:
    """What follows the statement: a replay checked against the answer first stored, ticked
    criteria stored, a transcription's word error rates; the `Submitted` it made."""
    if result["replayed"]:
        await _same_answer_as_first(conn, UUID(result["submission_id"]), params)
    elif reasons:
        await guidelines.set_reasons(conn, UUID(result["submission_id"]), reasons)
    if result["question_type"] == "voice_transcription" and not result["replayed"]:
        await refresh_transcription(conn, task_id)
        result["consensus"] = (
            await q.fetch_one(conn, "responses.consensus_row", {"task_id": task_id})
        )["row"]
    return Submitted(
        submission_id=UUID(result["submission_id"]),
        task_id=task_id,
        response_version=result["response_version"],
        replayed=result["replayed"],
        question_type=result["question_type"],
        informed=bool(result.get("informed")),
        reached_now=bool(result["reached_now"]),
        consensus=result["consensus"],
        events=tuple(result.get("events") or ()),
    )


async def submit(
    conn: AsyncConnection,
    *,
    task_id: UUID,
    user_id: UUID,
    answer: TaskResponse,
    idempotency_key: str | None = None,
    defer_events: bool = False,
) -> Submitted:
    """Store one answer (a revision if the user answered before) and update consensus.

    One database call (`submit_answer_v1`) checks the task, validates the answer for its type,
    writes it and returns the new consensus. Transcription answers take a second step (word
    error rates) that must share the transaction: `single_statement(answer)` tells the caller
    when none is needed. On a unique
    violation from a concurrent duplicate the caller retries, and the retry finds the first
    request's answer by its idempotency key.

    With `defer_events`, the consensus events are returned in `Submitted.events` instead of
    notified inside the transaction: the caller publishes them once it has committed (a NOTIFY
    serialises commits database-wide; see revision 0007). The API stores answers in groups
    (`domain.group_commit`), each as this function would.
    """
    params = submit_params(task_id, user_id, answer, idempotency_key)
    result = await store_one(conn, params, defer_events=defer_events)
    return await finish_submitted(conn, task_id, result, params, answer.reasons)


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


async def _same_answer_as_first(conn: AsyncConnection, first: UUID, params: dict) -> None:
    """A retry carries the answer its Idempotency-Key first stored; a different answer under
    the same key is refused (409), never dropped in silence behind the first one's result."""
    stored = await q.fetch_one(conn, "responses.replayed_answer", {"id": first})
    if stored is None:
        return
    payload = next(
        (
            {name: value.obj if isinstance(value, Jsonb) else value}
            for name in ("ranking", "text", "transcript")
            if (value := params[name]) is not None
        ),
        None,
    )
    sent = (
        params["chosen_response"],
        payload,
        params["confidence"],
        params["explanation"],
        params["time_spent_seconds"],
    )
    kept = (
        stored["chosen_response"],
        stored["payload"],
        stored["confidence"],
        stored["explanation"],
        stored["time_spent_seconds"],
    )
    if sent != kept:
        raise Conflict(
            "this Idempotency-Key was already used for a different answer: a retry must send"
            " the same answer, a new answer needs a new key",
            field="Idempotency-Key",
        )


async def history(conn: AsyncConnection, task_id: UUID, user_id: UUID) -> list[dict[str, Any]]:
    """Return every version of one user's answer to one task, newest first."""
    return await q.fetch_all(conn, "responses.history", {"task_id": task_id, "user_id": user_id})


async def answered_order(conn: AsyncConnection, task_id: UUID, user_id: UUID) -> str | None:
    """Return None when the user has not answered the task, else the A/B order their newest
    answer was given under ('' for a task that is not pairwise)."""
    row = await q.fetch_one(
        conn, "responses.answered_order", {"task_id": task_id, "user_id": user_id}
    )
    return None if row is None else row["shown_order"]
