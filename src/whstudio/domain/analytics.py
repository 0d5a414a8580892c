"""Admin analytics: throughput, agreement distribution, dataset progress, annotators, and the
plan's success metrics with their weekly trend. Each figure is plain data (its JSON twin)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.domain import quality

AGREEMENT_GOAL = 70.0

log = structlog.get_logger("whstudio.analytics")


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
    groups = await q.fetch_all(conn, "analytics.annotator_groups")
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
        "annotator_groups": groups,
    }


class FiguresCache:
    """The figures of each window (days), kept for `max_age` seconds in this process.

    Every figure reads whole tables (at 10^7 answers a window of a year takes seconds), and a
    dashboard is opened again and again, so a window whose figures took `cheap_seconds` or more
    to compute is served from memory until they are `max_age` old. Then the next request gets
    them as they are, with their age, while one refresh runs in the background (never two for
    one window). Figures cheaper than that (a small installation) are computed for every
    request, as they are for a request with `fresh`. Requests for a window never computed
    share one computation. A failed background refresh is logged and tried again by the next
    request; a failed computation a request waits for is raised to it. `max_age` 0: nothing
    is kept.
    """

    def __init__(
        self,
        max_age: float,
        compute: Callable[[int], Awaitable[dict[str, Any]]],
        *,
        cheap_seconds: float = 0.25,
    ) -> None:
        self.max_age = max_age
        self.cheap_seconds = cheap_seconds
        self._compute = compute
        # days -> (monotonic time the computation began, its seconds, the figures)
        self._kept: dict[int, tuple[float, float, dict[str, Any]]] = {}
        self._running: dict[int, asyncio.Task] = {}

    async def get(self, days: int, *, fresh: bool = False) -> dict[str, Any]:
        """The figures for `days`, with `computed_at` (UTC), `age_seconds`, `max_age_seconds`
        and `cached` (whether they came from memory)."""
        kept = self._kept.get(days)
        if fresh or self.max_age <= 0 or (kept is not None and kept[1] < self.cheap_seconds):
            # begun after the request: nothing written before it is missing
            return self._shown(await self._refresh(days), cached=False)
        if kept is None:
            return self._shown(await asyncio.shield(self._start(days)), cached=False)
        if time.monotonic() - kept[0] > self.max_age:
            self._start(days)  # served as they are meanwhile
        return self._shown(kept, cached=True)

    def _start(self, days: int) -> asyncio.Task:
        task = self._running.get(days)
        if task is None:
            task = asyncio.create_task(self._refresh(days))
            self._running[days] = task
            task.add_done_callback(lambda t, d=days: self._settled(d, t))
        return task

    async def _refresh(self, days: int) -> tuple[float, float, dict[str, Any]]:
        began = time.monotonic()
        figures = await self._compute(days)
        figures["computed_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        took = time.monotonic() - began
        entry = (began, took, figures)
        kept = self._kept.get(days)
        if self.max_age > 0 and (kept is None or kept[0] < began):  # the newest computation
            self._kept[days] = entry
        log.info("analytics_computed", days=days, seconds=round(took, 3))
        return entry

    def _settled(self, days: int, task: asyncio.Task) -> None:
        self._running.pop(days, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("analytics_failed", days=days, error=str(task.exception()))

    def _shown(self, entry: tuple[float, float, dict[str, Any]], *, cached: bool) -> dict:
        began, _, figures = entry
        return {
            **figures,
            "age_seconds": round(time.monotonic() - began, 1),
            "max_age_seconds": self.max_age,
            "cached": cached,
        }

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
