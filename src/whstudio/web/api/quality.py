"""Annotator quality: reputation, per-answer quality, leaderboard, agreement, gold rates."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from whstudio.domain import agreement, distribution, policies, quality
from whstudio.domain.users import Principal
from whstudio.errors import Forbidden
from whstudio.schemas import Bool, Float
from whstudio.web.deps import Conn, ReadConn, require
from whstudio.web.disconnects import run_while_connected
from whstudio.web.errors import error_responses
from whstudio.web.policies import ADMIN, ANYONE_SIGNED_IN, STAFF

router = APIRouter(prefix="/api", tags=["quality"], responses=error_responses())

SignedIn = Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]
Staff = Annotated[Principal, Depends(require(STAFF))]
Admin = Annotated[Principal, Depends(require(ADMIN))]


async def _whose(conn, user: Principal, username: str | None) -> UUID:
    if username is None or username == user.username:
        return user.id
    if user.role not in STAFF:
        raise Forbidden("only reviewers and admins may read another annotator's quality")
    return await quality.resolve_user(conn, username)


@router.get(
    "/users/reputation",
    summary="Reputation with its basis, flags and history: one's own (anyone signed in); "
    "anyone's with ?user= (reviewers and admins)",
)
async def reputation(
    user: SignedIn,
    conn: Conn,
    username: Annotated[str | None, Query(alias="user", min_length=1, max_length=64)] = None,
    history: Annotated[int, Query(ge=0, le=500)] = 50,
):
    whose = await _whose(conn, user, username)
    return await quality.reputation(conn, whose, history=history, staff=user.role in STAFF)


@router.get(
    "/users/quality",
    summary="Answers with their quality marks, newest first: one's own (anyone signed in); "
    "anyone's with ?user= (reviewers and admins)",
)
async def answer_quality(
    user: SignedIn,
    conn: Conn,
    username: Annotated[str | None, Query(alias="user", min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    whose = await _whose(conn, user, username)
    before = quality.parse_cursor(cursor) if cursor else None
    return await quality.answers(conn, whose, limit=limit, before=before, staff=user.role in STAFF)


@router.get(
    "/quality/leaderboard",
    summary="Annotators by reputation; flags and weights only for reviewers and admins "
    "(anyone signed in)",
)
async def leaderboard(
    user: SignedIn,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    min_answers: Annotated[int, Query(ge=0, le=1_000_000)] = 1,
):
    return await quality.leaderboard(
        conn, limit=limit, min_answers=min_answers, staff=user.role in STAFF
    )


@router.get(
    "/quality/agreement",
    summary="Krippendorff's alpha, Fleiss' kappa and the pairwise annotator agreement matrix "
    "for a dataset, a set of tasks, or everything (reviewers and admins)",
)
async def agreement_metrics(
    request: Request,
    user: Staff,
    conn: ReadConn,  # the replica's, when there is one
    dataset: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    task_id: Annotated[list[UUID] | None, Query(max_length=10_000)] = None,
    min_pair_items: Annotated[int, Query(ge=1, le=100_000)] = 1,
    pair_limit: Annotated[
        int,
        Query(
            ge=1,
            le=100_000,
            description="most annotator pairs listed, those sharing the most tasks first "
            "(pairs_total counts them all)",
        ),
    ] = 1000,
):
    # Reads every answer and computes for seconds at 10^7: stopped if the client goes away.
    return await run_while_connected(
        request,
        agreement.compute,
        conn,
        dataset=dataset,
        task_ids=task_id,
        min_pair_items=min_pair_items,
        pair_limit=pair_limit,
    )


@router.get(
    "/quality/agreement/vote-pairs",
    summary="Agreement as the share of agreeing vote pairs on the same item, with ties and "
    "without, with alpha and kappa, overall and per slice, within a group or between two "
    "(reviewers and admins)",
)
async def vote_pair_agreement(
    request: Request,
    user: Staff,
    conn: ReadConn,  # the replica's, when there is one
    dataset: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    by: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="slice by dataset, model_pair or an item metadata field (e.g. turn)",
        ),
    ] = None,
    group: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=40,
            description="whose votes: an annotator group (expert, author, ...) or kind "
            "(person, model); default everyone",
        ),
    ] = None,
    versus: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=40,
            description="a second group: each pair is then one vote of each group",
        ),
    ] = None,
):
    # One query folding every vote: cancelled if the client goes away.
    return await run_while_connected(
        request, agreement.vote_pairs, conn, dataset=dataset, by=by, group=group, versus=versus
    )


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dawid_skene: Bool = Field(default=True, description="re-estimate skill with Dawid–Skene")
    reweight: Bool = Field(
        default=False, description="give every latest answer its annotator's current weight"
    )


@router.post(
    "/admin/quality/refresh",
    summary="Judge every answer again, re-estimate skill, update every reputation (admins)",
)
async def refresh(body: RefreshRequest, user: Admin, conn: Conn):
    async with conn.transaction():
        done = await quality.refresh(conn, dawid_skene=body.dawid_skene)
    if body.reweight:
        async with conn.transaction():
            done.reweighted = await quality.reweight(conn)
    return {
        "rejudged": done.rejudged,
        "counters_out_of_step_before": done.drift_before,
        "dawid_skene_annotators": done.dawid_skene_workers,
        "reweighted_answers": done.reweighted,
    }


class GoldRate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gold_rate: Float | None = Field(
        ge=0, le=1, description="share of `next` calls that serve a gold check first; null clears"
    )


@router.get(
    "/admin/datasets/gold-rates",
    summary="The gold-check rate set for each dataset (admins)",
)
async def gold_rates(user: Admin, conn: Conn):
    return await distribution.gold_rates(conn)


@router.put(
    "/admin/datasets/{dataset}/gold-rate",
    summary="Set or clear the rate at which `next` serves this dataset's gold checks (admins)",
)
async def set_gold_rate(
    dataset: Annotated[str, Path(min_length=1, max_length=200)],
    body: GoldRate,
    user: Admin,
    conn: Conn,
):
    async with conn.transaction():
        row = await distribution.set_gold_rate(conn, dataset, body.gold_rate)
    return row or {"source_dataset": dataset, "gold_rate": None}


class DatasetPolicy(BaseModel):
    """What a dataset's annotators may see; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    reveal: Literal["never", "after_answer", "after_close"] | None = Field(
        default=None,
        description="when an annotator who answered a task sees others' answers to it: never, "
        "after answering (the default; a later change of answer is kept but does not count), "
        "or once the task has all its answers",
    )
    gold_feedback: Bool | None = Field(
        default=None,
        description="whether annotators see which of their answers were gold checks, and "
        "whether they got them right (default false)",
    )


@router.get(
    "/admin/datasets/policies",
    summary="Each dataset's reveal policy and gold feedback, where set (admins)",
)
async def dataset_policies(user: Admin, conn: Conn):
    return await policies.all_policies(conn)


@router.get(
    "/admin/datasets/{dataset}/policy",
    summary="A dataset's reveal policy and gold feedback, the defaults if never set (admins)",
)
async def dataset_policy(
    dataset: Annotated[str, Path(min_length=1, max_length=200)], user: Admin, conn: Conn
):
    return await policies.policy_of(conn, dataset)


@router.put(
    "/admin/datasets/{dataset}/policy",
    summary="Set when a dataset's annotators see others' answers and their gold verdicts (admins)",
)
async def set_dataset_policy(
    dataset: Annotated[str, Path(min_length=1, max_length=200)],
    body: DatasetPolicy,
    user: Admin,
    conn: Conn,
):
    async with conn.transaction():
        return await policies.set_policy(
            conn, dataset, reveal=body.reveal, gold_feedback=body.gold_feedback
        )
