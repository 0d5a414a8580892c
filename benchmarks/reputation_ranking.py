"""How well each annotator score ranks annotators by their true accuracy, on simulated crowds
shaped like public crowd sets: skewed workloads (a few workers with thousands of labels, many
with under ten), imbalanced classes, honest workers of mixed skill beside spammers and a few
adversaries, a little gold.

    .venv/bin/python -m benchmarks.reputation_ranking [--seeds 5] [--items 3000]
        [--workers 300] [--database-url URL] [--no-write]

Each crowd is imported through the answers import into a fresh database, the quality refresh
fits Dawid–Skene and moves the reputations, and each score is compared with the workers' true
accuracy (Spearman's rank correlation over the workers with at least one label): the
reputation's score and its accuracy, the product's Dawid–Skene skill, and crowd-kit's
Dawid–Skene skill on the same labels. Writes benchmarks/results/reputation_ranking.json and
the section in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row
from scipy import stats as scipy_stats

from benchmarks import report
from benchmarks.common import (
    RESULTS_DIR,
    ROOT,
    drop_database,
    fresh_database,
    machine,
    scratch_server,
)

SCORES = ("reputation score", "reputation accuracy", "Dawid–Skene skill", "crowd-kit skill")


def crowd(seed: int, items: int, workers: int) -> dict[str, Any]:
    """A crowd set: truths, gold, each worker's true accuracy, and (item, worker, label) rows."""
    rng = random.Random(seed)
    truth = ["A" if rng.random() < 0.75 else "B" for _ in range(items)]
    gold = {i for i in range(items) if rng.random() < 0.03}
    skill = []
    for _ in range(workers):
        kind = rng.random()
        if kind < 0.12:
            skill.append(rng.uniform(0.45, 0.55))  # spammers
        elif kind < 0.15:
            skill.append(rng.uniform(0.2, 0.35))  # adversaries
        else:
            skill.append(min(0.99, rng.betavariate(8, 2.5)))  # honest, mixed skill
    # skewed loads: worker k draws with weight 1/(k+1)^1.1, so a few label thousands of items
    weights = [1 / (k + 1) ** 1.1 for k in range(workers)]
    rows = []
    for i in range(items):
        k = rng.choice([3, 3, 5, 5, 7])
        chosen: set[int] = set()
        while len(chosen) < k:
            chosen.update(rng.choices(range(workers), weights=weights, k=k - len(chosen)))
        for w in chosen:
            right = rng.random() < skill[w]
            label = truth[i] if right else ("B" if truth[i] == "A" else "A")
            rows.append((f"item-{i}", f"w{w}", label))
    rng.shuffle(rows)
    return {"truth": truth, "gold": gold, "skill": skill, "rows": rows}


def make_items(url: str, sim: dict[str, Any]) -> None:
    with psycopg.connect(url) as conn:
        with conn.cursor().copy(
            "COPY questions (question_type, content, source_dataset, source_ref, gold_standard)"
            " FROM STDIN"
        ) as copy:
            for i, truth in enumerate(sim["truth"]):
                content = {"prompt": f"item {i}", "optionA": "a", "optionB": "b"}
                gold = json.dumps(truth) if i in sim["gold"] else None
                copy.write_row(("pairwise_ab", json.dumps(content), "sim", f"item-{i}", gold))
        conn.execute("INSERT INTO tasks (question_id, title) SELECT id, source_ref FROM questions")
        conn.commit()


async def measure(url: str, sim: dict[str, Any]) -> dict[str, Any]:
    from whstudio.domain import quality
    from whstudio.domain.importing import answers

    out = io.StringIO()
    out.write("task,worker,label\n")
    for item, worker, label in sim["rows"]:
        out.write(f"{item},{worker},{label}\n")
    checked = answers.check_answers_file(out.getvalue().encode(), "crowd.csv")
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        async with conn.transaction():
            await answers.store_answers(conn, checked, source="crowd.csv", dataset="sim")
        async with conn.transaction():
            await quality.refresh(conn, dawid_skene=True)
        cur = await conn.execute(
            "SELECT u.username, u.reputation_score, a.accuracy, a.answers, k.accuracy AS ds"
            " FROM users u JOIN annotator_stats a ON a.user_id = u.id"
            " LEFT JOIN annotator_skill k ON k.user_id = u.id AND k.method = 'dawid_skene'"
        )
        found = {r["username"]: r for r in await cur.fetchall()}
    names = sorted(found, key=lambda n: int(n[1:]))
    true = [sim["skill"][int(n[1:])] for n in names]
    crowd_kit = crowd_kit_skill(sim)
    columns = {
        "reputation score": [found[n]["reputation_score"] for n in names],
        "reputation accuracy": [found[n]["accuracy"] for n in names],
        "Dawid–Skene skill": [found[n]["ds"] if found[n]["ds"] is not None else 0.5 for n in names],
        "crowd-kit skill": [crowd_kit.get(n, 0.5) for n in names],
    }
    loads = [found[n]["answers"] for n in names]
    return {
        "workers": len(names),
        "labels": len(sim["rows"]),
        "largest_load": max(loads),
        "under_10": sum(load < 10 for load in loads),
        "spearman": {
            name: float(scipy_stats.spearmanr(true, values).statistic)
            for name, values in columns.items()
        },
    }


def crowd_kit_skill(sim: dict[str, Any]) -> dict[str, float]:
    """crowd-kit's Dawid–Skene on the same labels: each worker's expected accuracy under the
    fitted class priors (Σ prior × diagonal of the confusion matrix)."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    frame = pd.DataFrame(sim["rows"], columns=["task", "worker", "label"])
    model = DawidSkene(n_iter=100).fit(frame)
    priors = model.priors_
    skill = {}
    for worker, matrix in model.errors_.groupby(level=0):
        matrix = matrix.droplevel(0)
        skill[worker] = float(
            sum(priors[c] * matrix.loc[c, c] for c in priors.index if c in matrix.index)
        )
    return skill


def run(args: argparse.Namespace) -> dict[str, Any]:
    server, embedded = scratch_server(args.database_url, "whs-bench-rep-")
    runs = []
    try:
        for seed in range(1, args.seeds + 1):
            name = f"whs_bench_reputation_{seed}"
            url = fresh_database(server, name)
            try:
                sim = crowd(seed, args.items, args.workers)
                make_items(url, sim)
                runs.append({"seed": seed, **asyncio.run(measure(url, sim))})
            finally:
                drop_database(server, name)
            print(json.dumps(runs[-1]["spearman"]), flush=True)
        result = {
            "machine": machine(server),
            "items": args.items,
            "workers": args.workers,
            "runs": runs,
            "mean": {s: statistics.mean(r["spearman"][s] for r in runs) for s in SCORES},
        }
        return result
    finally:
        if embedded is not None:
            embedded.cleanup()


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        "## Ranking annotators by true accuracy (issue 20)",
        "",
        f"Measured {m['date']}; `python -m benchmarks.reputation_ranking --seeds"
        f" {len(r['runs'])} --items {r['items']} --workers {r['workers']}`. Each simulated crowd:"
        f" {r['items']:,} pairwise items (3 in 4 truly A), 3–7 labels each, {r['workers']}"
        " workers drawing items by a Zipf law (a few label thousands, many under ten), 85 in a"
        " hundred honest (accuracy drawn from Beta(8, 2.5)), 12 spammers (45–55%), 3"
        " adversaries (20–35%), 3 in a hundred items gold. Imported, then `quality refresh`"
        " (Dawid–Skene). Spearman's rank correlation with the workers' true accuracy:",
        "",
        "| seed | workers | labels | busiest | under 10 labels | " + " | ".join(SCORES) + " |",
        "|---:|---:|---:|---:|---:|" + "---:|" * len(SCORES),
    ]
    for run_ in r["runs"]:
        cells = " | ".join(f"{run_['spearman'][s]:.3f}" for s in SCORES)
        lines.append(
            f"| {run_['seed']} | {run_['workers']} | {run_['labels']:,} |"
            f" {run_['largest_load']:,} | {run_['under_10']} | {cells} |"
        )
    means = " | ".join(f"**{r['mean'][s]:.3f}**" for s in SCORES)
    lines += ["| mean | | | | | " + means + " |"]
    return "\n".join(lines)


def write_section(text: str) -> None:
    report.put_section(ROOT / "BENCHMARKS.md", "reputation_ranking", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=300)
    parser.add_argument("--database-url")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result["mean"], indent=2))
    if not args.no_write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        Path(RESULTS_DIR / "reputation_ranking.json").write_text(
            json.dumps(result, indent=2, default=str) + "\n"
        )
        write_section(render(result))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
