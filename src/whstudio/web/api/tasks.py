"""Tasks: the dashboard, one task, answering, the next task, skipping, and admin changes."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from whstudio.domain import distribution, responses, visibility
from whstudio.domain import tasks as tasks_domain
from whstudio.domain.users import Principal
from whstudio.errors import Forbidden
from whstudio.schemas import (
    BulkRuleChange,
    RuleChange,
    SkipRequest,
    SubmitResult,
    TaskPage,
    TaskResponse,
    TasksCreate,
    TaskStatus,
)
from whstudio.web.deps import Conn, read_for, require
from whstudio.web.errors import error_responses
from whstudio.web.policies import ADMIN, ANYONE_SIGNED_IN, STAFF

router = APIRouter(prefix="/api", tags=["tasks"], responses=error_responses())

SignedIn = Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]
Admin = Annotated[Principal, Depends(require(ADMIN))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retries with the same key return the first result and count once.",
    ),
]


@router.get(
    "/tasks",
    response_model=TaskPage,
    summary="The task dashboard, filtered, sorted, keyset-paginated (anyone signed in)",
)
async def list_tasks(
    request: Request,
    user: SignedIn,
    status_: Annotated[TaskStatus | None, Query(alias="status")] = None,
    question_type: Literal["pairwise_ab", "ranking", "text_generation", "voice_transcription"]
    | None = None,
    source_dataset: Annotated[str | None, Query(max_length=200)] = None,
    consensus_reached: bool | None = None,
    needs_more_responses: bool | None = None,
    has_gold: Annotated[bool | None, Query(description="reviewers and admins only")] = None,
    sort: Literal["created", "priority", "progress", "remaining", "agreement"] = "created",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    total: bool = True,
):
    filters: dict[str, Any] = {
        "status": status_,
        "question_type": question_type,
        "source_dataset": source_dataset,
        "consensus_reached": consensus_reached,
        "needs_more_responses": needs_more_responses,
        "has_gold": has_gold,
    }
    async with read_for(request, user) as conn:  # staff's from the replica, when there is one
        return await visibility.task_list(
            conn, user, filters=filters, sort=sort, limit=limit, cursor=cursor, with_total=total
        )


@router.get(
    "/tasks/next",
    summary="Reserve and return the next task for the caller; 204 when none (anyone signed in)",
    responses={204: {"description": "no task is waiting for this annotator"}},
)
async def next_task(
    request: Request,
    user: SignedIn,
    conn: Conn,
    dataset: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="only this source dataset's tasks, with its gold-check rate",
        ),
    ] = None,
):
    settings = request.app.state.settings
    lease = await distribution.next_task(
        conn,
        user.id,
        lease_seconds=settings.lease_seconds,
        gold_rate=settings.gold_rate,
        dataset=dataset,
        leases_per_user=settings.leases_per_user,
        lease_max_seconds=settings.lease_max_seconds,
    )
    if lease is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    view = await visibility.leased_task(conn, user, lease.task)
    view["lease_expires_at"] = lease.expires_at
    return view


@router.get(
    "/tasks/{task_id}",
    summary="One task as the caller may see it: annotators get no gold and no others' "
    "answers until they answered (anyone signed in)",
)
async def get_task(task_id: UUID, user: SignedIn, conn: Conn):
    return await visibility.task_for(conn, user, task_id)


@router.post(
    "/tasks/{task_id}/submit",
    response_model=SubmitResult,
    status_code=status.HTTP_201_CREATED,
    summary="Answer a task; a later answer revises the earlier one, unless given after seeing "
    "others' answers: then it is kept but the earlier one counts (anyone signed in)",
    responses={
        200: {"description": "a replay of an earlier request with the same Idempotency-Key"},
        409: {"description": "the task is paused, closed or expired"},
    },
)
async def submit(
    task_id: UUID,
    body: TaskResponse,
    request: Request,
    response: Response,
    user: SignedIn,
    conn: Conn,
    idempotency_key: IdempotencyKey = None,
):
    # With the other answers this process receives meanwhile (domain/group_commit.py); an
    # answer of more than one statement in a transaction of its own.
    done = await request.app.state.group_commit.submit(
        conn, task_id=task_id, user_id=user.id, answer=body, idempotency_key=idempotency_key
    )
    # Committed: now the consensus events go out (see EventPublisher).
    request.app.state.publisher.publish(done.events)
    metrics = request.app.state.metrics
    if done.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    else:
        metrics.submissions.labels(done.question_type).inc()
        metrics.consensus_events.labels("updated").inc()
        if done.reached_now:
            metrics.consensus_events.labels("reached").inc()
    return SubmitResult(
        submission_id=done.submission_id,
        task_id=task_id,
        response_version=done.response_version,
        replayed=done.replayed,
        counted=not done.informed,
        consensus=visibility.submitted_consensus(user, task_id, done.consensus),
    )


@router.get(
    "/tasks/{task_id}/history",
    summary="Every version of the caller's own answer to a task (anyone signed in)",
)
async def answer_history(
    task_id: UUID,
    user: SignedIn,
    conn: Conn,
    user_id: Annotated[
        UUID | None, Query(description="another annotator's (reviewers and admins)")
    ] = None,
):
    whose = user.id
    if user_id is not None and user_id != user.id:
        if user.role not in STAFF:
            raise Forbidden("only reviewers and admins may read another annotator's answers")
        whose = user_id
    await tasks_domain.detail(conn, task_id)
    return await responses.history(conn, task_id, whose)


@router.post(
    "/tasks/{task_id}/skip",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Skip a task with a reason; it is not offered again (anyone signed in)",
)
async def skip(task_id: UUID, body: SkipRequest, user: SignedIn, conn: Conn) -> None:
    async with conn.transaction():
        await distribution.skip(conn, task_id, user.id, body.reason)


@router.post(
    "/admin/tasks",
    status_code=status.HTTP_201_CREATED,
    summary="Create questions and tasks in bulk, all or nothing (admin)",
)
async def create_tasks(body: TasksCreate, user: Admin, conn: Conn):
    items = [item.model_dump(exclude_unset=False) for item in body.items]
    async with conn.transaction():
        created = await tasks_domain.create_many(conn, items, creator_id=user.id)
    return {"items": created, "tasks_created": sum(1 for c in created if c["task_created"])}


@router.patch(
    "/admin/tasks/rules",
    summary="Change the consensus rule of every task a filter picks (a dataset, a type, a "
    "status, item metadata such as turn, or given ids), consensus recomputed in the same "
    "transaction (admin)",
)
async def change_rules(body: BulkRuleChange, user: Admin, conn: Conn):
    changes = body.model_dump(exclude={"filter"}, exclude_none=True)
    async with conn.transaction():
        return await tasks_domain.change_rules(conn, body.filter.model_dump(), changes)


@router.patch(
    "/admin/tasks/{task_id}/rule",
    summary="Change a task's consensus rule or schedule; consensus is recomputed (admin)",
)
async def change_rule(task_id: UUID, body: RuleChange, user: Admin, conn: Conn):
    async with conn.transaction():
        await tasks_domain.change_rule(conn, task_id, body.model_dump(exclude_unset=True))
    return await visibility.consensus_for(conn, user, task_id)


@router.post("/admin/tasks/{task_id}/{action}", summary="Pause, resume or close a task (admin)")
async def change_status(
    task_id: UUID, action: Literal["pause", "resume", "close"], user: Admin, conn: Conn
):
    async with conn.transaction():
        new_status = await tasks_domain.change_status(conn, task_id, action)
    return {"id": task_id, "status": new_status}
