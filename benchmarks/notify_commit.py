"""Why API submissions publish their consensus events after the commit, measured with pgbench.

    .venv/bin/python -m benchmarks.notify_commit [--seconds 15] [--clients 32]

pgbench calls the database's submit function directly, 32 clients answering random tasks as
random annotators, three ways in the same run: `submit_answer_v1` (its consensus trigger calls
pg_notify inside the transaction), `submit_answer_v2` (the events come back to the caller, which
publishes them after the commit), and v2 each followed by its own publication (pg_notify in a
transaction of its own with synchronous_commit off; the app sends the events of all answers
committed meanwhile in one such transaction, so this per-answer publication is its worst
case). While each runs, the backends' wait events are sampled: a transaction that notified holds
a database-wide lock from just before its commit until the commit is flushed, so the others
queue on `Lock:object`. The data: the small generated set (2,000 tasks), in a database
`whs_bench_notify` made afresh. The section "notify" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg

from benchmarks.common import (
    ROOT,
    SCALES,
    generated_database,
    machine,
    pgbench,
)
from benchmarks.report import put_section, table

DB_NAME = "whs_bench_notify"
CALL = (
    "SELECT {fn}((SELECT task_id FROM bench_t WHERE n = :t),"
    " (SELECT user_id FROM bench_u WHERE n = :u), 'A', NULL, NULL, NULL, 3, NULL, 20, 'AB', NULL)"
)
# What the app's publisher does after the commit, one answer at a time here.
PUBLISH = (
    "BEGIN;\n"
    "SELECT set_config('synchronous_commit', 'off', true),"
    " pg_notify('whstudio_consensus', '{\"task\": ' || (:t)::text || '}');\n"
    "END;\n"
)
WAYS = {
    "v1: pg_notify inside the transaction": CALL.format(fn="submit_answer_v1") + ";\n",
    "v2: events returned, none published": CALL.format(fn="submit_answer_v2") + ";\n",
    "v2, then one publication per answer": CALL.format(fn="submit_answer_v2") + ";\n" + PUBLISH,
}


def pick(tasks: int, users: int, clients: int) -> str:
    """pgbench lines setting :t (a random task) and :u (a random annotator of this client's
    own): no two clients answer as the same annotator, so two answers by one annotator to one
    task never race (the app retries that unique violation; pgbench would abort the run)."""
    if users < clients:
        raise ValueError(f"{users} annotators cannot give {clients} clients one each")
    per = users // clients
    return (
        f"\\set t random(1, {tasks})\n\\set u 1 + :client_id + {clients} * random(0, {per - 1})\n"
    )


def prepare(url: str) -> tuple[int, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_t AS SELECT row_number() OVER (ORDER BY c.task_id) AS n, c.task_id"
            " FROM response_consensus c JOIN tasks t ON t.id = c.task_id"
            " WHERE c.task_active AND NOT c.has_gold AND t.expires_at IS NULL"
        )
        conn.execute(
            "CREATE TABLE bench_u AS SELECT row_number() OVER (ORDER BY id) AS n, id AS user_id"
            " FROM users WHERE role = 'annotator' AND is_active"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_t (n)")
        conn.execute("CREATE UNIQUE INDEX ON bench_u (n)")
        conn.execute("ANALYZE bench_t, bench_u")
        tasks = conn.execute("SELECT count(*) FROM bench_t").fetchone()[0]
        users = conn.execute("SELECT count(*) FROM bench_u").fetchone()[0]
    return tasks, users


def _sample_waits(url: str, stop: threading.Event, seen: Counter) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            for event, n in conn.execute(
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'running'), count(*)"
                " FROM pg_stat_activity WHERE application_name = 'pgbench' AND state = 'active'"
                " GROUP BY 1"
            ):
                seen[event] += n
            time.sleep(0.1)


def _pgbench(url: str, script: str, clients: int, seconds: int, folder: Path) -> dict:
    """pgbench, with the backends' wait events sampled while it runs."""
    seen: Counter = Counter()
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_waits, args=(url, stop, seen), daemon=True)
    sampler.start()
    try:
        done = pgbench(url, script, clients=clients, seconds=seconds, folder=folder)
    finally:
        stop.set()
        sampler.join(5)
    total = sum(seen.values()) or 1
    return {**done, "waits": {k: v / total for k, v in seen.most_common()}}


def render(results: dict, info: dict, *, clients: int, seconds: int, tasks: int) -> str:
    rows = []
    for way, r in results.items():
        top = ", ".join(f"{k} {v:.0%}" for k, v in list(r["waits"].items())[:3])
        rows.append([way, f"{r['tps']:.0f}", f"{r['latency_ms']:.1f}", top])
    base = results[next(iter(results))]["tps"]
    best = max(r["tps"] for r in results.values())
    return "\n".join(
        [
            "## Submissions and NOTIFY: events published after the commit",
            "",
            f"`.venv/bin/python -m benchmarks.notify_commit` ({info['date']}; {info['cores']} "
            f"cores, {info['ram']}, {info['cpu']}; {info['postgresql'].split(',')[0]}).",
            "",
            f"pgbench, {clients} clients for {seconds} s each, calling the submit function "
            f"directly on the generated data set ({tasks:,} open tasks, random annotators); the "
            "active backends' wait events sampled every 0.1 s:",
            "",
            table(["submit function", "answers/s", "latency ms", "most sampled states"], rows),
            "",
            f"Deferring the notification: {best / base:.1f}× the answers per second. A "
            "transaction that called pg_notify keeps a database-wide lock (`Lock:object` on "
            "pg_database) from just before its commit until the commit record is flushed, so "
            "notifying transactions commit one at a time; the app's own publication is a "
            "transaction that writes no data, with synchronous_commit off, so it holds that "
            "lock only briefly, but one per answer still queue on it (third row); the app's "
            "publisher therefore sends the events of all the answers committed meanwhile in one "
            "such transaction (`web/events.py`), a few per second under load rather than one "
            "per answer.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--database-url")
    parser.add_argument("--db-name", default=DB_NAME, help="database made afresh for the run")
    parser.add_argument("--report", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    with generated_database(args.database_url, args.db_name, SCALES[args.scale]) as url:
        tasks, users = prepare(url)
        results = {}
        with tempfile.TemporaryDirectory() as folder:
            for way, script in WAYS.items():
                script = pick(tasks, users, args.clients) + script
                results[way] = _pgbench(url, script, args.clients, args.seconds, Path(folder))
                print(way, results[way], flush=True)
        info = machine(url)
        put_section(
            args.report,
            "notify",
            render(results, info, clients=args.clients, seconds=args.seconds, tasks=tasks),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
