"""Inter-annotator agreement over pairwise answers: Krippendorff's alpha (the `krippendorff`
package), Fleiss' kappa and a pairwise annotator agreement matrix, each with the number of items
it rests on.

The unit is a task, the categories are the canonical choices A, B and tie (answers are stored in
canonical order, so a position bias does not read as agreement), and only each annotator's latest
answer counts. Tasks with fewer than two answers carry no information about agreement and are
left out of every figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import krippendorff
import numpy as np
from psycopg import AsyncConnection
from scipy import sparse

from whstudio.domain.batch import dense_ids

CATEGORIES = ("A", "B", "tie")
_SQL = """
SELECT s.task_id, s.user_id, u.username,
       CASE s.chosen_response WHEN 'A' THEN 0 WHEN 'B' THEN 1 ELSE 2 END AS label
  FROM submissions s
  JOIN response_consensus c ON c.task_id = s.task_id
  JOIN users u ON u.id = s.user_id
 WHERE s.is_latest AND s.chosen_response IS NOT NULL
   AND (%(dataset)s::text IS NULL OR c.source_dataset = %(dataset)s::text)
   AND (%(task_ids)s::uuid[] IS NULL OR s.task_id = ANY (%(task_ids)s::uuid[]))
"""


@dataclass(frozen=True)
class Ratings:
    item: np.ndarray  # item index per answer
    rater: np.ndarray  # rater index per answer
    label: np.ndarray  # category index per answer
    raters: list[str]  # rater index -> username
    n_items: int


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa from an items x categories count matrix; items may have different numbers
    of ratings (each item's observed agreement uses its own n, as in the usual generalisation).
    Items with fewer than two ratings must be removed first."""
    n = counts.sum(axis=1)
    if len(n) == 0:
        return None
    observed = ((counts * (counts - 1)).sum(axis=1) / (n * (n - 1))).mean()
    shares = counts.sum(axis=0) / n.sum()
    expected = float((shares**2).sum())
    if expected >= 1.0:
        return None  # every answer in one category: agreement is undefined, not perfect
    return float((observed - expected) / (1.0 - expected))


def krippendorff_alpha(counts: np.ndarray) -> float | None:
    """Nominal Krippendorff's alpha from items x categories counts (the `krippendorff` package)."""
    if len(counts) == 0 or np.count_nonzero(counts.sum(axis=0)) < 2:
        return None
    return float(
        krippendorff.alpha(value_counts=counts.astype(float), level_of_measurement="nominal")
    )


def pairwise_matrix(ratings: Ratings, min_items: int = 1) -> list[dict[str, Any]]:
    """For every two annotators who answered a task in common: on how many tasks, and the share
    of those where they gave the same answer."""
    shape = (ratings.n_items, len(ratings.raters))
    ones = np.ones(len(ratings.item))
    both = sparse.csr_matrix((ones, (ratings.item, ratings.rater)), shape=shape)
    shared = (both.T @ both).toarray()
    same = np.zeros_like(shared)
    for k in range(len(CATEGORIES)):
        mask = ratings.label == k
        ind = sparse.csr_matrix(
            (ones[mask], (ratings.item[mask], ratings.rater[mask])), shape=shape
        )
        same += (ind.T @ ind).toarray()
    out = []
    for a in range(len(ratings.raters)):
        for b in range(a + 1, len(ratings.raters)):
            items = int(shared[a, b])
            if items >= min_items:
                out.append(
                    {
                        "annotator_a": ratings.raters[a],
                        "annotator_b": ratings.raters[b],
                        "items": items,
                        "agreement": round(float(same[a, b]) / items, 4),
                    }
                )
    return out


async def load(
    conn: AsyncConnection, *, dataset: str | None = None, task_ids: list[UUID] | None = None
) -> Ratings:
    cur = await conn.execute(_SQL, {"dataset": dataset, "task_ids": task_ids})
    rows = await cur.fetchall()
    if not rows:
        return Ratings(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), [], 0)
    tasks = np.array([r["task_id"].bytes for r in rows], dtype="V16")
    users = np.array([r["user_id"].bytes for r in rows], dtype="V16")
    task_ids_, item = dense_ids(tasks)
    user_ids, rater = dense_ids(users)
    names = {r["user_id"].bytes: r["username"] for r in rows}
    return Ratings(
        item=item.astype(np.int64),
        rater=rater.astype(np.int64),
        label=np.array([r["label"] for r in rows], dtype=np.int64),
        raters=[names[bytes(u)] for u in user_ids],
        n_items=len(task_ids_),
    )


def metrics(ratings: Ratings, *, min_pair_items: int = 1) -> dict[str, Any]:
    counts = np.zeros((ratings.n_items, len(CATEGORIES)))
    np.add.at(counts, (ratings.item, ratings.label), 1)
    multi = counts.sum(axis=1) >= 2
    kept = counts[multi]
    alpha = krippendorff_alpha(kept)
    kappa = fleiss_kappa(kept)
    return {
        "categories": list(CATEGORIES),
        "items": int(multi.sum()),
        "answers": int(kept.sum()),
        "annotators": len(ratings.raters),
        "items_with_one_answer": int((~multi & (counts.sum(axis=1) == 1)).sum()),
        "krippendorff_alpha": None if alpha is None else round(alpha, 4),
        "fleiss_kappa": None if kappa is None else round(kappa, 4),
        "pairwise": pairwise_matrix(ratings, min_pair_items),
    }


async def compute(
    conn: AsyncConnection,
    *,
    dataset: str | None = None,
    task_ids: list[UUID] | None = None,
    min_pair_items: int = 1,
) -> dict[str, Any]:
    """Agreement figures for one dataset, a set of tasks, or (neither given) everything."""
    ratings = await load(conn, dataset=dataset, task_ids=task_ids)
    out = metrics(ratings, min_pair_items=min_pair_items)
    out["dataset"] = dataset
    out["task_ids"] = task_ids
    return out
