"""Annotator skill estimated by Dawid–Skene: each annotator's confusion matrix and expected
accuracy from a fit, and their storage as the reputations' input (the batch recompute stores
them; `quality` reads and explains them)."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import numpy as np
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from whstudio.db import queries as q
from whstudio.domain import aggregation

CLASSES = ("A", "B", "tie")


def skill_rows(
    fit: aggregation.DawidSkeneFit, labels: aggregation.Labels, user_ids: np.ndarray
) -> list[dict[str, Any]]:
    """Skill rows (see skill_rows_of) of an in-memory fit."""
    # how many of each annotator's answers the fit expects right: the posterior probability
    # that each answer's task truly is the label given, summed (the reputation's evidence)
    expected = np.bincount(
        labels.worker,
        weights=fit.posteriors[labels.task, labels.label],
        minlength=labels.n_workers,
    )
    counts = np.bincount(labels.worker, minlength=labels.n_workers)
    return skill_rows_of(fit.priors, fit.confusion, counts, expected, user_ids)


def skill_rows_of(
    priors: np.ndarray,
    confusion: np.ndarray,
    counts: np.ndarray,
    expected: np.ndarray,
    user_ids: np.ndarray,
) -> list[dict[str, Any]]:
    """Per annotator: the confusion matrix (true class x given label), the expected accuracy
    under the fitted class priors, the number of answers the estimate rests on (`counts`), and
    how many of them the fit expects right (`expected`: each answer's posterior probability
    that its task truly is the label given, summed)."""
    accuracy = np.einsum("k,wkk->w", priors / priors.sum(), confusion)
    return [
        {
            "user_id": str(uuid.UUID(bytes=bytes(user_ids[w]))),
            "confusion": np.round(confusion[w], 6).tolist(),
            "accuracy": float(np.clip(accuracy[w], 0.0, 1.0)),
            "labels": int(counts[w]),
            "expected_correct": float(expected[w]),
        }
        for w in range(len(user_ids))
    ]


async def store_skill(
    conn: AsyncConnection,
    rows: list[dict[str, Any]],
    run_id: UUID,
    classes: tuple[str, ...] = CLASSES,
) -> None:
    """Keep the Dawid–Skene estimates and let them move the reputations (inside a transaction).
    classes: the classes the confusion matrices are over (A and B alone without ties)."""
    await q.fetch_all(conn, "quality.lock_all_stats")
    await q.execute(conn, "quality.clear_skill", {"method": "dawid_skene"})
    await q.execute(conn, "quality.clear_ds")
    await q.execute(
        conn,
        "quality.store_skill",
        {
            "method": "dawid_skene",
            "classes": list(classes),
            "rows": Jsonb(rows),
            "run_id": run_id,
        },
    )
    await q.execute(conn, "quality.stats_from_skill")
    await q.fetch_all(conn, "quality.update_all_reputations", {"kind": "dawid_skene"})
