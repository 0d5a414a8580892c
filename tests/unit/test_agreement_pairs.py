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
    original = agreement._BLOCK
    agreement._BLOCK = block
    try:
        got = agreement.pairwise_matrix(ratings, min_items, limit)
    finally:
        agreement._BLOCK = original
    assert got == _plain(ratings, min_items, limit)


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
