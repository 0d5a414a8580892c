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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import krippendorff
import numpy as np
from psycopg import AsyncConnection
from scipy import sparse

from whstudio.db import bulk
from whstudio.db import queries as q
from whstudio.domain import aggregation, batch
from whstudio.domain import compute as heavy
from whstudio.errors import InvalidInput

CATEGORIES = ("A", "B", "tie")


@dataclass(frozen=True)
class Ratings:
    """Answers held in memory: item, rater and category index per answer."""

    item: np.ndarray  # item index per answer
    rater: np.ndarray  # rater index per answer
    label: np.ndarray  # category index per answer
    raters: list[str]  # rater index -> username
    n_items: int

    def chunks(self) -> Iterator[aggregation.Labels]:
        """The answers as one chunk (see Chunks)."""
        yield aggregation.Labels(
            self.item, self.rater, self.label, self.n_items, len(self.raters), len(CATEGORIES)
        )


# Answers a chunk at a time, each chunk holding whole items; called again for each pass.
Chunks = Callable[[], Iterable[aggregation.Labels]]


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa from an items x categories count matrix; items may have different numbers
    of ratings (each item's observed agreement uses its own n, as in the usual generalisation).
    Items with fewer than two ratings must be removed first."""
    tally = Tally()
    tally.add(counts)
    return tally.kappa()


def krippendorff_alpha(counts: np.ndarray) -> float | None:
    """Nominal Krippendorff's alpha from items x categories counts (the `krippendorff` package:
    the reference Tally.alpha is tested against)."""
    if len(counts) == 0 or np.count_nonzero(counts.sum(axis=0)) < 2:
        return None
    return float(
        krippendorff.alpha(value_counts=counts.astype(float), level_of_measurement="nominal")
    )


class Tally:
    """What alpha and kappa need, summed over items a chunk at a time: the coincidence matrix
    (Krippendorff), and the items' observed agreement and the category totals (Fleiss)."""

    def __init__(self, k: int = len(CATEGORIES)) -> None:
        self.coincidence = np.zeros((k, k))
        self.observed = 0.0
        self.items = 0
        self.totals = np.zeros(k)

    def add(self, counts: np.ndarray) -> None:
        """Add items (rows of category counts, each with two ratings or more)."""
        counts = counts.astype(np.float64)
        n = counts.sum(axis=1)
        if len(n) == 0:
            return
        # each item's pairable values: n_c n_k / (n - 1) off the diagonal, n_c (n_c - 1) / (n - 1)
        scaled = counts / (n - 1)[:, None]
        self.coincidence += scaled.T @ counts - np.diag(scaled.sum(axis=0))
        self.observed += float(((counts * (counts - 1)).sum(axis=1) / (n * (n - 1))).sum())
        self.items += len(n)
        self.totals += counts.sum(axis=0)

    def kappa(self) -> float | None:
        if self.items == 0:
            return None
        shares = self.totals / self.totals.sum()
        expected = float((shares**2).sum())
        if expected >= 1.0:
            return None  # every answer in one category: agreement is undefined, not perfect
        return float((self.observed / self.items - expected) / (1.0 - expected))

    def alpha(self) -> float | None:
        if self.items == 0 or np.count_nonzero(self.totals) < 2:
            return None
        pairable = self.coincidence.sum(axis=1)
        n = pairable.sum()
        off = ~np.eye(len(pairable), dtype=bool)
        disagreeing = float(self.coincidence[off].sum())
        expected = float(np.outer(pairable, pairable)[off].sum()) / (n - 1)
        return 1.0 - disagreeing / expected


PAIR_LIMIT = 1000
_BLOCK = 256  # fewest annotators per pass of the shared-task matrix
_PAIR_CELLS = 1 << 22  # cells of that matrix held at once (float32: 16 MB)


def _indicator(chunk: aggregation.Labels, mask: np.ndarray | None = None) -> sparse.csc_matrix:
    item, rater = (
        (chunk.task, chunk.worker) if mask is None else (chunk.task[mask], chunk.worker[mask])
    )
    ones = np.ones(len(item), dtype=np.float32)  # counts stay exact below 2^24
    return sparse.csc_matrix((ones, (item, rater)), shape=(chunk.n_tasks, chunk.n_workers))


def _best_of_block(
    shared: np.ndarray, lo: int, min_items: int, limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The best `limit` pairs of a block of rows of the shared-task matrix (annotators lo..),
    in (a, b) order: those sharing the most tasks, then the first of those at the cut; and how
    many pairs the block has. Each pair counts once (b > a) and only with `min_items` tasks.
    Works in place: no index array as large as the block."""
    n = shared.shape[1]
    for r in range(shared.shape[0]):
        shared[r, : lo + r + 1] = 0
    shared[shared < min_items] = 0
    flat = shared.ravel()
    count = int(np.count_nonzero(flat))
    if count <= limit:
        keep = np.flatnonzero(flat)
    else:
        cut = np.partition(flat, len(flat) - limit)[len(flat) - limit]  # at least min_items
        keep = np.flatnonzero(flat > cut)
        pieces, need, step = [keep], limit - len(keep), 1 << 20
        for start in range(0, len(flat), step):
            if need <= 0:
                break
            at = np.flatnonzero(flat[start : start + step] == cut)[:need] + start
            pieces.append(at)
            need -= len(at)
        keep = np.sort(np.concatenate(pieces))
    rows, cols = np.divmod(keep, n)
    return rows, cols, flat[keep], count


def pairwise_matrix(
    ratings: Ratings,
    min_items: int = 1,
    limit: int = PAIR_LIMIT,
    stop: threading.Event | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The pairwise matrix (see pairwise_of) of answers held in memory."""
    return pairwise_of(ratings.chunks, ratings.raters, min_items, limit, stop)


def pairwise_of(
    chunks: Chunks,
    raters: list[str],
    min_items: int = 1,
    limit: int = PAIR_LIMIT,
    stop: threading.Event | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """For two annotators who answered at least `min_items` tasks in common: on how many tasks,
    and the share of those where they gave the same answer. Returns the `limit` pairs sharing
    the most tasks (ties by annotator order) and how many pairs there are in all.

    10,000 annotators make 50 million pairs, so the annotators x annotators matrix of shared
    tasks is never held whole: each pass over the answers counts the rows of as many
    annotators as _PAIR_CELLS allows (at least _BLOCK), cut to their best `limit` pairs, and a
    last pass computes agreement for the pairs kept only. Raises compute.Abandoned at the next
    chunk once `stop` is set."""
    n = len(raters)
    step = max(_BLOCK, _PAIR_CELLS // max(n, 1))
    total = 0
    best = (np.empty(0, np.float32), np.empty(0, np.int64), np.empty(0, np.int64))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        shared = np.zeros((hi - lo, n), dtype=np.float32)
        for chunk in chunks():
            heavy.checkpoint(stop)
            answered = _indicator(chunk)
            shared += (answered[:, lo:hi].T @ answered.tocsr()).toarray()
        rows, cols, items, count = _best_of_block(shared, lo, min_items, limit)
        del shared
        total += count
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
        for chunk in chunks():
            heavy.checkpoint(stop)
            for k in range(len(CATEGORIES)):
                chose = _indicator(chunk, chunk.label == k)
                same += np.asarray(chose[:, first].multiply(chose[:, second]).sum(axis=0)).ravel()
    out = [
        {
            "annotator_a": raters[a],
            "annotator_b": raters[b],
            "items": int(count),
            "agreement": round(float(agreed) / float(count), 4),
        }
        for a, b, count, agreed in zip(first, second, items, same, strict=True)
    ]
    return out, total


def metrics(
    ratings: Ratings,
    *,
    min_pair_items: int = 1,
    pair_limit: int = PAIR_LIMIT,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """The figures (see metrics_of) of answers held in memory."""
    return metrics_of(
        ratings.chunks,
        ratings.raters,
        min_pair_items=min_pair_items,
        pair_limit=pair_limit,
        stop=stop,
    )


def metrics_of(
    chunks: Chunks,
    raters: list[str],
    *,
    min_pair_items: int = 1,
    pair_limit: int = PAIR_LIMIT,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Alpha, kappa and the pairwise matrix of the answers, read a chunk at a time (memory:
    a chunk and the pairwise passes' rows, however many answers); raises compute.Abandoned at
    the next chunk once `stop` is set."""
    tally = Tally()
    one_answer = 0
    for chunk in chunks():
        heavy.checkpoint(stop)
        counts = np.bincount(
            chunk.task * len(CATEGORIES) + chunk.label, minlength=chunk.n_tasks * len(CATEGORIES)
        ).reshape(chunk.n_tasks, len(CATEGORIES))
        n = counts.sum(axis=1)
        tally.add(counts[n >= 2])
        one_answer += int((n == 1).sum())
    heavy.checkpoint(stop)
    alpha, kappa = tally.alpha(), tally.kappa()
    pairs, pairs_total = pairwise_of(chunks, raters, min_pair_items, pair_limit, stop)
    return {
        "categories": list(CATEGORIES),
        "items": tally.items,
        "answers": int(tally.totals.sum()),
        "annotators": len(raters),
        "items_with_one_answer": one_answer,
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
    """Agreement figures for one dataset, a set of tasks, or (neither given) everything.

    The answers are read once into a temporary file (batch.read_spill: no temporary table, so
    a read replica serves it) and the arithmetic reads them back a chunk at a time, off the
    event loop: memory stays bounded at any number of answers. Cancelled (its client went
    away, see web/disconnects.py), the query in flight is cancelled by psycopg and the
    arithmetic stops at its next checkpoint."""
    async with batch.read_spill(conn, dataset=dataset, task_ids=task_ids) as (spill, user_ids):
        ids = [UUID(bytes=bytes(u)) for u in user_ids]
        names = dict(await bulk.fetch_rows(conn, "agreement.usernames", {"ids": ids}))
        out = await heavy.run(
            metrics_of,
            spill.labels,
            [names[i] for i in ids],
            min_pair_items=min_pair_items,
            pair_limit=pair_limit,
        )
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
