"""Consensus of one task: the O(1) read."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends

from whstudio.domain import consensus as consensus_domain
from whstudio.domain import responses
from whstudio.domain.users import Principal
from whstudio.errors import Forbidden
from whstudio.web.deps import Conn, require
from whstudio.web.errors import error_responses
from whstudio.web.policies import ANYONE_SIGNED_IN, STAFF

router = APIRouter(prefix="/api", tags=["consensus"], responses=error_responses())

SignedIn = Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]


async def visible_consensus(conn, task_id: UUID, user: Principal) -> dict:
    """Return a task's consensus if the caller may see it: staff always, annotators once they
    have answered the task (it would show them the others' answers)."""
    state = await consensus_domain.read(conn, task_id)
    if user.role in STAFF:
        return state
    if not await responses.has_answered(conn, task_id, user.id):
        raise Forbidden("answer this task before reading its consensus")
    return consensus_domain.as_shown(state, responses.shown_order(task_id, user.id))


@router.get(
    "/consensus/{task_id}",
    summary="ConsensusResult with per-choice counts, confidence and timing statistics "
    "(reviewers, admins, and annotators who answered the task)",
)
async def read_consensus(task_id: UUID, user: SignedIn, conn: Conn):
    return await visible_consensus(conn, task_id, user)
