"""The task list as cards with live consensus progress, and the answering page."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from whstudio.domain import tasks as tasks_domain
from whstudio.domain import visibility
from whstudio.domain.users import Principal
from whstudio.web.deps import Conn, require
from whstudio.web.policies import ANYONE_SIGNED_IN
from whstudio.web.templating import page

router = APIRouter(tags=["pages"], include_in_schema=False)

SignedIn = Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]
QuestionType = Literal["", "pairwise_ab", "ranking", "text_generation", "voice_transcription"]
Status = Literal["", "active", "paused", "completed", "draft", "cancelled"]
Progress = Literal["", "needs_more", "reached"]
Sort = Literal["created", "priority", "progress", "remaining", "agreement"]
PAGE_SIZE = 24


def dashboard_filters(
    status: str, question_type: str, source_dataset: str, progress: str
) -> dict[str, Any]:
    """Return the dashboard filters a task-list form asked for ('' means any)."""
    return {
        "status": status or None,
        "question_type": question_type or None,
        "source_dataset": source_dataset or None,
        "consensus_reached": True if progress == "reached" else None,
        "needs_more_responses": True if progress == "needs_more" else None,
    }


@router.get("/tasks")
async def task_list(
    request: Request,
    user: SignedIn,
    conn: Conn,
    status: Status = "active",
    question_type: QuestionType = "",
    source_dataset: Annotated[str, Query(max_length=200)] = "",
    progress: Progress = "",
    sort: Sort = "created",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
):
    sight = visibility.decide(user.role, user.id)
    sort = visibility.list_sort(sight, sort)
    result = await visibility.task_list(
        conn,
        user,
        filters=dashboard_filters(status, question_type, source_dataset, progress),
        sort=sort,
        limit=PAGE_SIZE,
        cursor=cursor or None,
    )
    overview = await tasks_domain.overview(conn)
    chosen = {
        "status": status,
        "question_type": question_type,
        "source_dataset": source_dataset,
        "progress": progress,
        "sort": sort,
    }
    return page(
        request,
        "tasks.html",
        {
            "tasks": result["items"],
            "total": result["total"],
            "next_cursor": result["next_cursor"],
            "chosen": chosen,
            "datasets": [d["source_dataset"] for d in overview["datasets"] if d["source_dataset"]],
            "staff": sight.staff,
        },
        user=user,
    )


@router.get("/annotate")
async def annotate_next(request: Request, user: SignedIn):
    """The answering page; its script reserves the next task through the API."""
    return page(request, "annotate.html", {"task_id": None}, user=user)


@router.get("/annotate/{task_id}")
async def annotate_task(request: Request, task_id: UUID, user: SignedIn, conn: Conn):
    await tasks_domain.detail(conn, task_id)  # a clear 404 page for a task that is not there
    return page(request, "annotate.html", {"task_id": task_id}, user=user)
