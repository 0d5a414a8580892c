"""Annotator quality on a simulated crowd of known accuracy, written into BENCHMARKS.md.

    .venv/bin/python -m benchmarks.quality [--tasks 2000] [--threshold 5] [--seed 11]

26 annotators (20 honest between 55% and 95%, 3 random, 2 adversarial, 1 always picking the left
answer) take `next` and answer pairwise tasks of known truth, a tenth of them gold checks, until
every task has its answers. Then: the quality refresh (Dawid–Skene skill, reputations), each
aggregation method's accuracy against the truth, crowd-kit's Dawid–Skene on the same labels,
agreement metrics, and how long each took.

Which PostgreSQL: --database-url, else DATABASE_URL, else the machine's server at
127.0.0.1:5432 if it answers, else an embedded one. The data goes into a database
`whs_bench_quality`, made afresh each run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
from psycopg.rows import dict_row

from benchmarks.common import ROOT, fresh_database, machine, scratch_server
from benchmarks.report import put_section, table
from whstudio.domain import batch
from whstudio.simulation import crowd

DB_NAME = "whs_bench_quality"


async def _crowdkit(conn: psycopg.AsyncConnection, sim: crowd.Simulation) -> dict[str, float]:
    """crowd-kit's Dawid–Skene on the same latest answers: accuracy and time."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    loaded = await batch.load_labels(conn)
    frame = pd.DataFrame(
        {
            "task": loaded.labels.task,
            "worker": loaded.labels.worker,
            "label": loaded.labels.label,
        }
    )
    began = time.perf_counter()
    labels = DawidSkene(n_iter=100).fit_predict(frame)
    seconds = time.perf_counter() - began
    winners = np.full(loaded.labels.n_tasks, -1)
    winners[labels.index.to_numpy()] = labels.to_numpy()
    return {
        "accuracy": crowd.winner_accuracy(winners, loaded.task_ids, sim),
        "seconds": seconds,
        "labels": len(frame),
    }


async def measure(url: str, *, tasks: int, threshold: int, seed: int, workers: int) -> dict:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        began = time.perf_counter()
        sim = await crowd.setup(
            conn, tasks=tasks, gold_share=0.1, threshold=threshold, gold_rate=0.1, seed=seed
        )
        setup_seconds = time.perf_counter() - began
        await crowd.run(url, sim, seed=seed, workers=workers)
        report = await crowd.evaluate(conn, sim)
        report["setup_seconds"] = setup_seconds
        report["crowdkit"] = await _crowdkit(conn, sim)
        report["threshold"] = threshold
        report["workers"] = workers
        return report


def render(report: dict, info: dict[str, str]) -> str:
    acc, times, agree = report["accuracy"], report["timings"], report["agreement"]
    crowdkit = report["crowdkit"]

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f} ms"

    methods = [
        ["majority vote (batch)", f"{acc['majority']:.4f}", ms(times["batch majority"])],
        ["real-time consensus (a tie never wins)", f"{acc['realtime']:.4f}", "kept per answer"],
        ["reputation-weighted vote", f"{acc['weighted']:.4f}", ms(times["batch weighted"])],
        ["Dawid–Skene (ours)", f"{acc['dawid_skene']:.4f}", ms(times["batch dawid_skene"])],
        ["Dawid–Skene (crowd-kit)", f"{crowdkit['accuracy']:.4f}", ms(crowdkit["seconds"])],
    ]
    rests_on = f"{agree['items']:,} tasks with ≥ 2 answers, {agree['answers']:,} answers"
    figures = [
        ["Krippendorff's alpha (nominal)", agree["krippendorff_alpha"], rests_on],
        ["Fleiss' kappa", agree["fleiss_kappa"], "the same"],
        ["pairwise agreement matrix", f"{report['pairwise_pairs']} pairs", "tasks each shares"],
        ["time for the three", ms(times["agreement metrics"]), ""],
        ["quality refresh with Dawid–Skene", ms(times["quality refresh (incl. Dawid–Skene)"]), ""],
    ]
    people = [
        [
            p["name"],
            f"{p['true_accuracy']:.2f}",
            p["score"],
            f"{p['weight']:.2f}",
            f"{p['gold']['successes']}/{p['gold']['trials']}",
            "" if p["dawid_skene_accuracy"] is None else f"{p['dawid_skene_accuracy']:.3f}",
            ", ".join(p["flags"]),
        ]
        for p in sorted(report["people"], key=lambda p: -p["score"])
    ]
    rate = report["answers"] / report["answering_seconds"]
    return "\n".join(
        [
            "## Annotator quality: a simulated crowd of known accuracy",
            "",
            f"`.venv/bin/python -m benchmarks.quality` ({info['date']}; {info['cores']} cores, "
            f"{info['ram']}, {info['cpu']}; {info['postgresql']}).",
            "",
            f"{report['annotators']} annotators (20 honest from 55% to 95% accurate, 3 answering "
            "at random, 2 always choosing the worse answer, 1 always choosing the answer shown on "
            f"the left) took `next` and answered {report['tasks']:,} pairwise tasks of known "
            f"truth ({report['gold_tasks']} gold checks served at a 10% rate; "
            f"{report['threshold']} answers per task) through the calls the API handlers make: "
            f"{report['answers']:,} answers in {report['answering_seconds']:.1f} s with "
            f"{report['workers']} annotators at once ({rate:.0f} answers/s, a `next` and a "
            "`submit` each, quality triggers included).",
            "",
            f"Reputation against true accuracy: Spearman **{report['spearman']:.3f}** "
            "(target ≥ 0.9). Annotator counters out of step with their quality rows: "
            f"{report['counters_out_of_step']}.",
            "",
            table(["method", "accuracy on the non-gold tasks", "time"], methods),
            "",
            "A task whose top choices tie has no winner and counts as wrong for that method.",
            "",
            table(["figure", "value", "rests on"], figures),
            "",
            "The low agreement figures are the crowd's: with 6 of 26 annotators random or "
            "adversarial and honest ones from 55%, two annotators agree little more often than "
            "chance would have them.",
            "",
            table(
                [
                    "annotator",
                    "true accuracy",
                    "reputation",
                    "weight",
                    "gold",
                    "D–S accuracy",
                    "flags",
                ],
                people,
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--threshold", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--database-url")
    parser.add_argument("--db-name", default=DB_NAME, help="database made afresh for the run")
    parser.add_argument("--report", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    server_url, server = scratch_server(args.database_url)
    try:
        url = fresh_database(server_url, args.db_name)
        report = asyncio.run(
            measure(
                url, tasks=args.tasks, threshold=args.threshold, seed=args.seed,
                workers=args.workers,
            )
        )  # fmt: skip
        put_section(args.report, "quality", render(report, machine(url)))
    finally:
        if server is not None:
            server.cleanup()
    print(f"spearman {report['spearman']:.3f}; accuracy {report['accuracy']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
