"""Bradley–Terry maths: equal to choix's MAP fit, ties as half, sound bootstrap intervals."""

from __future__ import annotations

import choix
import numpy as np

from whstudio.domain import bradley_terry as bt


def _simulate(strengths, n, rng, tie_rate=0.0):
    k = len(strengths)
    left = rng.integers(0, k, n)
    right = (left + rng.integers(1, k, n)) % k
    p = 1 / (1 + np.exp(-(strengths[left] - strengths[right])))
    draw = rng.random(n)
    score = (draw < p).astype(float)
    score[rng.random(n) < tie_rate] = 0.5
    return bt.Outcomes(left, right, score, np.ones(n), k)


def test_fit_equals_choix_map_estimate_without_ties():
    rng = np.random.default_rng(3)
    truth = np.array([1.2, 0.4, 0.0, -0.3, -1.3])
    data = _simulate(truth, 600, rng)
    mine = bt.fit(data, l2=0.02).strengths
    pairs = [
        (int(a), int(b)) if s == 1.0 else (int(b), int(a))
        for a, b, s in zip(data.left, data.right, data.score, strict=True)
    ]
    theirs = choix.opt_pairwise(5, pairs, alpha=0.01)
    assert np.allclose(mine, theirs - theirs.mean(), atol=1e-4)
    assert list(np.argsort(-mine)) == [0, 1, 2, 3, 4]


def test_a_tie_counts_as_half_a_win_each_way():
    with_ties = bt.Outcomes(
        left=np.array([0, 0, 1]),
        right=np.array([1, 1, 2]),
        score=np.array([1.0, 0.5, 0.5]),
        weight=np.array([3.0, 2.0, 4.0]),
        n_models=3,
    )
    halves = bt.Outcomes(
        left=np.array([0, 0, 1, 1, 2]),
        right=np.array([1, 1, 0, 2, 1]),
        score=np.array([1.0, 1.0, 1.0, 1.0, 1.0]),
        weight=np.array([3.0, 1.0, 1.0, 2.0, 2.0]),
        n_models=3,
    )
    assert np.allclose(bt.fit(with_ties).strengths, bt.fit(halves).strengths, atol=1e-5)
    s = bt.fit(with_ties).strengths
    assert s[0] > max(s[1], s[2])
    only_ties = bt.Outcomes(np.array([0]), np.array([1]), np.array([0.5]), np.array([9.0]), 2)
    assert np.allclose(bt.fit(only_ties).strengths, 0.0, atol=1e-6)


def test_an_unbeaten_model_gets_a_finite_rating():
    data = bt.Outcomes(
        np.array([0, 0]), np.array([1, 2]), np.array([1.0, 1.0]), np.array([10.0, 10.0]), 3
    )
    found = bt.fit(data)
    assert found.converged and np.all(np.isfinite(found.strengths))
    assert found.strengths[0] > found.strengths[1]


def test_bootstrap_intervals_hold_the_estimate_and_shrink_with_data():
    rng = np.random.default_rng(11)
    truth = np.array([0.8, 0.0, -0.8])
    small = bt.rank(_simulate(truth, 150, rng, tie_rate=0.0), rounds=200, seed=1)
    large_data = _simulate(truth, 3000, rng, tie_rate=0.0)
    large = bt.rank(large_data, rounds=200, seed=1)
    for r in (small, large):
        assert np.all(r.lower <= r.rating) and np.all(r.rating <= r.upper)
    assert np.all(large.upper - large.lower < small.upper - small.lower)
    # The true ratings lie inside the large sample's 99% intervals (three 95% ones miss together
    # too often for a fixed seed to be a fair check).
    true_elo = bt.elo(truth - truth.mean())
    wide = bt.rank(large_data, rounds=300, seed=2, confidence=0.99)
    assert np.all((wide.lower <= true_elo) & (true_elo <= wide.upper))
    assert list(large.rank_lower) == [1, 2, 3] and list(large.rank_upper) == [1, 2, 3]
