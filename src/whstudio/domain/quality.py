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
from whstudio.domain import batch, visibility
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


# Flags an annotator does not see of themselves: each can turn on right after a gold verdict.
GOLD_TELLING_FLAGS = frozenset({"gold_failures", "below_chance"})


async def own_reputation(conn: AsyncConnection, user_id: UUID, *, history: int = 50):
    """An annotator's reputation as they may read it themselves.

    A gold verdict moves the score the moment the answer is stored, and a task's agreement
    verdicts tell how the others answered: so an annotator reads their score and weight as they
    stood at the start of the day (UTC), their history one point per past day, and no gold or
    agreement counts (reviewers and admins read everything, `reputation`). Nothing here tells
    which of their answers was a gold check."""
    row = await q.fetch_one(conn, "quality.stats", {"user_id": user_id})
    if row is None:
        raise NotFound("no such user", field="user")
    now = await own_score(conn, user_id)
    days = await q.fetch_all(conn, "quality.daily_history", {"user_id": user_id, "limit": history})
    sided = row["sided"] or 0
    median = await q.fetch_one(conn, "quality.median_time", {"user_id": user_id})
    return {
        "user_id": user_id,
        "username": row["username"],
        "as_of": now["as_of"],
        "score": now["score"],
        "weight": round(float(now["weight"]), 4),
        "answers": row["answers"] or 0,
        "speed": _speed(row, median),
        "position": {
            "sided_answers": sided,
            "left_share": round(row["picked_left"] / sided, 4) if sided else None,
        },
        "flags": [f for f in row["flags"] or [] if f not in GOLD_TELLING_FLAGS],
        "history": [
            {"day": d["day"], "score": d["score"], "delta": _delta(days, i)}
            for i, d in enumerate(days)
        ],
    }


async def own_score(conn: AsyncConnection, user_id: UUID) -> dict[str, Any]:
    """An annotator's score and weight as they may read them: at the start of today (UTC)."""
    row = await q.fetch_one(conn, "quality.as_of_today", {"user_id": user_id})
    assert row is not None
    return row


def _delta(days: list[dict[str, Any]], i: int) -> int | None:
    return days[i]["score"] - days[i + 1]["score"] if i + 1 < len(days) else None


def _speed(row: dict[str, Any], median: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "timed_answers": row["timed"] or 0,
        "mean_seconds": round(row["time_sum"] / row["timed"], 2) if row["timed"] else None,
        "median_seconds": median["median"] if median else None,
        "fast_answers": row["fast"] or 0,
    }


async def reputation(
    conn: AsyncConnection, user_id: UUID, *, history: int = 50, staff: bool = False
) -> dict[str, Any]:
    """An annotator's reputation: score, weight, what it rests on, flags and recent history
    (as reviewers and admins read it; an annotator reads `own_reputation`)."""
    if not staff:
        return await own_reputation(conn, user_id, history=history)
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
        "speed": _speed(row, median),
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
        rows = [_as_annotator_sees(row) for row in rows]
    for row in rows:
        for key in ("reveal", "gold_feedback", "remaining", "task_status", "others_agreeing_now"):
            row.pop(key, None)
    cursor = None
    if len(rows) == limit:
        last = rows[-1]
        cursor = f"{last['created_at'].isoformat()}|{last['submission_id']}"
    return {"items": rows, "next_cursor": cursor}


def _as_annotator_sees(row: dict[str, Any]) -> dict[str, Any]:
    """One of an annotator's own answers as they may see it: gold verdicts only where the
    dataset shows them; how the others answered only where its reveal policy lets them see it
    now, and then as "agrees with most others" for every task alike, gold checks included (the
    stored verdict exists only for tasks without gold, so showing it would tell them apart)."""
    row = dict(row)
    if not row["gold_feedback"]:
        row["gold_correct"] = None
        row["gold_source"] = None
    seen = row["reveal"] == "after_answer" or (
        row["reveal"] == "after_close" and visibility.closed(row)
    )
    others, agreeing = row["others_now"], row["others_agreeing_now"]
    row["agreed"] = (2 * agreeing > others) if seen and others else None
    if not seen:
        row["agreement_now"] = None
        row["others_now"] = None
    row["agreement_with_consensus"] = None
    row["flagged_for_review"] = None  # a gold failure flags the answer
    row["is_outlier"] = bool(row["outlier_reasons"] and "fast" in row["outlier_reasons"])
    row["outlier_reasons"] = [r for r in row["outlier_reasons"] or [] if r == "fast"]
    return row


async def leaderboard(
    conn: AsyncConnection, *, limit: int = 50, min_answers: int = 1, staff: bool = False
) -> list[dict[str, Any]]:
    """Annotators by reputation: as it is now, with flags and weights, for reviewers and admins;
    as it stood at the start of the day (UTC), with answer counts only, for annotators (a
    score that moves at once, or a gold count, would tell which answer was a gold check)."""
    if not staff:
        rows = await q.fetch_all(
            conn,
            "quality.leaderboard_as_of_today",
            {"limit": limit, "min_answers": min_answers},
        )
        return [
            {"rank": rank, "username": r["username"], "score": r["score"], "answers": r["answers"]}
            for rank, r in enumerate(rows, start=1)
        ]
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
            "weight": float(row["reputation_weight"]),
            "flags": list(row["flags"]),
            "dawid_skene_accuracy": row["ds_accuracy"],
        }
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
