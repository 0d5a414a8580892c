"""Inter-annotator agreement over pairwise answers: Krippendorff's alpha (the `krippendorff`
package), Fleiss' kappa and a pairwise annotator agreement matrix, each with the number of items
it rests on.

The unit is a task, the categories are the canonical choices A, B and tie (answers are stored in
canonical order, so a position bias does not read as agreement), and only each annotator's latest
answer counts. Tasks with fewer than two answers carry no information about agreement and are
left out of every figure.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import krippendorff
import numpy as np
from psycopg import AsyncConnection
from scipy import sparse

from whstudio.db import bulk
from whstudio.db import queries as q
from whstudio.domain import batch
from whstudio.domain import compute as heavy
from whstudio.errors import InvalidInput

CATEGORIES = ("A", "B", "tie")


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


PAIR_LIMIT = 1000
_BLOCK = 256  # annotators per block of the shared-task matrix: memory is _BLOCK x annotators


def pairwise_matrix(
    ratings: Ratings,
    min_items: int = 1,
    limit: int = PAIR_LIMIT,
    stop: threading.Event | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """For two annotators who answered at least `min_items` tasks in common: on how many tasks,
    and the share of those where they gave the same answer. Returns the `limit` pairs sharing
    the most tasks (ties by annotator order) and how many pairs there are in all.

    10,000 annotators make 50 million pairs, so the annotators x annotators matrix of shared
    tasks is never held whole: it is computed a block of rows at a time, each block counted
    and cut to its best `limit` pairs, and agreement is computed for the pairs kept only.
    Raises compute.Abandoned before the next block once `stop` is set."""
    n = len(ratings.raters)
    shape = (ratings.n_items, n)
    ones = np.ones(len(ratings.item), dtype=np.float32)  # counts stay exact below 2^24
    answered = sparse.csc_matrix((ones, (ratings.item, ratings.rater)), shape=shape)
    right = answered.tocsr()
    total = 0
    best = (np.empty(0, np.float32), np.empty(0, np.int64), np.empty(0, np.int64))
    for lo in range(0, n, _BLOCK):
        heavy.checkpoint(stop)
        hi = min(n, lo + _BLOCK)
        shared = (answered[:, lo:hi].T @ right).toarray()
        # each pair once (b > a), and only pairs sharing enough tasks
        shared[np.arange(hi - lo)[:, None] >= np.arange(n)[None, :] - lo] = 0
        rows, cols = np.nonzero(shared >= min_items)  # in (a, b) order
        items = shared[rows, cols]
        total += len(items)
        if len(items) > limit:
            # the block's best `limit`: all above the cut, then the first of those at it
            cut = np.partition(items, len(items) - limit)[len(items) - limit]
            above = items > cut
            at = np.flatnonzero(items == cut)[: limit - int(above.sum())]
            keep = np.concatenate([np.flatnonzero(above), at])
            rows, cols, items = rows[keep], cols[keep], items[keep]
        merged = (
            np.concatenate([best[0], items]),
            np.concatenate([best[1], rows + lo]),
            np.concatenate([best[2], cols]),
        )
        order = np.lexsort((merged[2], merged[1], -merged[0]))[:limit]
        best = (merged[0][order], merged[1][order], merged[2][order])
    items, first, second = best
    same = np.zeros(len(items))
    if len(items):
        for k in range(len(CATEGORIES)):
            heavy.checkpoint(stop)
            mask = ratings.label == k
            chose = sparse.csc_matrix(
                (ones[mask], (ratings.item[mask], ratings.rater[mask])), shape=shape
            )
            same += np.asarray(chose[:, first].multiply(chose[:, second]).sum(axis=0)).ravel()
    out = [
        {
            "annotator_a": ratings.raters[a],
            "annotator_b": ratings.raters[b],
            "items": int(count),
            "agreement": round(float(agreed) / float(count), 4),
        }
        for a, b, count, agreed in zip(first, second, items, same, strict=True)
    ]
    return out, total


async def load(
    conn: AsyncConnection, *, dataset: str | None = None, task_ids: list[UUID] | None = None
) -> Ratings:
    """Every latest pairwise answer (of a dataset, of some tasks) as index arrays: loaded as
    the batch recompute loads them, without a Python object per answer (10^7 answers take
    seconds and a few hundred MB)."""
    loaded = await batch.load_labels(conn, dataset=dataset, task_ids=task_ids)
    ids = [UUID(bytes=bytes(u)) for u in loaded.user_ids]
    names = dict(await bulk.fetch_rows(conn, "agreement.usernames", {"ids": ids}))
    labels = loaded.labels
    return Ratings(
        item=labels.task.astype(np.int64),
        rater=labels.worker.astype(np.int64),
        label=labels.label.astype(np.int64),
        raters=[names[i] for i in ids],
        n_items=labels.n_tasks,
    )


def metrics(
    ratings: Ratings,
    *,
    min_pair_items: int = 1,
    pair_limit: int = PAIR_LIMIT,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Alpha, kappa and the pairwise matrix of the ratings; raises compute.Abandoned at the
    next checkpoint (between the figures, between blocks of the matrix) once `stop` is set."""
    counts = np.zeros((ratings.n_items, len(CATEGORIES)))
    np.add.at(counts, (ratings.item, ratings.label), 1)
    multi = counts.sum(axis=1) >= 2
    kept = counts[multi]
    heavy.checkpoint(stop)
    alpha = krippendorff_alpha(kept)
    heavy.checkpoint(stop)
    kappa = fleiss_kappa(kept)
    pairs, pairs_total = pairwise_matrix(ratings, min_pair_items, pair_limit, stop)
    return {
        "categories": list(CATEGORIES),
        "items": int(multi.sum()),
        "answers": int(kept.sum()),
        "annotators": len(ratings.raters),
        "items_with_one_answer": int((~multi & (counts.sum(axis=1) == 1)).sum()),
        "krippendorff_alpha": None if alpha is None else round(alpha, 4),
        "fleiss_kappa": None if kappa is None else round(kappa, 4),
        "pairwise": pairs,
        "pairs_total": pairs_total,
    }


async def compute(
    conn: AsyncConnection,
    *,
    dataset: str | None = None,
    task_ids: list[UUID] | None = None,
    min_pair_items: int = 1,
    pair_limit: int = PAIR_LIMIT,
) -> dict[str, Any]:
    """Agreement figures for one dataset, a set of tasks, or (neither given) everything. The
    arithmetic runs off the event loop: at 10^7 answers it takes seconds. Cancelled (its
    client went away, see web/disconnects.py), the query in flight is cancelled by psycopg and
    the arithmetic stops at its next checkpoint."""
    ratings = await load(conn, dataset=dataset, task_ids=task_ids)
    out = await heavy.run(metrics, ratings, min_pair_items=min_pair_items, pair_limit=pair_limit)
    out["dataset"] = dataset
    out["task_ids"] = task_ids
    out["pair_limit"] = pair_limit
    return out


# --- agreement as the share of agreeing vote pairs -------------------------------------------

SLICES = ("dataset", "model_pair")  # and any metadata field of the items
_FIELD = re.compile(r"[A-Za-z0-9_]{1,64}")
_GROUP = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")


def _share(agreeing: int, pairs: int) -> dict[str, Any]:
    return {
        "agreement": round(agreeing / pairs, 4) if pairs else None,
        "agreeing": agreeing,
        "pairs": pairs,
    }


def _c2(n: int) -> int:
    return n * (n - 1) // 2


def _figures(rows: list[dict[str, Any]], between: bool) -> dict[str, Any]:
    """Vote-pair agreement with ties (S1) and without (S2), alpha and kappa, of folded rows."""
    s1 = s1_agree = s2 = s2_agree = items = answers = 0
    union: list[tuple[int, int, int]] = []
    weights: list[int] = []
    for r in rows:
        w = r["items"]
        xa, xb, xt, ya, yb, yt = r["xa"], r["xb"], r["xt"], r["ya"], r["yb"], r["yt"]
        ba, bb, bt = r["ba"], r["bb"], r["bt"]
        if between:
            # Distinct pairs of two annotators, one on each side: x·y pairs minus each annotator
            # on both sides with himself, and minus one of the two ways each pair of two such
            # annotators was counted (for disjoint sides, simply x·y).
            nb, nb2 = ba + bb + bt, ba + bb
            pairs = (xa + xb + xt) * (ya + yb + yt) - nb - _c2(nb)
            agree = xa * ya + xb * yb + xt * yt - nb - _c2(ba) - _c2(bb) - _c2(bt)
            pairs2 = (xa + xb) * (ya + yb) - nb2 - _c2(nb2)
            agree2 = xa * ya + xb * yb - nb2 - _c2(ba) - _c2(bb)
            a, b, t = xa + ya - ba, xb + yb - bb, xt + yt - bt
        else:
            pairs, agree = _c2(xa + xb + xt), _c2(xa) + _c2(xb) + _c2(xt)
            pairs2, agree2 = _c2(xa + xb), _c2(xa) + _c2(xb)
            a, b, t = xa, xb, xt
        s1, s1_agree = s1 + w * pairs, s1_agree + w * agree
        s2, s2_agree = s2 + w * pairs2, s2_agree + w * agree2
        items += w * (pairs > 0)
        answers += w * (a + b + t)
        if a + b + t >= 2:
            union.append((a, b, t))
            weights.append(w)
    counts = (
        np.repeat(np.array(union, dtype=float), weights, axis=0)
        if union
        else np.zeros((0, len(CATEGORIES)))
    )
    alpha, kappa = krippendorff_alpha(counts), fleiss_kappa(counts)
    return {
        "items": items,
        "answers": answers,
        "with_ties": _share(s1_agree, s1),
        "without_ties": _share(s2_agree, s2),
        "krippendorff_alpha": None if alpha is None else round(alpha, 4),
        "fleiss_kappa": None if kappa is None else round(kappa, 4),
    }


def check_vote_pair_options(by: str | None, group: str | None, versus: str | None) -> None:
    """Raise InvalidInput naming the option that is not a slice or a group name."""
    if by is not None and by not in SLICES and not _FIELD.fullmatch(by):
        raise InvalidInput(
            "by must be dataset, model_pair or a metadata field (letters, digits, _)", field="by"
        )
    for name, value in (("group", group), ("versus", versus)):
        if value is not None and not _GROUP.fullmatch(value):
            raise InvalidInput(
                f"{name} must be a group name (lowercase letters, digits, _ . -)", field=name
            )
    if versus is not None and group is None:
        raise InvalidInput("versus needs a group to compare with", field="versus")


async def vote_pairs(
    conn: AsyncConnection,
    *,
    dataset: str | None = None,
    by: str | None = None,
    group: str | None = None,
    versus: str | None = None,
) -> dict[str, Any]:
    """Agreement as the share of agreeing vote pairs on the same item, as the MT-Bench paper
    reports it: with ties as a category ("S1") and with every pair holding a tie left out
    ("S2"), each with the number of vote pairs behind it, beside alpha and kappa of the same
    votes; overall and per slice (`by`: dataset, model_pair or a metadata field such as turn).

    group: whose votes (a group such as expert, or a kind, person or model; None: everyone).
    versus: a second group; then each pair is two annotators, one of each group (e.g. experts
    against a model judge), each pair counted once even where the groups overlap. Pairs are
    pooled over items, so an item with more votes weighs more."""
    check_vote_pair_options(by, group, versus)
    rows = await q.fetch_all(
        conn,
        "agreement.vote_counts",
        {
            "dataset": dataset,
            "by": by,
            "group_x": group,
            "group_y": versus if versus is not None else group,
        },
    )
    between = versus is not None and versus != group  # a group against itself: within it
    slices: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        slices.setdefault(row["slice"], []).append(row)
    return {
        "dataset": dataset,
        "by": by,
        "group": group,
        "versus": versus,
        "overall": _figures(rows, between),
        "slices": (
            [{"value": value, **_figures(part, between)} for value, part in slices.items()]
            if by is not None
            else []
        ),
    }
