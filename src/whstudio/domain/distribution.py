"""Handing out work: the next task for an annotator, short leases, gold mixing, skips."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.errors import NotFound

CANDIDATES = 8
ATTEMPTS = 6


@dataclass(frozen=True)
class Lease:
    task_id: UUID
    expires_at: datetime


BUSY = object()  # the candidate was locked by someone else: worth another look shortly


async def _try_lease(
    conn: AsyncConnection, task_id: UUID, user_id: UUID, seconds: int, *, gold: bool
) -> Lease | object | None:
    row = await q.fetch_one(conn, "distribution.lock_candidate", {"task_id": task_id})
    if row is None:
        return BUSY
    if not row["task_active"]:
        return None
    if not gold:
        # A fresh statement, after the lock: sees every lease committed before we got the row.
        live = await q.fetch_one(
            conn, "distribution.live_leases", {"task_id": task_id, "user_id": user_id}
        )
        if live["n"] >= row["remaining"]:
            return None
    await q.execute(conn, "distribution.purge_expired", {"task_id": task_id})
    lease = await q.fetch_one(
        conn,
        "distribution.take_lease",
        {"task_id": task_id, "user_id": user_id, "seconds": seconds},
    )
    return Lease(task_id, lease["expires_at"])


async def next_task(
    conn: AsyncConnection,
    user_id: UUID,
    *,
    lease_seconds: int,
    gold_rate: float,
    rng: random.Random | None = None,
) -> Lease | None:
    """Reserve and return the next task for this annotator, or None when nothing is left.

    Run inside a transaction: the lease and the row lock that guards it commit together.
    """
    held = await q.fetch_one(conn, "distribution.held_lease", {"user_id": user_id})
    if held is not None:
        lease = await q.fetch_one(
            conn,
            "distribution.take_lease",
            {"task_id": held["task_id"], "user_id": user_id, "seconds": lease_seconds},
        )
        return Lease(held["task_id"], lease["expires_at"])
    want_gold = (rng or random).random() < gold_rate
    order = ["gold_candidates", "candidates"] if want_gold else ["candidates", "gold_candidates"]
    for attempt in range(1, ATTEMPTS + 1):
        busy = False
        for kind in order:
            rows = await q.fetch_all(
                conn, f"distribution.{kind}", {"user_id": user_id, "limit": CANDIDATES}
            )
            for row in rows:
                found = await _try_lease(
                    conn, row["task_id"], user_id, lease_seconds, gold=kind == "gold_candidates"
                )
                if isinstance(found, Lease):
                    return found
                busy = busy or found is BUSY
        if not busy:
            return None
        # Every open place we saw was being taken at that moment; one may come free as those
        # transactions settle, and each next statement sees what they committed.
        await asyncio.sleep(0.005 * attempt)
    return None


async def skip(conn: AsyncConnection, task_id: UUID, user_id: UUID, reason: str) -> None:
    """Record that this annotator will not answer the task, and free their lease on it."""
    exists = await q.fetch_one(conn, "tasks.status", {"task_id": task_id})
    if exists is None:
        raise NotFound("no such task", field="task_id")
    await q.execute(
        conn, "distribution.skip", {"task_id": task_id, "user_id": user_id, "reason": reason}
    )
    await q.execute(conn, "distribution.release", {"task_id": task_id, "user_id": user_id})
