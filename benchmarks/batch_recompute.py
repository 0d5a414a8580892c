"""Full batch recompute of every answer with majority and with Dawid–Skene
(`whstudio.domain.batch.recompute`, results stored), each in a process of its own for its wall
time and peak memory; Dawid–Skene's time per label beside crowd-kit's on one sample; and the
plans of the load and store statements (EXPLAIN ANALYZE, rolled back).

    python -m benchmarks.batch_recompute URL METHOD     # one measured run, prints JSON
    (METHOD: majority, weighted, dawid_skene, agreement, `compare N` or `plans`)
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import PYTHON, ROOT, Context, result, write_plan

TARGET_S = 60.0


async def _recompute(url: str, method: str) -> dict[str, Any]:
    from psycopg import AsyncConnection
    from psycopg.rows import dict_row

    from whstudio.domain import batch

    began = time.perf_counter()
    conn = await AsyncConnection.connect(url, row_factory=dict_row)
    try:
        run = await batch.recompute(conn, (method,), store=True)
        await conn.commit()
    finally:
        await conn.close()
    return {
        "wall_s": time.perf_counter() - began,
        "labels": run.labels,
        "tasks": run.tasks,
        "workers": run.workers,
        "steps_s": run.seconds,
        "iterations": run.iterations,
    }


async def _agreement(url: str) -> dict[str, Any]:
    """Alpha, kappa and the pairwise matrix over every answer, as the API computes them."""
    from psycopg import AsyncConnection

    from whstudio.domain import agreement

    began = time.perf_counter()
    conn = await AsyncConnection.connect(url, autocommit=True)
    try:
        out = await agreement.compute(conn)
    finally:
        await conn.close()
    return {
        "wall_s": time.perf_counter() - began,
        "labels": out["answers"] + out["items_with_one_answer"],
        "items": out["items"],
        "workers": out["annotators"],
        "alpha": out["krippendorff_alpha"],
        "pairs_total": out["pairs_total"],
    }


async def _plans(url: str) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the load queries and of storing majority, rolled back."""
    from psycopg import AsyncConnection

    from whstudio.domain import batch

    conn = await AsyncConnection.connect(url)
    try:
        plans = await batch.explain(conn)
    finally:
        await conn.rollback()
        await conn.close()
    return {"plans": plans}


def _subset(labels, max_labels: int, seed: int = 5):
    """Whole tasks, drawn at random, until about `max_labels` labels; re-indexed."""
    from whstudio.domain.aggregation import Labels

    rng = np.random.default_rng(seed)
    per_task = np.bincount(labels.task, minlength=labels.n_tasks)
    order = rng.permutation(labels.n_tasks)
    keep_tasks = order[: int(np.searchsorted(np.cumsum(per_task[order]), max_labels)) + 1]
    mask = np.isin(labels.task, keep_tasks)
    _, task = np.unique(labels.task[mask], return_inverse=True)
    workers, worker = np.unique(labels.worker[mask], return_inverse=True)
    return Labels(
        task=task.astype(np.int64),
        worker=worker.astype(np.int64),
        label=labels.label[mask],
        n_tasks=int(task.max()) + 1 if len(task) else 0,
        n_workers=len(workers),
    )


async def _compare(url: str, max_labels: int) -> dict[str, Any]:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene
    from psycopg import AsyncConnection
    from psycopg.rows import dict_row

    from whstudio.domain import aggregation, batch

    conn = await AsyncConnection.connect(url, row_factory=dict_row)
    try:
        loaded = await batch.load_labels(conn)
    finally:
        await conn.close()
    sample = _subset(loaded.labels, max_labels)
    n = len(sample.task)
    began = time.perf_counter()
    ours = aggregation.dawid_skene(sample)
    ours_s = time.perf_counter() - began
    frame = pd.DataFrame({"task": sample.task, "worker": sample.worker, "label": sample.label})
    began = time.perf_counter()
    theirs = DawidSkene(n_iter=100, tol=1e-5).fit_predict(frame)
    theirs_s = time.perf_counter() - began
    their_winner = np.full(sample.n_tasks, -1)
    their_winner[theirs.index.to_numpy()] = theirs.to_numpy()
    decided = ours.result.winner >= 0
    same = float(np.mean(ours.result.winner[decided] == their_winner[decided])) if n else 0.0
    return {
        "labels": n,
        "tasks": sample.n_tasks,
        "workers": sample.n_workers,
        "ours_s": ours_s,
        "crowdkit_s": theirs_s,
        "ours_us_per_label": 1e6 * ours_s / max(n, 1),
        "crowdkit_us_per_label": 1e6 * theirs_s / max(n, 1),
        "same_winner": same,
        "ours_iterations": ours.result.iterations,
    }


def _peak_mib() -> float:
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec; ru_maxrss
    starts at the parent's peak (a benchmark that built its data set in process would show
    the generator's peak as the worker's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_main(argv: list[str]) -> None:
    url, method = argv[0], argv[1]
    baseline = _peak_mib()
    if method == "compare":
        out = asyncio.run(_compare(url, int(argv[2])))
    elif method == "plans":
        out = asyncio.run(_plans(url))
    elif method == "agreement":
        out = asyncio.run(_agreement(url))
    else:
        out = asyncio.run(_recompute(url, method))
    out["baseline_rss_mib"] = baseline
    out["peak_rss_mib"] = _peak_mib()
    print(json.dumps(out))


def in_process(url: str, *args: str, timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, "-m", "benchmarks.batch_recompute", url, *args],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"batch worker failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


async def run(ctx: Context) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    runs = {}
    for method in ("majority", "dawid_skene"):
        runs[method] = await loop.run_in_executor(
            None, lambda m=method: in_process(ctx.url, m, timeout=3600)
        )
    compare = await loop.run_in_executor(
        None, lambda: in_process(ctx.url, "compare", str(ctx.scale.crowdkit_labels), timeout=3600)
    )
    plans = await loop.run_in_executor(None, lambda: in_process(ctx.url, "plans", timeout=3600))
    write_plan(ctx, "batch_recompute", [tuple(p) for p in plans["plans"]])
    rows = []
    for method, r in runs.items():
        steps = ", ".join(f"{k} {v:.1f}" for k, v in r["steps_s"].items())
        rows.append(
            [
                method,
                r["labels"],
                r["tasks"],
                f"{r['wall_s']:.1f}",
                steps,
                f"{r['peak_rss_mib']:.0f}",
                f"{r['baseline_rss_mib']:.0f}",
            ]
        )
    passed = all(r["wall_s"] < TARGET_S for r in runs.values())
    notes = [
        "Each method in a fresh Python process: wall time from connecting to commit (load: "
        "tasks and annotators numbered in temporary tables, every answer sent as one int8 inside "
        "binary int8[] values of 2^16 tasks each, read one at a time through a server-side "
        "cursor by NumPy in place into a temporary file; aggregate: the file read back a chunk "
        "of whole tasks at a time, one pass per method or EM iteration; store: binary COPY, "
        "written as the last pass computes, into a temporary table, then one set-based UPDATE "
        "of the method's rows in task order, an INSERT of new tasks and a DELETE of tasks gone, "
        "under a table lock that readers do not "
        "wait for); peak memory is that process's VmHWM (the baseline column is the "
        "interpreter with imports, before work). Plans: benchmarks/plans/batch_recompute.txt.",
        f"Dawid–Skene vs crowd-kit on the same {compare['labels']:,} labels "
        f"({compare['tasks']:,} whole tasks drawn at random, {compare['workers']:,} annotators): "
        f"ours {compare['ours_s'] * 1000:.0f} ms ({compare['ours_us_per_label']:.2f} µs/label, "
        f"{compare['ours_iterations']} iterations), crowd-kit {compare['crowdkit_s'] * 1000:.0f} "
        f"ms ({compare['crowdkit_us_per_label']:.2f} µs/label); same winner on "
        f"{compare['same_winner']:.1%} of the tasks ours decides. Ours adds a Dirichlet prior "
        "(prior_count=1), so a few close tasks may differ.",
    ]
    rows.append(
        [
            "Dawid–Skene, ours (sample)",
            compare["labels"],
            compare["tasks"],
            f"{compare['ours_s']:.2f}",
            f"{compare['ours_us_per_label']:.2f} µs/label",
            "",
            "",
        ]
    )
    rows.append(
        [
            "Dawid–Skene, crowd-kit (sample)",
            compare["labels"],
            compare["tasks"],
            f"{compare['crowdkit_s']:.2f}",
            f"{compare['crowdkit_us_per_label']:.2f} µs/label",
            "",
            "",
        ]
    )
    return result(
        "batch_recompute",
        "Full batch recompute: majority and Dawid–Skene",
        target=f"< {TARGET_S:.0f} s each",
        columns=[
            "method",
            "labels",
            "tasks",
            "wall s",
            "steps (s)",
            "peak RSS MiB",
            "baseline RSS MiB",
        ],
        rows=rows,
        passed=passed,
        notes=notes,
        extra={"runs": runs, "compare": compare},
    )


if __name__ == "__main__":
    worker_main(sys.argv[1:])
