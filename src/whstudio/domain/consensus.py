"""Reading consensus: the stored real-time row shaped for callers, and checks against recompute."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.errors import NotFound


def _mean(total: int | Decimal, count: int) -> float | None:
    return round(float(total) / count, 3) if count else None


def shape(row: dict[str, Any]) -> dict[str, Any]:
    """Return the public consensus of one task from its stored row (ConsensusResult + detail)."""
    final = row["final_answer"]
    per_choice = {
        choice: {
            "count": row[f"count_{key}"],
            "weight": float(row[f"weight_{key}"]),
            "mean_confidence": _mean(row[f"confidence_sum_{key}"], row[f"count_{key}"]),
        }
        for choice, key in (("A", "a"), ("B", "b"), ("tie", "tie"))
    }
    adjudicated = row.get("adjudicated_answer")
    return {
        "task_id": row["task_id"],
        "question_type": row["question_type"],
        "consensus_reached": row["consensus_reached"],
        "agreement_percentage": float(row["agreement_percentage"]),
        # A reviewer's adjudication overrides the crowd's answer; both stay visible.
        "final_answer": adjudicated if adjudicated is not None else final,
        "method": "adjudicated" if adjudicated is not None else "realtime",
        "crowd_final_answer": final,
        "adjudicated_at": row.get("adjudicated_at"),
        "total_responses": row["total_responses"],
        "weighted_agreement_percentage": float(row["weighted_agreement_percentage"]),
        "consensus_threshold": row["consensus_threshold"],
        "min_agreement_percentage": float(row["min_agreement_percentage"]),
        "remaining": row["remaining"],
        "reached_at": row["reached_at"],
        "counts": per_choice,
        "mean_confidence": _mean(row["confidence_sum"], row["confidence_count"]),
        "mean_time_spent_seconds": _mean(row["time_spent_sum"], row["time_spent_count"]),
        "ranking_pairwise_counts": row["ranking_counts"],
        "transcription": row["details"].get("transcription"),
        "version": row["version"],
        "updated_at": row["updated_at"],
        "task_status": row.get("status") or row.get("task_status"),
        # When annotators who answered see this (dataset_policies.reveal).
        "reveal": row.get("reveal") or "after_answer",
    }


async def read(conn: AsyncConnection, task_id: UUID) -> dict[str, Any]:
    """Return a task's consensus: one primary-key read."""
    row = await q.fetch_one(conn, "consensus.read", {"task_id": task_id})
    if row is None:
        raise NotFound("no such task", field="task_id")
    return shape(row)


async def drifted(conn: AsyncConnection) -> list[UUID]:
    """Return the tasks whose stored consensus differs from a recomputation (should be none)."""
    return [r["task_id"] for r in await q.fetch_all(conn, "consensus.compare_with_recompute")]


async def counts_drifted(conn: AsyncConnection) -> int:
    """Return how many dashboard filter combinations have a kept count that is wrong."""
    return (await q.fetch_one(conn, "consensus.counts_drift"))["differences"]


async def rebuild(conn: AsyncConnection, task_id: UUID) -> None:
    """Recompute one task from scratch and store it."""
    await q.fetch_one(conn, "consensus.rebuild", {"task_id": task_id})


async def newest_version(conn: AsyncConnection) -> int:
    """The newest consensus event: a stream that starts from nothing starts after it."""
    return (await q.fetch_one(conn, "consensus.newest_version", {}))["version"]


async def versions_since(conn: AsyncConnection, version: int, limit: int = 10_000) -> list[int]:
    """The versions of the consensus rows changed after event `version`, oldest first."""
    rows = await q.fetch_all(conn, "consensus.versions_since", {"version": version, "limit": limit})
    return [r["version"] for r in rows]


async def changed_since(
    conn: AsyncConnection, version: int, *, task_id: UUID | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Return the current state of every task changed after event `version`, oldest first."""
    return await q.fetch_all(
        conn, "consensus.changed_since", {"version": version, "task_id": task_id, "limit": limit}
    )


def event_row(state: dict[str, Any]) -> dict[str, Any]:
    """Return a task's consensus (`shape`) as a `changed_since` row: a stream's first event."""
    return {
        k: state.get(k)
        for k in (
            "task_id",
            "version",
            "total_responses",
            "remaining",
            "consensus_reached",
            "agreement_percentage",
            "final_answer",
        )
    } | {
        "count_a": state["counts"]["A"]["count"],
        "count_b": state["counts"]["B"]["count"],
        "count_tie": state["counts"]["tie"]["count"],
    }
