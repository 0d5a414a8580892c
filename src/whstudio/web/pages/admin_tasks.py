"""Admin: every task with its rule, and one task's rule, schedule and status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from whstudio.domain import tasks as tasks_domain
from whstudio.domain import visibility
from whstudio.domain.users import Principal
from whstudio.errors import Conflict, InvalidInput
from whstudio.schemas import BulkRuleChange, RuleChange
from whstudio.web.deps import Conn, require
from whstudio.web.pages.tasks import Progress, QuestionType, Status, dashboard_filters
from whstudio.web.policies import ADMIN
from whstudio.web.templating import page

router = APIRouter(tags=["pages"], include_in_schema=False)

Admin = Annotated[Principal, Depends(require(ADMIN))]
PAGE_SIZE = 50
SAVED = {"rule": "The rule was saved and the consensus recomputed.", "status": "Status changed."}


@router.get("/admin/tasks")
async def admin_tasks(
    request: Request,
    user: Admin,
    conn: Conn,
    status: Status = "",
    question_type: QuestionType = "",
    source_dataset: Annotated[str, Query(max_length=200)] = "",
    progress: Progress = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    changed: Annotated[int | None, Query(ge=0)] = None,
    error: str | None = None,
):
    result = await visibility.task_list(
        conn,
        user,
        filters=dashboard_filters(status, question_type, source_dataset, progress),
        sort="created",
        limit=PAGE_SIZE,
        cursor=cursor or None,
    )
    overview = await tasks_domain.overview(conn)
    chosen = {
        "status": status,
        "question_type": question_type,
        "source_dataset": source_dataset,
        "progress": progress,
    }
    context = {
        "tasks": result["items"],
        "total": result["total"],
        "next_cursor": result["next_cursor"],
        "chosen": chosen,
        "datasets": [d["source_dataset"] for d in overview["datasets"] if d["source_dataset"]],
        "changed": changed,
        "error": error,
    }
    return page(request, "admin_tasks.html", context, user=user, status_code=422 if error else 200)


@router.post("/admin/tasks/rules")
async def admin_tasks_bulk_rule(
    request: Request,
    user: Admin,
    conn: Conn,
    status: Annotated[str, Form(max_length=20)] = "",
    question_type: Annotated[str, Form(max_length=30)] = "",
    source_dataset: Annotated[str, Form(max_length=200)] = "",
    every_task: Annotated[str, Form(max_length=10)] = "",
    threshold: Annotated[str, Form(max_length=20)] = "",
    min_agreement: Annotated[str, Form(max_length=20)] = "",
    allow_tie: Annotated[str, Form(max_length=10)] = "",
):
    """One rule change for every task of the chosen status, type and dataset."""
    from urllib.parse import urlencode

    back = {"status": status, "question_type": question_type, "source_dataset": source_dataset}
    chosen = {
        "dataset": source_dataset or None,
        "question_type": question_type or None,
        "status": status or None,
        "all": every_task == "yes",
    }
    try:
        done = await change_rules_from_form(
            conn, chosen, threshold=threshold, min_agreement=min_agreement, allow_tie=allow_tie
        )
    except ValidationError as exc:
        return await _list_error(request, conn, user, back, rule_problem(exc)[1])
    except InvalidInput as exc:
        message = (
            "choose a status, type or dataset, or tick 'every task'"
            if exc.field == "filter"
            else exc.message
        )
        return await _list_error(request, conn, user, back, message)
    query = urlencode({**back, "changed": done["changed"]})
    return RedirectResponse(f"/admin/tasks?{query}", status_code=303)


async def change_rules_from_form(
    conn, task_filter: dict, *, threshold: str, min_agreement: str, allow_tie: str
) -> dict:
    """One rule change from a form's fields (empty: unchanged; ties "yes", "no" or "") for
    every task the filter picks, validated like the API's; raises ValidationError or
    InvalidInput (the domain's refusals: nothing to change, no filter)."""
    change = BulkRuleChange.model_validate(
        {
            "filter": task_filter,
            "consensus_threshold": threshold or None,
            "min_agreement_percentage": min_agreement or None,
            "allow_tie": {"yes": True, "no": False}.get(allow_tie),
        }
    )
    async with conn.transaction():
        return await tasks_domain.change_rules(
            conn,
            change.filter.model_dump(exclude_none=True),
            change.model_dump(exclude={"filter"}, exclude_none=True),
        )


def rule_problem(exc: ValidationError) -> tuple[str, str]:
    """The field a rule form got wrong, and the message naming it in the form's words."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first.get("loc") else "rule"
    return field, f"{FIELD_LABELS.get(field, field)}: {first['msg']}"


async def _list_error(request, conn, user, chosen: dict, message: str):
    return await admin_tasks(
        request,
        user,
        conn,
        status=chosen["status"],
        question_type=chosen["question_type"],
        source_dataset=chosen["source_dataset"],
        error=message,
    )


async def _task_page(request, conn, user, task_id: UUID, *, error=None, field=None, status=200):
    task = await tasks_domain.detail(conn, task_id)
    state = await visibility.consensus_for(conn, user, task_id)
    saved = SAVED.get(request.query_params.get("saved", ""))
    context = {"task": task, "consensus": state, "error": error, "error_field": field}
    context["saved"] = saved
    context["expires_value"] = expiry_value(task["expires_at"])
    return page(request, "admin_task.html", context, user=user, status_code=status)


@router.get("/admin/tasks/{task_id}")
async def admin_task(request: Request, task_id: UUID, user: Admin, conn: Conn):
    return await _task_page(request, conn, user, task_id)


def _rule_from_form(
    threshold: str, min_agreement: str, allow_tie: str, priority: str, expires_at: str
) -> dict:
    """Return the rule change the form asks for, validated like the API's (pydantic)."""
    raw: dict = {
        "consensus_threshold": threshold or None,
        "min_agreement_percentage": min_agreement or None,
        "allow_tie": allow_tie == "yes",
        "priority": priority or None,
    }
    raw["expires_at"] = expires_at or None
    changes = RuleChange.model_validate(raw).model_dump()
    if changes["expires_at"] is not None and changes["expires_at"].tzinfo is None:
        changes["expires_at"] = changes["expires_at"].replace(tzinfo=UTC)  # the form says UTC
    return changes


@router.post("/admin/tasks/{task_id}/rule")
async def admin_task_rule(
    request: Request,
    task_id: UUID,
    user: Admin,
    conn: Conn,
    threshold: Annotated[str, Form(max_length=20)] = "",
    min_agreement: Annotated[str, Form(max_length=20)] = "",
    allow_tie: Annotated[str, Form(max_length=10)] = "",
    priority: Annotated[str, Form(max_length=10)] = "",
    expires_at: Annotated[str, Form(max_length=40)] = "",
):
    try:
        changes = _rule_from_form(threshold, min_agreement, allow_tie, priority, expires_at)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else "rule"
        message = f"{FIELD_LABELS.get(field, field)}: {first['msg']}"
        return await _task_page(
            request, conn, user, task_id, error=message, field=field, status=422
        )
    async with conn.transaction():
        await tasks_domain.change_rule(conn, task_id, changes)
    return RedirectResponse(f"/admin/tasks/{task_id}?saved=rule", status_code=303)


FIELD_LABELS = {
    "consensus_threshold": "Answers needed",
    "min_agreement_percentage": "Minimum agreement",
    "allow_tie": "Ties allowed",
    "priority": "Priority",
    "expires_at": "Expires at",
}


@router.post("/admin/tasks/{task_id}/status")
async def admin_task_status(
    request: Request,
    task_id: UUID,
    user: Admin,
    conn: Conn,
    action: Annotated[Literal["pause", "resume", "close"], Form()],
):
    try:
        async with conn.transaction():
            await tasks_domain.change_status(conn, task_id, action)
    except Conflict as exc:
        return await _task_page(
            request, conn, user, task_id, error=exc.message, field="status", status=409
        )
    return RedirectResponse(f"/admin/tasks/{task_id}?saved=status", status_code=303)


def expiry_value(value: datetime | None) -> str:
    """Return a timestamp as a datetime-local form value (UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if value else ""
