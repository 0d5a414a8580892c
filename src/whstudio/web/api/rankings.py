"""Model rankings (Bradley–Terry with bootstrap intervals) as JSON for charts and scripts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from whstudio.domain import rankings as rankings_domain
from whstudio.domain.users import Principal
from whstudio.errors import InvalidInput
from whstudio.web.deps import ReadConn, require
from whstudio.web.disconnects import run_while_connected
from whstudio.web.errors import error_responses
from whstudio.web.policies import STAFF

router = APIRouter(prefix="/api", tags=["rankings"], responses=error_responses())

# Reviewers and admins: a ranking summarises everyone's answers, which annotators must not see
# for tasks they have not answered, and knowing which model usually wins would bias them.
Staff = Annotated[Principal, Depends(require(STAFF))]


@router.get(
    "/rankings/models",
    summary="Bradley–Terry ratings of the models named in pairwise questions, ties as half, "
    "with bootstrap 95% intervals and the head-to-head table (reviewers and admins)",
)
async def model_rankings(
    request: Request,
    user: Staff,
    conn: ReadConn,  # the replica's, when there is one
    dataset: Annotated[str | None, Query(max_length=200)] = None,
    basis: Literal["answers", "consensus"] = "answers",
    rounds: Annotated[
        int, Query(ge=10, description="bootstrap rounds, up to WHSTUDIO_BOOTSTRAP_MAX_ROUNDS")
    ] = 200,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
):
    most = request.app.state.settings.bootstrap_max_rounds
    if rounds > most:
        raise InvalidInput(f"at most {most:,} bootstrap rounds", field="rounds")
    # Stopped if the client goes away before the answer.
    return await run_while_connected(
        request,
        rankings_domain.model_rankings,
        conn,
        dataset=dataset,
        basis=basis,
        rounds=rounds,
        seed=seed,
    )
