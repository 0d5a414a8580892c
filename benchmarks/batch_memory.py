"""Batch work that outgrows memory (issue 18): Dawid–Skene (stored, as `whstudio consensus
recompute` runs it) and the agreement metrics (alpha, kappa, the pairwise matrix) over every
answer at 10^6 and 10^7 answers, each in a fresh process for its wall time and peak memory,
and 10^8 extrapolated from the two.

    .venv/bin/python -m benchmarks.batch_memory [--database-url URL]

The 10^7 data set is the full scale's (`whs_bench_full`, built by benchmarks.run or here, and
kept); the 10^6 one (`medium`) is built for the run and dropped after. Writes
benchmarks/results/batch_memory.json and the section in BENCHMARKS.md.

Extrapolation: time grows linearly with the answers (each pass reads every answer once, and the
passes do not multiply with size: EM's iteration count depends on the data's agreement, not
its size), so time at 10^8 is the line through the two measured points. Memory above the
interpreter's own is a chunk of answers (bounded), a few bytes per task (the winners kept to
compare the methods) and the annotators' matrices; it is extrapolated on the same line, which
overstates it when the increase is the fixed chunk's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from typing import Any

from benchmarks import report
from benchmarks.batch_recompute import in_process
from benchmarks.common import PYTHON, RESULTS_DIR, ROOT, SCALES, generated_database, machine

JOBS = ("dawid_skene", "agreement")
BIG = 10**8


def _full(server: str | None) -> str:
    """The full scale's database, built once and kept (as benchmarks.run keeps it)."""
    from benchmarks.generate import generate
    from benchmarks.run import choose_server, prepare_database

    url, _ = choose_server("full", server)
    bench, must_generate = prepare_database(url, "whs_bench_full", regenerate=False)
    if must_generate:
        generate(bench, SCALES["full"], log=lambda m: print(m, flush=True))
    return bench


def _measure(url: str) -> dict[str, dict[str, Any]]:
    out = {}
    for job in JOBS:
        out[job] = in_process(url, job, timeout=7200)
        print(f"   {job}: {json.dumps(out[job])}", flush=True)
    return out


def _line(small: float, large: float, n_small: int, n_large: int, n: int) -> float:
    return large + (large - small) * (n - n_large) / (n_large - n_small)


def _synthetic_spill(answers: int, workers: int = 10_000, per_task: int = 10, seed: int = 3):
    """A spill of `answers` answers made here, as the server would send them (arrays of 2^16
    tasks' answers): tasks with a true label, each answered by `per_task` annotators drawn at
    random, each right with their own accuracy (0.5 to 0.95), wrong answers split between the
    other label and a tie."""
    import numpy as np

    from whstudio.domain import batch

    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.5, 0.95, workers)
    spill = batch.Spill(workers)
    tasks = answers // per_task
    step = 1 << batch._CHUNK_BITS
    for first in range(0, tasks, step):
        n = min(step, tasks - first)
        task = np.repeat(np.arange(first, first + n, dtype=np.int64), per_task)
        worker = rng.integers(0, workers, n * per_task)
        truth = np.repeat(rng.integers(0, 2, n), per_task)
        right = rng.random(n * per_task) < accuracy[worker]
        wrong = np.where(rng.random(n * per_task) < 0.8, 1 - truth, 2)
        label = np.where(right, truth, wrong)
        spill.add(task << batch._WORKER_BITS | worker << 2 | label)
    spill.seal()
    return spill


def synthetic_main(answers: int, job: str) -> None:
    """In a process of its own: make the spill, then time the job's arithmetic over it (what
    follows the database's load) and report the peak memory of the whole."""
    from benchmarks.batch_recompute import _peak_mib
    from whstudio.domain import aggregation, agreement

    baseline = _peak_mib()
    began = time.perf_counter()
    spill = _synthetic_spill(answers)
    made = time.perf_counter() - began
    began = time.perf_counter()
    out: dict[str, Any] = {"labels": spill.answers, "tasks": spill.tasks, "spill_s": made}
    if job == "dawid_skene":
        model = aggregation.DawidSkeneStreamed(spill.n_workers, spill.n_classes)
        model.fit(spill.labels)
        winners = 0
        for chunk in spill.labels():  # the pass that writes the results
            winners += int((model.result(chunk)[0].winner >= 0).sum())
        out["iterations"] = model.iterations
    else:
        figures = agreement.metrics_of(spill.labels, [f"w{i}" for i in range(spill.n_workers)])
        out["pairs_total"] = figures["pairs_total"]
    spill.close()
    out["compute_s"] = time.perf_counter() - began
    out["baseline_rss_mib"] = baseline
    out["peak_rss_mib"] = _peak_mib()
    print(json.dumps(out))


def _synthetic(answers: int, job: str) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, "-m", "benchmarks.batch_memory", "--synthetic", str(answers), job],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=7200,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"synthetic worker failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch_memory", description=__doc__)
    parser.add_argument("--database-url", help="PostgreSQL server to use (any database on it)")
    parser.add_argument("--synthetic", nargs=2, metavar=("ANSWERS", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.synthetic:
        synthetic_main(int(args.synthetic[0]), args.synthetic[1])
        return 0
    runs: dict[str, Any] = {}
    print("== 10^6 answers (medium)", flush=True)
    with generated_database(args.database_url, "whs_bench_batch_memory", SCALES["medium"]) as url:
        runs["medium"] = _measure(url)
        where = machine(url)
    print("== 10^7 answers (full)", flush=True)
    runs["full"] = _measure(_full(args.database_url))
    runs["synthetic"] = {}
    for answers in (10**7, BIG):
        print(f"== {answers:,} answers made in process (the arithmetic only)", flush=True)
        runs["synthetic"][str(answers)] = {}
        for job in JOBS:
            got = _synthetic(answers, job)
            runs["synthetic"][str(answers)][job] = got
            print(f"   {job}: {json.dumps(got)}", flush=True)
    stored = {"machine": where, "ran_at": time.strftime("%Y-%m-%d %H:%M UTC"), "runs": runs}
    (RESULTS_DIR / "batch_memory.json").write_text(json.dumps(stored, indent=2))
    report.put_section(ROOT / "BENCHMARKS.md", "batch_memory", render(stored))
    return 0


def render(stored: dict[str, Any]) -> str:
    runs = stored["runs"]
    synthetic = runs.get("synthetic", {})
    rows = []
    for job in JOBS:
        small, large = runs["medium"][job], runs["full"][job]
        for r in (small, large):
            rows.append(
                [
                    job,
                    f"{r['labels']:,}",
                    "database, measured",
                    f"{r['wall_s']:.1f}",
                    f"{r['peak_rss_mib']:.0f}",
                    f"{r['peak_rss_mib'] - r['baseline_rss_mib']:.0f}",
                ]
            )
        added = [r["peak_rss_mib"] - r["baseline_rss_mib"] for r in (small, large)]
        n = (small["labels"], large["labels"])
        rows.append(
            [
                job,
                f"{BIG:,}",
                "database, extrapolated",
                f"{_line(small['wall_s'], large['wall_s'], *n, BIG):.0f}",
                "",
                f"{_line(*added, *n, BIG):.0f} (a line: overstates)",
            ]
        )
        for answers, jobs in synthetic.items():
            r = jobs[job]
            rows.append(
                [
                    job,
                    f"{int(answers):,}",
                    "made in process, measured",
                    f"{r['compute_s']:.1f}",
                    f"{r['peak_rss_mib']:.0f}",
                    f"{r['peak_rss_mib'] - r['baseline_rss_mib']:.0f}",
                ]
            )
    ds = runs["full"]["dawid_skene"]
    lines = [
        "## Batch work in bounded memory: Dawid–Skene and agreement at 10^6, 10^7 and 10^8",
        "",
        f"Run {stored['ran_at']} on {stored['machine']['cores']} cores "
        f"({stored['machine']['cpu']}, {stored['machine']['ram']}), PostgreSQL on the same "
        "machine (`python -m benchmarks.batch_memory`). Each job in a fresh process; peak memory "
        "is the process's VmHWM, the last column what the work added to the interpreter with "
        "its imports.",
        "",
        report.table(["job", "answers", "data", "wall s", "peak RSS MiB", "added MiB"], rows),
        "",
        "- database: the generated data sets (`medium`, 10^6 answers, and `full`, 10^7); wall "
        "time from connecting to the end, Dawid–Skene stored and committed as `whstudio "
        "consensus recompute` does it, the agreement figures (alpha, kappa, the pairwise matrix "
        "of 10,000 annotators: 50 million pairs) as `/api/quality/agreement` computes them.",
        "- made in process: the answers made by NumPy straight into the temporary file the "
        "database's load fills (10 answers a task from 10,000 annotators of known accuracy), "
        "then the same arithmetic: its time (making the file not counted) and the peak memory "
        "of the whole process. This is how 10^8 is measured here: its database would take about "
        "60 GB (the 10^7 one takes 6 GB) beside this machine's 80 GB free, short of what its "
        "index builds and WAL need, and about an hour to generate.",
        "- How: the answers are read once through a server-side cursor, one `int8[]` of 2^16 "
        "tasks' answers at a time, into a temporary file of packed int8 (8 bytes an answer: "
        "800 MB at 10^8); every pass then reads the file back in chunks of whole tasks (at most "
        "2^20 answers). Dawid–Skene takes one pass per EM iteration plus one to write its "
        f"results into the COPY ({ds['iterations']} iterations on the 10^7 data set); the "
        "agreement figures one pass for alpha and kappa, one per block of annotators of the "
        "pairwise matrix (as many rows as 2^22 cells allow) and one for the kept pairs' "
        "agreement.",
        "- The 10^8 database line: time is linear in the answers (each pass reads each answer "
        "once), so the line through the two measured points; with the database, about the "
        "load's and the store's share more than the arithmetic measured in process. Memory is "
        "a chunk, the pairwise block and the annotators' matrices whatever the answers, as the "
        "in-process 10^8 row shows: the line through two points overstates it.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
