"""The review queue and adjudication of disputed tasks (reviewers and admins)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse

from whstudio.domain import review
from whstudio.domain.users import Principal
from whstudio.errors import Conflict, InvalidInput
from whstudio.web.deps import Conn, require
from whstudio.web.policies import STAFF
from whstudio.web.templating import page

router = APIRouter(tags=["pages"], include_in_schema=False)

Staff = Annotated[Principal, Depends(require(STAFF))]
PAGE_SIZE = 50


@router.get("/review")
async def review_queue(
    request: Request,
    user: Staff,
    conn: Conn,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    after = review.parse_cursor(cursor) if cursor else None
    found = await review.queue(conn, limit=PAGE_SIZE, after=after)
    return page(request, "review_queue.html", found, user=user)


async def _task_page(request, conn, user, task_id: UUID, *, error=None, status=200, form=None):
    found = await review.detail(conn, task_id)
    context: dict[str, Any] = {
        **found,
        "error": error,
        "form": form or {},
        "saved": request.query_params.get("saved") == "1",
    }
    return page(request, "review_task.html", context, user=user, status_code=status)


@router.get("/review/{task_id}")
async def review_task(request: Request, task_id: UUID, user: Staff, conn: Conn):
    return await _task_page(request, conn, user, task_id)


def final_answer_from_form(question_type: str, choice: str, order: str, text: str) -> dict:
    """Return the adjudicated answer the form describes (checked again by the domain)."""
    if question_type == "pairwise_ab":
        return {"chosen_response": choice}
    if question_type == "ranking":
        try:
            numbers = [int(part) - 1 for part in order.replace(",", " ").split()]
        except ValueError:
            raise InvalidInput(
                "write the option numbers in order, best first, like 2 1 3",
                field="final_answer.ranking",
            ) from None
        return {"ranking": numbers}
    key = "text" if question_type == "text_generation" else "transcript"
    return {key: text}


@router.post("/review/{task_id}/adjudicate")
async def review_adjudicate(
    request: Request,
    task_id: UUID,
    user: Staff,
    conn: Conn,
    note: Annotated[str, Form(max_length=5000)] = "",
    chosen_response: Annotated[str, Form(max_length=10)] = "",
    ranking: Annotated[str, Form(max_length=500)] = "",
    text: Annotated[str, Form(max_length=100_000)] = "",
):
    form = {"note": note, "chosen_response": chosen_response, "ranking": ranking, "text": text}
    found = await review.detail(conn, task_id)
    try:
        if not note.strip():
            raise InvalidInput("write a note saying why", field="note")
        answer = final_answer_from_form(
            found["task"]["question_type"], chosen_response, ranking, text
        )
        async with conn.transaction():
            await review.adjudicate(
                conn, task_id, reviewer_id=user.id, final_answer=answer, note=note.strip()
            )
    except (InvalidInput, Conflict) as exc:
        return await _task_page(
            request, conn, user, task_id, error=exc.message, status=exc.status, form=form
        )
    return RedirectResponse(f"/review/{task_id}?saved=1", status_code=303)
