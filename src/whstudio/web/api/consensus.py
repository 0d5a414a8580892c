"""Consensus of one task: the O(1) read."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends

from whstudio.domain import visibility
from whstudio.domain.users import Principal
from whstudio.web.deps import Conn, require
from whstudio.web.errors import error_responses
from whstudio.web.policies import ANYONE_SIGNED_IN

router = APIRouter(prefix="/api", tags=["consensus"], responses=error_responses())

SignedIn = Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]


@router.get(
    "/consensus/{task_id}",
    summary="ConsensusResult with per-choice counts, confidence and timing statistics "
    "(reviewers, admins, and annotators who answered the task)",
)
async def read_consensus(task_id: UUID, user: SignedIn, conn: Conn):
    return await visibility.consensus_for(conn, user, task_id)
