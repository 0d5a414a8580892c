"""Review and adjudication (reviewers and admins)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from whstudio.domain import review
from whstudio.domain.users import Principal
from whstudio.web.deps import Conn, require
from whstudio.web.errors import error_responses
from whstudio.web.policies import STAFF

router = APIRouter(prefix="/api/review", tags=["review"], responses=error_responses())

Staff = Annotated[Principal, Depends(require(STAFF))]


@router.get(
    "/queue",
    summary="Disputed tasks, then tasks with answers flagged for review (reviewers and admins)",
)
async def queue(
    user: Staff,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    after = review.parse_cursor(cursor) if cursor else None
    return await review.queue(conn, limit=limit, after=after)


@router.get(
    "/tasks/{task_id}",
    summary="A task with gold, consensus, every answer with explanation, quality marks and the "
    "annotators' reputations (reviewers and admins)",
)
async def task_for_review(task_id: UUID, user: Staff, conn: Conn):
    return await review.detail(conn, task_id)


class Adjudication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    final_answer: dict[str, Any] = Field(
        description="the answer in the task's type: chosen_response (canonical A/B/tie), "
        "ranking, text or transcript"
    )
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


@router.post(
    "/tasks/{task_id}/adjudicate",
    status_code=201,
    summary="Set a task's final answer with a note; it overrides consensus, completes the task "
    "and counts as gold for reputation (reviewers and admins)",
    responses={409: {"description": "already adjudicated, or the task is cancelled"}},
)
async def adjudicate(task_id: UUID, body: Adjudication, user: Staff, conn: Conn):
    async with conn.transaction():
        return await review.adjudicate(
            conn, task_id, reviewer_id=user.id, final_answer=body.final_answer, note=body.note
        )
