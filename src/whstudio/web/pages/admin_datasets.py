"""Admin: each dataset's rules for all its tasks at once, what its annotators may see (reveal
policy, gold feedback), its gold-check rate, and its guidelines (versioned, with criteria)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from whstudio.db import queries as q
from whstudio.domain import distribution, guidelines, policies
from whstudio.domain.users import Principal
from whstudio.errors import InvalidInput
from whstudio.web.deps import Conn, require
from whstudio.web.pages.admin_tasks import change_rules_from_form, rule_problem
from whstudio.web.policies import ADMIN
from whstudio.web.templating import page

router = APIRouter(tags=["pages"], include_in_schema=False)

Admin = Annotated[Principal, Depends(require(ADMIN))]
Dataset = Annotated[str, Path(min_length=1, max_length=200)]
SAVED = {
    "rules": "The rule of every task of this dataset was saved; consensus recomputed.",
    "policy": "What annotators may see was saved.",
    "gold": "The gold-check rate was saved.",
    "guidelines": "The guidelines were published as a new version.",
    "unchanged": "The guidelines are the same as the version in force: nothing new published.",
}
REVEAL_LABELS = {
    "after_answer": "after answering (a later change of answer is kept but does not count)",
    "after_close": "once the task has all its answers",
    "never": "never",
}


@router.get("/admin/datasets")
async def datasets_page(request: Request, user: Admin, conn: Conn):
    rows = await q.fetch_all(conn, "policies.datasets")
    return page(
        request,
        "admin_datasets.html",
        {"datasets": rows, "reveal_labels": REVEAL_LABELS},
        user=user,
    )


async def _dataset_page(request, conn, user, dataset, *, error=None, field=None, status=200):
    summary = await q.fetch_one(conn, "policies.dataset", {"dataset": dataset})
    context = {
        "dataset": dataset,
        "summary": summary,
        "policy": await policies.policy_of(conn, dataset),
        "gold_rate": summary["gold_rate"],
        "guidelines": await guidelines.newest(conn, dataset),
        "versions": await guidelines.versions(conn, dataset),
        "reveal_labels": REVEAL_LABELS,
        "saved": SAVED.get(request.query_params.get("saved", "")),
        "error": error,
        "error_field": field,
    }
    return page(request, "admin_dataset.html", context, user=user, status_code=status)


@router.get("/admin/datasets/{dataset}")
async def dataset_page(request: Request, dataset: Dataset, user: Admin, conn: Conn):
    return await _dataset_page(request, conn, user, dataset)


def _back(dataset: str, saved: str) -> RedirectResponse:
    from urllib.parse import quote

    return RedirectResponse(f"/admin/datasets/{quote(dataset, safe='')}?saved={saved}", 303)


@router.post("/admin/datasets/{dataset}/rules")
async def dataset_rules(
    request: Request,
    dataset: Dataset,
    user: Admin,
    conn: Conn,
    threshold: Annotated[str, Form(max_length=20)] = "",
    min_agreement: Annotated[str, Form(max_length=20)] = "",
    allow_tie: Annotated[str, Form(max_length=10)] = "",
):
    try:
        await change_rules_from_form(
            conn,
            {"dataset": dataset},
            threshold=threshold,
            min_agreement=min_agreement,
            allow_tie=allow_tie,
        )
    except ValidationError as exc:
        field, message = rule_problem(exc)
        return await _dataset_page(
            request, conn, user, dataset, error=message, field=field, status=422
        )
    except InvalidInput as exc:
        return await _dataset_page(
            request, conn, user, dataset, error=exc.message, field="rules", status=422
        )
    return _back(dataset, "rules")


@router.post("/admin/datasets/{dataset}/policy")
async def dataset_policy(
    request: Request,
    dataset: Dataset,
    user: Admin,
    conn: Conn,
    reveal: Annotated[str, Form(max_length=20)] = "after_answer",
    gold_feedback: Annotated[str, Form(max_length=10)] = "",
):
    try:
        async with conn.transaction():
            await policies.set_policy(
                conn, dataset, reveal=reveal, gold_feedback=gold_feedback == "yes"
            )
    except InvalidInput as exc:
        return await _dataset_page(
            request, conn, user, dataset, error=exc.message, field="reveal", status=422
        )
    return _back(dataset, "policy")


@router.post("/admin/datasets/{dataset}/gold-rate")
async def dataset_gold_rate(
    request: Request,
    dataset: Dataset,
    user: Admin,
    conn: Conn,
    gold_rate: Annotated[str, Form(max_length=20)] = "",
):
    try:
        rate = float(gold_rate) if gold_rate.strip() else None
        if rate is not None and not 0 <= rate <= 1:
            raise ValueError
    except ValueError:
        return await _dataset_page(
            request,
            conn,
            user,
            dataset,
            error="Gold-check rate: a number from 0 to 1, or empty for the default.",
            field="gold_rate",
            status=422,
        )
    async with conn.transaction():
        await distribution.set_gold_rate(conn, dataset, rate)
    return _back(dataset, "gold")


@router.post("/admin/datasets/{dataset}/guidelines")
async def dataset_guidelines(
    request: Request,
    dataset: Dataset,
    user: Admin,
    conn: Conn,
    body: Annotated[str, Form(max_length=guidelines.MAX_BODY_CHARS + 1000)] = "",
    criteria: Annotated[str, Form(max_length=2000)] = "",
):
    names = [c.strip().lower() for c in criteria.replace("\n", ",").split(",") if c.strip()]
    try:
        async with conn.transaction():
            _, made = await guidelines.publish(
                conn,
                dataset,
                body=body.replace("\r\n", "\n"),
                criteria=names,
                created_by=user.id,
            )
    except InvalidInput as exc:
        label = {"body": "Guidelines", "criteria": "Criteria"}.get(exc.field or "", "Guidelines")
        return await _dataset_page(
            request,
            conn,
            user,
            dataset,
            error=f"{label}: {exc.message}",
            field=exc.field,
            status=422,
        )
    return _back(dataset, "guidelines" if made else "unchanged")
