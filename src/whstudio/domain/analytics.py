"""Admin analytics: throughput, agreement distribution, dataset progress, annotators, and the
plan's success metrics with their weekly trend. Each figure is plain data (its JSON twin)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.domain import quality

AGREEMENT_GOAL = 70.0


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def agreement_buckets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return all ten agreement buckets ('0–10%' … '90–100%'), empty ones included."""
    counts = {row["bucket"]: row["tasks"] for row in rows}
    return [{"range": f"{10 * (b - 1)}–{10 * b}%", "tasks": counts.get(b, 0)} for b in range(1, 11)]


def success_metrics(
    weeks: list[dict[str, Any]], adjudications: list[dict[str, Any]]
) -> dict[str, Any]:
    """Return the success metrics over the whole window and their weekly trend."""
    complete = sum(w["complete"] for w in weeks)
    agreed = sum(w["agreed"] for w in weeks)
    touched = sum(w["touched"] for w in weeks)
    reached = sum(w["reached"] for w in weeks)
    trend = [
        {
            "week": w["week"].isoformat(),
            "consensus_agreement_rate": _rate(w["agreed"], w["complete"]),
            "median_completion_seconds": w["median_completion_seconds"],
            "completion_rate": _rate(w["reached"], w["touched"]),
        }
        for w in weeks
    ]
    adjudicated = [
        {
            "week": a["week"].isoformat(),
            "adjudicated": a["adjudicated"],
            "median_dispute_to_adjudication_seconds": a["median_seconds"],
        }
        for a in adjudications
    ]
    latest_completion = next(
        (w["median_completion_seconds"] for w in reversed(weeks) if w["median_completion_seconds"]),
        None,
    )
    latest_adjudication = next(
        (a["median_seconds"] for a in reversed(adjudications) if a["median_seconds"]), None
    )
    return {
        "consensus_agreement_rate": _rate(agreed, complete),
        "consensus_agreement_goal": AGREEMENT_GOAL,
        "median_completion_seconds_latest_week": latest_completion,
        "median_dispute_to_adjudication_seconds_latest_week": latest_adjudication,
        "task_completion_rate": _rate(reached, touched),
        "trend": trend,
        "adjudications": adjudicated,
    }


async def figures(conn: AsyncConnection, *, days: int = 30) -> dict[str, Any]:
    """Return every analytics figure over the last `days` days."""
    throughput = await q.fetch_all(conn, "analytics.throughput", {"days": days})
    distribution = await q.fetch_all(conn, "analytics.agreement_distribution")
    datasets = await q.fetch_all(conn, "analytics.dataset_progress")
    weeks = await q.fetch_all(conn, "analytics.success_by_week", {"days": days})
    adjudications = await q.fetch_all(conn, "analytics.adjudication_by_week", {"days": days})
    annotators = await quality.leaderboard(conn, limit=100, min_answers=0, staff=True)
    return {
        "days": days,
        "throughput": [
            {"day": r["day"].isoformat(), "answers": r["answers"], "annotators": r["annotators"]}
            for r in throughput
        ],
        "agreement_distribution": agreement_buckets(distribution),
        "datasets": [
            {
                "dataset": r["source_dataset"],
                "tasks": r["tasks"],
                "reached": r["reached"] or 0,
                "waiting": r["waiting"] or 0,
                "progress": _rate(r["reached"] or 0, r["tasks"]),
            }
            for r in datasets
        ],
        "success": success_metrics(weeks, adjudications),
        "annotators": annotators,
    }
