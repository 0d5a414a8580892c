"""Model rankings: Bradley–Terry over the pairwise outcomes of tasks whose questions record
which model wrote answer A and answer B (`model_a`, `model_b` in the question metadata)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.domain import bradley_terry as bt
from whstudio.domain import compute
from whstudio.errors import InvalidInput

BASES = ("answers", "consensus")
_SCORE = {"A": 1.0, "B": 0.0, "tie": 0.5}


def outcomes_from_rows(rows: list[dict[str, Any]]) -> tuple[list[str], bt.Outcomes]:
    """Return (model names, outcomes) from grouped rows of (model_a, model_b, outcome, n)."""
    names = sorted({r["model_a"] for r in rows} | {r["model_b"] for r in rows})
    index = {name: i for i, name in enumerate(names)}
    kept = [r for r in rows if r["outcome"] in _SCORE and r["n"] > 0]
    return names, bt.Outcomes(
        left=np.array([index[r["model_a"]] for r in kept], dtype=np.int64),
        right=np.array([index[r["model_b"]] for r in kept], dtype=np.int64),
        score=np.array([_SCORE[r["outcome"]] for r in kept]),
        weight=np.array([float(r["n"]) for r in kept]),
        n_models=len(names),
    )


def summarise(
    rows: list[dict[str, Any]],
    *,
    rounds: int,
    seed: int,
    basis: str,
    dataset: str | None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Return the ranking document (models best first, and the head-to-head table); the
    bootstrap raises compute.Abandoned at its next round once `stop` is set."""
    names, outcomes = outcomes_from_rows(rows)
    doc: dict[str, Any] = {
        "method": "bradley_terry",
        "ties": "half",
        "basis": basis,
        "dataset": dataset,
        "confidence": 0.95,
        "bootstrap_rounds": rounds,
        "seed": seed,
        "comparisons": int(outcomes.weight.sum()),
        "models": [],
        "pairs": [],
    }
    if len(names) < 2 or not len(outcomes.left):
        return doc
    found = bt.rank(outcomes, rounds=rounds, seed=seed, stop=stop)
    n = len(names)
    wins, losses, ties = np.zeros(n), np.zeros(n), np.zeros(n)
    for left, right, score, weight in zip(
        outcomes.left, outcomes.right, outcomes.score, outcomes.weight, strict=True
    ):
        if score == 1.0:
            wins[left] += weight
            losses[right] += weight
        elif score == 0.0:
            wins[right] += weight
            losses[left] += weight
        else:
            ties[left] += weight
            ties[right] += weight
    order = np.argsort(-found.rating, kind="stable")
    for position, i in enumerate(order, start=1):
        played = wins[i] + losses[i] + ties[i]
        doc["models"].append(
            {
                "model": names[i],
                "rank": position,
                "rating": round(float(found.rating[i]), 1),
                "ci_lower": round(float(found.lower[i]), 1),
                "ci_upper": round(float(found.upper[i]), 1),
                "rank_ci": [int(found.rank_lower[i]), int(found.rank_upper[i])],
                "strength": round(float(found.strengths[i]), 4),
                "comparisons": int(played),
                "wins": int(wins[i]),
                "losses": int(losses[i]),
                "ties": int(ties[i]),
                "score_rate": round(float((wins[i] + ties[i] / 2) / played), 4) if played else None,
            }
        )
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        a, b = r["model_a"], r["model_b"]
        key, flip = ((a, b), False) if a <= b else ((b, a), True)
        entry = table.setdefault(
            key, {"model_a": key[0], "model_b": key[1], "a_wins": 0, "b_wins": 0, "ties": 0}
        )
        if r["outcome"] == "tie":
            entry["ties"] += r["n"]
        elif (r["outcome"] == "A") != flip:
            entry["a_wins"] += r["n"]
        else:
            entry["b_wins"] += r["n"]
    doc["pairs"] = [table[k] for k in sorted(table)]
    doc["converged"] = found.converged
    return doc


async def model_rankings(
    conn: AsyncConnection,
    *,
    dataset: str | None = None,
    basis: str = "answers",
    rounds: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Return the Bradley–Terry ranking of the models named in pairwise questions."""
    if basis not in BASES:
        raise InvalidInput(f"basis must be one of {', '.join(BASES)}", field="basis")
    if not 10 <= rounds <= 2000:
        raise InvalidInput("rounds must be between 10 and 2000", field="rounds")
    rows = await q.fetch_all(conn, "rankings.outcomes", {"dataset": dataset, "basis": basis})
    # The bootstrap refits the model `rounds` times: off the event loop, and stopped if this
    # coroutine is cancelled (its client went away, see web/disconnects.py).
    return await compute.run(
        summarise, rows, rounds=rounds, seed=seed, basis=basis, dataset=dataset
    )
