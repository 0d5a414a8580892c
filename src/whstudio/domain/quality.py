"""Annotator quality: gold accuracy with its interval, agreement, reputation and its history,
skill estimated by Dawid–Skene, and the refresh that judges every answer again.

The counters behind all of this are kept by the database (revision 0005) as answers arrive; this
module reads them, explains them, and runs the batch steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from scipy import stats as scipy_stats

from whstudio.db import queries as q
from whstudio.domain import batch
from whstudio.errors import NotFound

# Gold accuracy is shown with a uniform Beta(1, 1) prior: 2 of 2 estimates 0.75 (0.29–0.99),
# 95 of 100 estimates 0.94 (0.89–0.98), so few answers never outrank many.
GOLD_PRIOR = (1.0, 1.0)


@dataclass(frozen=True)
class Estimate:
    successes: int
    trials: int
    estimate: float
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "successes": self.successes,
            "trials": self.trials,
            "estimate": round(self.estimate, 4),
            "interval_95": [round(self.low, 4), round(self.high, 4)],
        }


def beta_estimate(successes: int, trials: int, prior: tuple[float, float] = GOLD_PRIOR) -> Estimate:
    """Posterior mean and equal-tailed 95% interval of a rate under a Beta prior."""
    a = successes + prior[0]
    b = trials - successes + prior[1]
    low, high = scipy_stats.beta.ppf([0.025, 0.975], a, b)
    return Estimate(successes, trials, a / (a + b), float(low), float(high))


async def resolve_user(conn: AsyncConnection, username: str) -> UUID:
    """Return the id of the account with this name (the `user` parameter), or raise NotFound."""
    row = await q.fetch_one(conn, "quality.user_by_name", {"username": username})
    if row is None:
        raise NotFound("no such user", field="user")
    return row["id"]


def _hide_gold(event: dict[str, Any]) -> dict[str, Any]:
    # An annotator learns their gold verdicts in aggregate, never which task was a gold check.
    if event["kind"] == "gold":
        return {**event, "task_id": None, "submission_id": None}
    return event


async def reputation(
    conn: AsyncConnection, user_id: UUID, *, history: int = 50, staff: bool = False
) -> dict[str, Any]:
    """An annotator's reputation: score, weight, what it rests on, flags and recent history."""
    row = await q.fetch_one(conn, "quality.stats", {"user_id": user_id})
    if row is None:
        raise NotFound("no such user", field="user")
    answers = row["answers"] or 0
    gold = beta_estimate(row["gold_correct"] or 0, row["gold_answered"] or 0)
    agreement = beta_estimate(row["agreed"] or 0, row["evaluated"] or 0)
    median = await q.fetch_one(conn, "quality.median_time", {"user_id": user_id})
    skill = await q.fetch_one(conn, "quality.skill", {"user_id": user_id})
    events = await q.fetch_all(
        conn, "quality.history", {"user_id": user_id, "before": None, "limit": history}
    )
    if not staff:
        events = [_hide_gold(e) for e in events]
    sided = row["sided"] or 0
    return {
        "user_id": user_id,
        "username": row["username"],
        "score": row["reputation_score"],
        "weight": float(row["reputation_weight"]),
        "accuracy": {
            "estimate": row["accuracy"] if row["accuracy"] is not None else 0.7,
            "interval_95": [row["accuracy_low"] or 0.0, row["accuracy_high"] or 1.0],
            "basis": "dawid_skene" if row["ds_accuracy"] is not None else "gold_and_agreement",
        },
        "gold": gold.as_dict(),
        "agreement": agreement.as_dict(),
        "answers": answers,
        "speed": {
            "timed_answers": row["timed"] or 0,
            "mean_seconds": round(row["time_sum"] / row["timed"], 2) if row["timed"] else None,
            "median_seconds": median["median"] if median else None,
            "fast_answers": row["fast"] or 0,
        },
        "position": {
            "sided_answers": sided,
            "left_share": round(row["picked_left"] / sided, 4) if sided else None,
        },
        "dawid_skene": (
            {
                "accuracy": skill["accuracy"],
                "labels": skill["labels"],
                "classes": skill["classes"],
                "confusion": skill["confusion"],
                "computed_at": skill["computed_at"],
            }
            if skill
            else None
        ),
        "flags": list(row["flags"] or []),
        "history": events,
    }


async def answers(
    conn: AsyncConnection,
    user_id: UUID,
    *,
    limit: int = 50,
    before: tuple[datetime, UUID] | None = None,
    staff: bool = False,
) -> dict[str, Any]:
    """An annotator's answers with their quality marks, newest first, keyset-paged."""
    rows = await q.fetch_all(
        conn,
        "quality.answers",
        {
            "user_id": user_id,
            "limit": limit,
            "before_at": before[0] if before else None,
            "before_id": before[1] if before else None,
        },
    )
    if not staff:
        for row in rows:
            if row["gold_source"] == "gold":
                row["gold_correct"] = None
                row["gold_source"] = None
    cursor = None
    if len(rows) == limit:
        last = rows[-1]
        cursor = f"{last['created_at'].isoformat()}|{last['submission_id']}"
    return {"items": rows, "next_cursor": cursor}


async def leaderboard(
    conn: AsyncConnection, *, limit: int = 50, min_answers: int = 1, staff: bool = False
) -> list[dict[str, Any]]:
    rows = await q.fetch_all(
        conn, "quality.leaderboard", {"limit": limit, "min_answers": min_answers}
    )
    out = []
    for rank, row in enumerate(rows, start=1):
        gold = beta_estimate(row["gold_correct"], row["gold_answered"])
        entry = {
            "rank": rank,
            "username": row["username"],
            "score": row["reputation_score"],
            "answers": row["answers"],
            "gold_accuracy": gold.as_dict(),
            "agreement_rate": (
                round(row["agreed"] / row["evaluated"], 4) if row["evaluated"] else None
            ),
        }
        if staff:
            entry["weight"] = float(row["reputation_weight"])
            entry["flags"] = list(row["flags"])
            entry["dawid_skene_accuracy"] = row["ds_accuracy"]
        out.append(entry)
    return out


@dataclass
class Refresh:
    rejudged: int
    drift_before: int
    dawid_skene_workers: int
    reweighted: int = 0


async def stats_drift(conn: AsyncConnection) -> list[UUID]:
    """Annotators whose counters differ from the sums over their quality rows (should be none)."""
    return [row["user_id"] for row in await q.fetch_all(conn, "quality.stats_drift")]


async def refresh(conn: AsyncConnection, *, dawid_skene: bool = True) -> Refresh:
    """Judge every latest answer again against its task's current state, re-estimate skill with
    Dawid–Skene, and update every reputation (in the caller's transaction; it locks every
    annotator's counters, in one order, until it commits)."""
    if dawid_skene:
        # The results table before the counters, in the order batch.recompute takes them.
        await batch.lock_results(conn)
    await q.fetch_all(conn, "quality.lock_all_stats")
    drift = len(await stats_drift(conn))
    rejudged = await q.execute(conn, "quality.rejudge")
    workers = 0
    if dawid_skene:
        run = await batch.recompute(conn, ("dawid_skene",), store=True)
        workers = run.workers
    else:
        await q.fetch_all(conn, "quality.update_all_reputations", {"kind": "refresh"})
    return Refresh(rejudged, drift, workers)


async def reweight(conn: AsyncConnection) -> int:
    """Give every latest answer its annotator's current weight; the consensus trigger moves the
    weighted counts of each task whose answers change. Run it in a transaction of its own, not
    in the refresh's: it locks consensus rows, which answers being stored lock before counters."""
    return await q.execute(conn, "quality.reweight")


def parse_cursor(cursor: str) -> tuple[datetime, UUID]:
    from whstudio.errors import InvalidInput

    try:
        at, _, ident = cursor.partition("|")
        return datetime.fromisoformat(at), UUID(ident)
    except ValueError as exc:
        raise InvalidInput("not a cursor this API gave out", field="cursor") from exc
