"""The annotator-pair agreement list, computed a block of annotators at a time, against the
whole matrix computed plainly on the same random answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whstudio.domain import agreement


def _plain(ratings: agreement.Ratings, min_items: int, limit: int):
    n = len(ratings.raters)
    answer = {}
    for item, rater, label in zip(ratings.item, ratings.rater, ratings.label, strict=True):
        answer[(int(item), int(rater))] = int(label)
    by_rater: list[dict[int, int]] = [{} for _ in range(n)]
    for (item, rater), label in answer.items():
        by_rater[rater][item] = label
    pairs = []
    for a in range(n):
        for b in range(a + 1, n):
            common = by_rater[a].keys() & by_rater[b].keys()
            if len(common) >= min_items:
                same = sum(by_rater[a][i] == by_rater[b][i] for i in common)
                pairs.append((-len(common), a, b, round(same / len(common), 4)))
    pairs.sort()
    listed = [
        {
            "annotator_a": ratings.raters[a],
            "annotator_b": ratings.raters[b],
            "items": -count,
            "agreement": share,
        }
        for count, a, b, share in pairs[:limit]
    ]
    return listed, len(pairs)


@st.composite
def answers(draw):
    n_items = draw(st.integers(1, 30))
    n_raters = draw(st.integers(1, 25))
    cells = draw(
        st.sets(st.tuples(st.integers(0, n_items - 1), st.integers(0, n_raters - 1)), max_size=200)
    )
    cells = sorted(cells)  # one latest answer per (item, annotator)
    labels = draw(st.lists(st.integers(0, 2), min_size=len(cells), max_size=len(cells)))
    return agreement.Ratings(
        item=np.array([c[0] for c in cells], dtype=np.int64),
        rater=np.array([c[1] for c in cells], dtype=np.int64),
        label=np.array(labels, dtype=np.int64),
        raters=[f"r{i}" for i in range(n_raters)],
        n_items=n_items,
    )


@settings(max_examples=150, deadline=None)
@given(answers(), st.integers(1, 4), st.integers(1, 40), st.sampled_from([1, 3, 8, 256]))
def test_blocks_give_the_plain_answer(ratings, min_items, limit, block):
    original = agreement._BLOCK, agreement._PAIR_CELLS
    agreement._BLOCK, agreement._PAIR_CELLS = block, 0  # passes of `block` annotators
    try:
        got = agreement.pairwise_matrix(ratings, min_items, limit)
    finally:
        agreement._BLOCK, agreement._PAIR_CELLS = original
    assert got == _plain(ratings, min_items, limit)


def _chunked(ratings: agreement.Ratings, items_per_chunk: int) -> agreement.Chunks:
    """The answers in chunks of whole items, item indices local to each chunk."""
    chunks = []
    for lo in range(0, ratings.n_items, items_per_chunk):
        mine = (ratings.item >= lo) & (ratings.item < lo + items_per_chunk)
        if not mine.any():
            continue
        _, local = np.unique(ratings.item[mine], return_inverse=True)
        chunks.append(
            agreement.aggregation.Labels(
                local,
                ratings.rater[mine],
                ratings.label[mine],
                int(local.max()) + 1,
                len(ratings.raters),
                3,
            )
        )
    return lambda: iter(chunks)


@settings(max_examples=100, deadline=None)
@given(answers(), st.integers(1, 7))
def test_figures_read_in_chunks_are_the_figures_of_the_whole(ratings, items_per_chunk):
    whole = agreement.metrics(ratings, pair_limit=50)
    chunked = agreement.metrics_of(
        _chunked(ratings, items_per_chunk), ratings.raters, pair_limit=50
    )
    assert chunked == whole
    # and alpha and kappa from the tallies equal the package's alpha and the plain kappa
    counts = np.zeros((ratings.n_items, 3))
    np.add.at(counts, (ratings.item, ratings.label), 1)
    kept = counts[counts.sum(axis=1) >= 2]
    alpha = agreement.krippendorff_alpha(kept)
    _near(whole["krippendorff_alpha"], alpha)
    if len(kept):
        n = kept.sum(axis=1)
        shares = kept.sum(axis=0) / kept.sum()
        expected = (shares**2).sum()
        observed = ((kept * (kept - 1)).sum(axis=1) / (n * (n - 1))).mean()
        kappa = None if expected >= 1 else (observed - expected) / (1 - expected)
        _near(whole["fleiss_kappa"], kappa)


def _near(rounded: float | None, exact: float | None) -> None:
    """`rounded` is `exact` to four decimals (either rounding of a value at the boundary)."""
    assert (rounded is None) == (exact is None)
    if exact is not None:
        assert abs(rounded - exact) <= 5e-5 + 1e-12


def test_pairs_at_the_cut_are_kept_in_annotator_order():
    # every pair of 6 annotators shares exactly one item: 15 pairs tied on items
    ratings = agreement.Ratings(
        item=np.zeros(6, dtype=np.int64),
        rater=np.arange(6, dtype=np.int64),
        label=np.array([0, 0, 1, 1, 2, 2]),
        raters=[f"r{i}" for i in range(6)],
        n_items=1,
    )
    pairs, total = agreement.pairwise_matrix(ratings, 1, 4)
    assert total == 15
    assert [(p["annotator_a"], p["annotator_b"]) for p in pairs] == [
        ("r0", "r1"), ("r0", "r2"), ("r0", "r3"), ("r0", "r4"),
    ]  # fmt: skip
    assert [p["agreement"] for p in pairs] == pytest.approx([1.0, 0.0, 0.0, 0.0])
