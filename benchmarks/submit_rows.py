"""What the rules cost beside the rows they write: PostgreSQL's CPU per answer when groups of
answers are stored one by one, by the API's database function, and as the same rows written
set-based with no rules.

    .venv/bin/python -m benchmarks.submit_rows [--seconds 15] [--clients 2] [--scale medium]

Issue 17 names one way to halve the cost of an answer: the per-answer triggers made set-based,
so that a group of answers costs one pass. This measures what that gives and what it could give
at most. Each client stores groups of G answers (G = 1, 8, 32), every answer to an open task by
an annotator of that client's own, three ways, alternating:

- *one by one*: `submit_answers_v1` (what the API's group commit calls) with the set-based path
  off (`whstudio.group_fast`), each answer validated, stored and followed by its triggers
  (consensus, quality row, counters, reputation, webhook, lease) one row at a time;
- *the API's function*: the same call as the API makes it, which stores the answers whose
  effects are each their own set-based (`submit_group_fast_v1`, revision 0023);
- *the rows alone, set-based*: one statement per group that writes the same rows an answer
  to an unsettled task writes (the answer; its quality row; its task's consensus row, counts
  moved and verdict derived by `consensus_derive`; its annotator's counters and, where it
  moved, reputation; the lease released), each table once for the whole group, with the
  per-answer triggers standing aside (`whstudio.bulk_answers`, as the answers import does) and
  none of the checks or rules: no validation, no revision, no gold, no "fast" outlier, no
  settling, no dashboard counters, no idempotency key, no webhook, no events, no results.

The third is a floor for any set-based form of the rules, not a form of them: everything it
leaves out, the rules must still do. Its ratio to the first is the most a set-based rewrite
could save; the rows alone cost what no rewrite of the rules removes (the heap and index
entries, the foreign keys' checks, the commit). The data: the generated data set at `--scale`
(medium: 10^5 tasks, 10^6 answers) in a database `whs_bench_rows`, made afresh and dropped
after. The server's CPU is read from /proc (the server must run on this machine). The section
"submit_rows" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from pathlib import Path

import psycopg

from benchmarks import cpu
from benchmarks.common import ROOT, SCALES, generated_database, machine
from benchmarks.report import put_section, table

DB_NAME = "whs_bench_rows"
SIZES = (1, 8, 32)
WAYS = ("rules", "grouped", "rows")

RULES = """
SELECT submit_answers_v1(%(tasks)s::uuid[], %(users)s::uuid[], %(chosen)s::text[],
                         %(nulls)s::jsonb[], %(nulls)s::text[], %(nulls)s::text[],
                         %(confidences)s::integer[], %(nulls)s::text[], %(times)s::integer[],
                         %(orders)s::text[], %(nulls)s::text[]) AS results
"""

# The rows an answer to an unsettled pairwise task writes, each table once for the group.
ROWS = """
WITH given AS (
    SELECT a.task_id, a.user_id, a.chosen, a.k
      FROM unnest(%(tasks)s::uuid[], %(users)s::uuid[], %(chosen)s::text[])
           WITH ORDINALITY AS a (task_id, user_id, chosen, k)
     WHERE NOT EXISTS (SELECT 1 FROM submissions s
                        WHERE s.task_id = a.task_id AND s.user_id = a.user_id)
), new AS (
    INSERT INTO submissions (task_id, user_id, question_id, response_version, chosen_response,
                             confidence, time_spent_seconds, shown_order, vote_weight,
                             submitter_nullifier, is_latest, in_consensus)
    SELECT g.task_id, g.user_id, t.question_id, 1, g.chosen, 3, 20, 'AB',
           least(u.reputation_weight, 100)::numeric(9, 6), u.nullifier_hash, true, true
      FROM given g
      JOIN tasks t ON t.id = g.task_id
      JOIN users u ON u.id = g.user_id
     ORDER BY g.k
    RETURNING id, task_id, user_id, chosen_response, confidence, time_spent_seconds,
              vote_weight, shown_order
), quality AS (
    INSERT INTO response_quality_metrics (
        submission_id, task_id, user_id, question_type, choice, picked_left,
        time_spent_seconds, is_outlier, outlier_reasons, flagged_for_review, counted)
    SELECT n.id, n.task_id, n.user_id, 'pairwise_ab', n.chosen_response,
           (n.chosen_response = 'A') = (n.shown_order = 'AB'), n.time_spent_seconds, false,
           '{}', false, true
      FROM new n
), votes AS (
    SELECT n.task_id,
           count(*) AS total,
           count(*) FILTER (WHERE n.chosen_response = 'A') AS a,
           count(*) FILTER (WHERE n.chosen_response = 'B') AS b,
           coalesce(sum(n.vote_weight) FILTER (WHERE n.chosen_response = 'A'), 0) AS wa,
           coalesce(sum(n.vote_weight) FILTER (WHERE n.chosen_response = 'B'), 0) AS wb,
           coalesce(sum(n.confidence) FILTER (WHERE n.chosen_response = 'A'), 0) AS ca,
           coalesce(sum(n.confidence) FILTER (WHERE n.chosen_response = 'B'), 0) AS cb,
           coalesce(sum(n.confidence), 0) AS c, count(n.confidence) AS cn,
           coalesce(sum(n.time_spent_seconds), 0) AS ts, count(n.time_spent_seconds) AS tn
      FROM new n
     GROUP BY n.task_id
), consensus AS (
    UPDATE response_consensus c
       SET count_a = d.count_a, count_b = d.count_b, total_responses = d.total_responses,
           weight_a = d.weight_a, weight_b = d.weight_b,
           confidence_sum = d.confidence_sum, confidence_count = d.confidence_count,
           confidence_sum_a = d.confidence_sum_a, confidence_sum_b = d.confidence_sum_b,
           time_spent_sum = d.time_spent_sum, time_spent_count = d.time_spent_count,
           agreement_percentage = d.agreement_percentage,
           weighted_agreement_percentage = d.weighted_agreement_percentage,
           final_answer = d.final_answer, consensus_reached = d.consensus_reached,
           remaining = d.remaining, version = nextval('consensus_event_seq'),
           updated_at = CURRENT_TIMESTAMP
      FROM votes v
      JOIN response_consensus rc ON rc.task_id = v.task_id
      JOIN tasks t ON t.id = v.task_id
      JOIN questions q ON q.id = t.question_id
     CROSS JOIN LATERAL consensus_derive(
               jsonb_populate_record(rc, jsonb_build_object(
                   'count_a', rc.count_a + v.a, 'count_b', rc.count_b + v.b,
                   'total_responses', rc.total_responses + v.total,
                   'weight_a', rc.weight_a + v.wa, 'weight_b', rc.weight_b + v.wb,
                   'confidence_sum', rc.confidence_sum + v.c,
                   'confidence_count', rc.confidence_count + v.cn,
                   'confidence_sum_a', rc.confidence_sum_a + v.ca,
                   'confidence_sum_b', rc.confidence_sum_b + v.cb,
                   'time_spent_sum', rc.time_spent_sum + v.ts,
                   'time_spent_count', rc.time_spent_count + v.tn)),
               t.consensus_threshold, t.min_agreement_percentage, q.question_type,
               jsonb_array_length(q.content -> 'options')) AS d
     WHERE c.task_id = v.task_id
), counted AS (
    SELECT n.user_id, count(*) AS answers,
           count(*) FILTER (WHERE (n.chosen_response = 'A') = (n.shown_order = 'AB')) AS left_,
           count(*) FILTER (WHERE n.chosen_response = 'A') AS a,
           count(*) FILTER (WHERE n.chosen_response = 'B') AS b,
           count(n.time_spent_seconds) AS timed,
           coalesce(sum(n.time_spent_seconds), 0) AS time_sum
      FROM new n
     GROUP BY n.user_id
), stats AS (
    UPDATE annotator_stats s
       SET answers = s.answers + x.answers, sided = s.sided + x.answers,
           picked_left = s.picked_left + x.left_, picked_a = s.picked_a + x.a,
           picked_b = s.picked_b + x.b, timed = s.timed + x.timed,
           time_sum = s.time_sum + x.time_sum, updated_at = CURRENT_TIMESTAMP
      FROM counted x
     WHERE s.user_id = x.user_id
    RETURNING s.*
), reputation AS (
    UPDATE users u
       SET reputation_score = r.score, reputation_weight = round(r.weight::numeric, 6)
      FROM stats s
     CROSS JOIN LATERAL reputation_of(jsonb_populate_record(NULL::annotator_stats, to_jsonb(s))) r
     WHERE u.id = s.user_id
       AND (u.reputation_score, u.reputation_weight)
           IS DISTINCT FROM (r.score, round(r.weight::numeric, 6))
), released AS (
    DELETE FROM task_leases l USING new n WHERE l.task_id = n.task_id AND l.user_id = n.user_id
)
SELECT count(*) AS stored FROM new
"""


def _prepare(url: str) -> tuple[list[str], list[str]]:
    """Open pairwise tasks far from their threshold (no gold, no expiry) and the annotators."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT c.task_id, c.remaining FROM response_consensus c"
            " JOIN tasks t ON t.id = c.task_id"
            " WHERE c.task_active AND NOT c.has_gold AND t.expires_at IS NULL"
            " AND c.question_type = 'pairwise_ab' ORDER BY c.remaining DESC, c.task_id"
        ).fetchall()
        # those an answer leaves unsettled; on a small data set at least the 64 furthest
        tasks = [str(t) for t, remaining in found if remaining > 1]
        if len(tasks) < 64:
            tasks = [str(t) for t, _ in found[:64]]
        users = [
            str(r[0])
            for r in conn.execute(
                "SELECT id FROM users WHERE role = 'annotator' AND is_active AND kind = 'person'"
                " ORDER BY id"
            )
        ]
    return tasks, users


def _stored(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM submissions").fetchone()[0]


def _client(url, way, size, tasks, users, seed, stop, counts) -> None:
    rng = random.Random(seed)
    statement = ROWS if way == "rows" else RULES
    with psycopg.connect(url, autocommit=True) as conn:
        if way == "rows":
            conn.execute("SET whstudio.bulk_answers = 'on'")
        elif way == "rules":  # every answer one by one, the set-based path off (revision 0023)
            conn.execute("SET whstudio.group_fast = 'off'")
        groups = errors = 0
        while not stop.is_set():
            # sorted by task, as the API sorts a group: groups lock their tasks in one order
            picked = sorted(zip(rng.sample(tasks, size), rng.sample(users, size), strict=True))
            params = {
                "tasks": [t for t, _ in picked],
                "users": [u for _, u in picked],
                "chosen": [rng.choice("AB") for _ in range(size)],
                "confidences": [3] * size,
                "times": [20] * size,
                "orders": ["AB"] * size,
                "nulls": [None] * size,
            }
            try:
                with conn.transaction():
                    conn.execute(statement, params)
                groups += 1
            except psycopg.Error:
                errors += 1  # two clients' groups locking rows in opposite orders: retried
        counts.append((groups, errors))


def measure_way(url: str, way: str, size: int, *, clients: int, seconds: float) -> dict:
    tasks, users = _prepare(url)
    meter = cpu.Meter(None, _postmaster(url))
    per = len(users) // clients  # each client its own annotators: no two answer as one
    if size > min(len(tasks), per):
        raise ValueError(
            f"groups of {size} need {size} open tasks and {size} annotators per client:"
            f" the data set has {len(tasks)} and {per}"
        )
    stop = threading.Event()
    counts: list[tuple[int, int]] = []
    before_rows, before_cpu = _stored(url), meter.read()
    started = time.perf_counter()
    threads = [
        threading.Thread(
            target=_client,
            args=(
                url,
                way,
                size,
                tasks,
                users[i * per : (i + 1) * per],
                1000 * size + i,
                stop,
                counts,
            ),
        )
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    after_cpu = meter.read()
    stored = _stored(url) - before_rows
    return {
        "way": way,
        "size": size,
        "stored": stored,
        "groups": sum(g for g, _ in counts),
        "errors": sum(e for _, e in counts),
        "seconds": elapsed,
        "per_second": stored / elapsed if elapsed else float("nan"),
        "db_us": cpu.per_operation(before_cpu, after_cpu, stored)["db"],
    }


def _postmaster(url: str) -> int | None:
    from benchmarks.submit_profile import _postmaster as find

    return find(url)


def measure(url: str, *, clients: int, seconds: float, sizes=SIZES, rounds: int = 2) -> dict:
    runs = []
    for size in sizes:
        for _ in range(rounds):  # alternating, so that the machine's drift falls on both
            for way in WAYS:
                runs.append(measure_way(url, way, size, clients=clients, seconds=seconds))
                print(
                    f"{way} G={size}: {runs[-1]['per_second']:.0f}/s, {runs[-1]['db_us']:.0f} µs",
                    flush=True,
                )
    return {"clients": clients, "seconds": seconds, "rounds": rounds, "runs": runs}


def _mean(runs: list[dict], way: str, size: int, key: str) -> float:
    values = [r[key] for r in runs if r["way"] == way and r["size"] == size]
    return sum(values) / len(values) if values else float("nan")


def render(result: dict, info: dict, scale: str) -> str:
    runs = result["runs"]
    sizes = sorted({r["size"] for r in runs})
    rows = []
    for size in sizes:
        rules = _mean(runs, "rules", size, "db_us")
        grouped = _mean(runs, "grouped", size, "db_us")
        alone = _mean(runs, "rows", size, "db_us")
        rows.append(
            [
                size,
                f"{_mean(runs, 'rules', size, 'per_second'):.0f}",
                f"{rules:.0f}",
                f"{_mean(runs, 'grouped', size, 'per_second'):.0f}",
                f"{grouped:.0f}",
                f"{_mean(runs, 'rows', size, 'per_second'):.0f}",
                f"{alone:.0f}",
                f"{grouped / rules:.0%}" if rules > 0 else "",
                f"{alone / rules:.0%}" if rules > 0 else "",
            ]
        )
    stored = sum(r["stored"] for r in runs)
    errors = sum(r["errors"] for r in runs)
    return "\n".join(
        [
            "## The rules beside the rows they write (issue 17)",
            "",
            f"`.venv/bin/python -m benchmarks.submit_rows` ({info['date']}; {info['cores']} "
            f"cores, {info['ram']}, {info['cpu']}; {info['postgresql'].split(',')[0]}), the "
            f"{scale} data set, {result['clients']} clients, {result['seconds']:.0f} s per "
            f"measurement, {result['rounds']} measurements of each way and group size, "
            "alternating; the mean of them:",
            "",
            table(
                [
                    "answers a group",
                    "one by one: answers/s",
                    "one by one: server CPU µs / answer",
                    "the API's function: answers/s",
                    "the API's function: server CPU µs / answer",
                    "the rows alone: answers/s",
                    "the rows alone: server CPU µs / answer",
                    "the API's function / one by one",
                    "rows alone / one by one",
                ],
                rows,
            ),
            "",
            "*One by one*: `submit_answers_v1`, what the API's group commit calls, with "
            "`whstudio.group_fast` off: every answer through `submit_answer_v1` and the "
            "triggers. *The API's function*: the same call as the API makes it, which stores "
            "the answers whose effects are each their own set-based (`submit_group_fast_v1`, "
            "revision 0023; here every answer is one). *The rows "
            "alone*: one statement per group writing, each table once, the rows an answer to an "
            "unsettled task writes (the answer, its quality row, its task's consensus row with "
            "its derived verdict, its annotator's counters and reputation, the lease released), "
            "with none of the checks and rules (benchmarks/submit_rows.py says what it leaves "
            "out). It is a floor for any set-based form of the rules: its ratio is the most such "
            "a rewrite could save at that group size. Every answer is to an open task by an "
            "annotator of the client's own; "
            f"answers stored in all: {stored:,}; groups refused and retried (two groups locking "
            f"rows in opposite orders): {errors}.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--scale", choices=sorted(SCALES), default="medium")
    parser.add_argument("--database-url")
    parser.add_argument("--db-name", default=DB_NAME, help="database made afresh for the run")
    parser.add_argument("--report", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    with generated_database(args.database_url, args.db_name, SCALES[args.scale]) as url:
        result = measure(
            url, clients=args.clients, seconds=args.seconds, sizes=args.sizes, rounds=args.rounds
        )
        put_section(args.report, "submit_rows", render(result, machine(url), args.scale))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
