"""Handing out work: the next task for an annotator, short leases, gold mixing, skips."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.errors import NotFound


@dataclass(frozen=True)
class Lease:
    task_id: UUID
    expires_at: datetime
    task: dict[str, Any]  # the task as `tasks.detail` returns it


async def next_task(
    conn: AsyncConnection,
    user_id: UUID,
    *,
    lease_seconds: int,
    gold_rate: float,
    dataset: str | None = None,
    rng: random.Random | None = None,
    leases_per_user: int = 2,
    lease_max_seconds: int = 1800,
) -> Lease | None:
    """Reserve and return the next task for this annotator, or None when nothing is left.

    One call of `next_task_v3`: a live lease the annotator holds comes back again (renewed, but
    never past `lease_max_seconds` from when it was first handed out); otherwise the open task
    closest to consensus, then by priority, is reserved under a row lock (so concurrent callers
    never take the same last place), ending the annotator's oldest leases past
    `leases_per_user`. A task whose lease lived its whole life goes to others first. A gold
    check comes first at the gold rate of `dataset` when one is set for it (`set_gold_rate`),
    else at `gold_rate`; with `dataset`, only that dataset's tasks are handed out.
    """
    row = await q.fetch_one(
        conn,
        "distribution.next",
        {
            "user_id": user_id,
            "lease_seconds": lease_seconds,
            "coin": (rng or random).random(),
            "default_gold_rate": gold_rate,
            "dataset": dataset,
            "max_leases": leases_per_user,
            "max_seconds": lease_max_seconds,
        },
    )
    if row is None:
        return None
    expires = row.pop("lease_expires_at")
    return Lease(row["id"], expires, row)


async def set_gold_rate(
    conn: AsyncConnection, dataset: str, gold_rate: float | None
) -> dict | None:
    """Set (or with None, clear) the rate at which `next` serves gold checks for a dataset."""
    if gold_rate is None:
        await q.execute(conn, "distribution.clear_gold_rate", {"dataset": dataset})
        return None
    return await q.fetch_one(
        conn, "distribution.set_gold_rate", {"dataset": dataset, "gold_rate": gold_rate}
    )


async def gold_rates(conn: AsyncConnection) -> list[dict]:
    return await q.fetch_all(conn, "distribution.gold_rates")


async def skip(conn: AsyncConnection, task_id: UUID, user_id: UUID, reason: str) -> None:
    """Record that this annotator will not answer the task, and free their lease on it."""
    exists = await q.fetch_one(conn, "tasks.status", {"task_id": task_id})
    if exists is None:
        raise NotFound("no such task", field="task_id")
    await q.execute(
        conn, "distribution.skip", {"task_id": task_id, "user_id": user_id, "reason": reason}
    )
    await q.execute(conn, "distribution.release", {"task_id": task_id, "user_id": user_id})
