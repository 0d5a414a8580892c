"""Bradley–Terry strengths of models from pairwise outcomes, with bootstrap confidence
intervals. Pure maths, no database: callers load the outcomes and shape the result.

Model: P(i beats j) = 1 / (1 + exp(-(s_i - s_j))). A tie counts as half a win for each side
(the usual "ties as half" treatment, equivalent to Rao–Kupper with no extra tie parameter in
the expected scores). A small Gaussian prior on the strengths (`l2`, default 0.01 per model)
keeps them finite when a model won or lost every comparison; it moves well-observed strengths
by less than rounding. Strengths are centred to mean 0 and reported as Elo-like ratings,
1000 + 400·s/ln 10, so a 400-point gap means 10:1 odds.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from whstudio.domain.compute import checkpoint

ELO_SCALE = 400.0 / math.log(10.0)


@dataclass(frozen=True)
class Outcomes:
    """Comparisons as parallel arrays: left model index, right model index, and the left
    side's score (1 win, 0.5 tie, 0 loss), each with a weight (how many such outcomes)."""

    left: np.ndarray
    right: np.ndarray
    score: np.ndarray
    weight: np.ndarray
    n_models: int


@dataclass(frozen=True)
class Fit:
    strengths: np.ndarray  # centred log-strengths
    converged: bool


def fit(outcomes: Outcomes, *, l2: float = 0.01) -> Fit:
    """Return the maximum a-posteriori strengths for the outcomes."""
    n = outcomes.n_models
    left, right, score, weight = outcomes.left, outcomes.right, outcomes.score, outcomes.weight
    # Sufficient statistics: each pair (i, j) with its total weight and the weighted score of i.
    wins = np.zeros(n)
    np.add.at(wins, left, weight * score)
    np.add.at(wins, right, weight * (1 - score))

    def objective(s: np.ndarray) -> tuple[float, np.ndarray]:
        diff = s[left] - s[right]
        # log(1 + exp(diff)) computed stably; the likelihood of the scores given the strengths
        log_norm = np.logaddexp(0.0, diff)
        nll = -(weight * (score * diff - log_norm)).sum() + 0.5 * l2 * (s @ s)
        p = 1.0 / (1.0 + np.exp(-diff))
        expected = np.zeros(n)
        np.add.at(expected, left, weight * p)
        np.add.at(expected, right, weight * (1 - p))
        grad = -(wins - expected) + l2 * s
        return float(nll), grad

    result = minimize(
        objective, np.zeros(n), jac=True, method="L-BFGS-B", options={"maxiter": 1000}
    )
    strengths = result.x - result.x.mean()
    return Fit(strengths=strengths, converged=bool(result.success))


def elo(strengths: np.ndarray) -> np.ndarray:
    """Return Elo-like ratings (1000 at the mean) for log-strengths."""
    return 1000.0 + ELO_SCALE * strengths


@dataclass(frozen=True)
class Ranking:
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    strengths: np.ndarray
    rank_lower: np.ndarray  # best rank reached in the bootstrap's 95% interval
    rank_upper: np.ndarray
    converged: bool


def rank(
    outcomes: Outcomes,
    *,
    rounds: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    l2: float = 0.01,
    stop: threading.Event | None = None,
) -> Ranking:
    """Fit, then refit on `rounds` resamples of the comparisons (with replacement) and return
    ratings with percentile intervals at `confidence`. Raises compute.Abandoned before the
    next fit once `stop` is set."""
    checkpoint(stop)
    point = fit(outcomes, l2=l2)
    rng = np.random.default_rng(seed)
    total = outcomes.weight.sum()
    n_rows = len(outcomes.left)
    samples = np.empty((rounds, outcomes.n_models))
    probabilities = outcomes.weight / total if total > 0 else None
    for r in range(rounds):
        checkpoint(stop)
        # Resample individual comparisons: each row is drawn in proportion to its weight.
        counts = rng.multinomial(round(float(total)), probabilities) if n_rows else np.zeros(0)
        keep = counts > 0
        resampled = Outcomes(
            left=outcomes.left[keep],
            right=outcomes.right[keep],
            score=outcomes.score[keep],
            weight=counts[keep].astype(float),
            n_models=outcomes.n_models,
        )
        samples[r] = fit(resampled, l2=l2).strengths
    alpha = (1 - confidence) / 2
    ratings = elo(samples)
    lower = np.quantile(ratings, alpha, axis=0)
    upper = np.quantile(ratings, 1 - alpha, axis=0)
    # Ranks in each round (1 = best), and their interval.
    ranks = (-samples).argsort(axis=1).argsort(axis=1) + 1
    return Ranking(
        rating=elo(point.strengths),
        lower=lower,
        upper=upper,
        strengths=point.strengths,
        rank_lower=np.quantile(ranks, alpha, axis=0, method="lower").astype(int),
        rank_upper=np.quantile(ranks, 1 - alpha, axis=0, method="higher").astype(int),
        converged=point.converged,
    )
