"""Tasks: a question version put to annotators, with its consensus rule."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from whstudio.db import queries as q


async def create_task(
    conn: AsyncConnection,
    *,
    question_id: UUID,
    title: str,
    creator_id: UUID | None = None,
    description: str = "",
    consensus_threshold: int = 3,
    min_agreement_percentage: Decimal | float = Decimal("70.00"),
    allow_tie: bool = False,
    priority: int = 3,
    status: str = "active",
    expires_at: datetime | None = None,
) -> dict[str, Any]:
    """Create a task (its consensus row comes with it) and return it."""
    row = await q.fetch_one(
        conn,
        "tasks.insert",
        {
            "question_id": question_id,
            "creator_id": creator_id,
            "title": title,
            "description": description,
            "consensus_threshold": consensus_threshold,
            "min_agreement_percentage": min_agreement_percentage,
            "allow_tie": allow_tie,
            "priority": priority,
            "status": status,
            "expires_at": expires_at,
        },
    )
    assert row is not None
    return row


async def task_for_question(conn: AsyncConnection, question_id: UUID) -> UUID | None:
    """Return the first task asking this question, if any."""
    row = await q.fetch_one(conn, "tasks.for_question", {"question_id": question_id})
    return row["id"] if row else None


async def overview(conn: AsyncConnection) -> dict[str, list[dict[str, Any]]]:
    """Return question counts per dataset and task counts per status."""
    return {
        "datasets": await q.fetch_all(conn, "questions.count_by_dataset"),
        "statuses": await q.fetch_all(conn, "tasks.count_by_status"),
    }
