"""A crowd of simulated annotators of known accuracy, answering pairwise tasks of known truth
through the same calls the API's `next` and `submit` handlers make, and an evaluation of what
the platform makes of them: reputation against true accuracy, flags, and the accuracy of each
aggregation method.

Used by the tests (the evidence the quality issue asks for) and by `benchmarks/quality.py`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
from psycopg.rows import dict_row
from scipy import stats as scipy_stats

from whstudio.db import queries as q
from whstudio.db.retry import in_transaction, retrying
from whstudio.domain import agreement, batch, distribution, quality, responses, users
from whstudio.domain import tasks as tasks_domain
from whstudio.schemas import TaskResponse

DATASET = "simulation"


@dataclass
class Annotator:
    name: str
    kind: str  # honest | random | adversarial | left
    accuracy: float  # the true probability of picking the better answer
    user_id: UUID | None = None

    def choose(self, truth: str, order: str, rng: random.Random) -> str:
        """Return the canonical choice this annotator makes, given the truth and what they see."""
        other = "B" if truth == "A" else "A"
        if self.kind == "honest":
            return truth if rng.random() < self.accuracy else other
        if self.kind == "random":
            return rng.choice(("A", "B"))
        if self.kind == "adversarial":
            return other
        return responses.to_canonical("A", order)  # always the answer shown on the left


def default_crowd() -> list[Annotator]:
    """20 honest annotators between 55% and 95%, 3 random, 2 adversarial, 1 left-biased."""
    crowd = [
        Annotator(f"sim-honest-{i:02d}", "honest", round(0.55 + 0.40 * i / 19, 4))
        for i in range(20)
    ]
    crowd += [Annotator(f"sim-random-{i}", "random", 0.5) for i in range(3)]
    crowd += [Annotator(f"sim-adversarial-{i}", "adversarial", 0.0) for i in range(2)]
    crowd.append(Annotator("sim-left", "left", 0.5))
    return crowd


@dataclass
class Simulation:
    crowd: list[Annotator]
    truth: dict[UUID, str]  # task id -> canonical better answer
    gold_tasks: set[UUID]
    threshold: int = 3
    answers: int = 0
    gold_answers: int = 0
    seconds: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)


async def setup(
    conn: psycopg.AsyncConnection,
    *,
    tasks: int,
    gold_share: float,
    threshold: int,
    gold_rate: float,
    seed: int,
    crowd: list[Annotator] | None = None,
) -> Simulation:
    """Create the annotators and the tasks (a share of them gold checks) in one transaction."""
    rng = random.Random(seed)
    crowd = crowd or default_crowd()
    truth: dict[UUID, str] = {}
    gold: set[UUID] = set()
    async with conn.transaction():
        for person in crowd:
            row = await users.create_user(conn, person.name, None, "annotator")
            person.user_id = row["id"]
        items = []
        answers = []
        for i in range(tasks):
            better = rng.choice(("A", "B"))
            is_gold = i < round(tasks * gold_share)
            good, bad = f"a careful answer to question {i}", f"a careless answer to question {i}"
            items.append(
                {
                    "question_type": "pairwise_ab",
                    "content": {
                        "prompt": f"Simulated question {i} (seed {seed})",
                        "optionA": good if better == "A" else bad,
                        "optionB": good if better == "B" else bad,
                    },
                    "gold_standard": better if is_gold else None,
                    "source_dataset": DATASET,
                    "source_ref": f"sim-{seed}-{i}",
                    "consensus_threshold": threshold,
                }
            )
            answers.append((better, is_gold))
        created = await tasks_domain.create_many(conn, items, creator_id=None)
        for item, (better, is_gold) in zip(created, answers, strict=True):
            truth[item["task_id"]] = better
            if is_gold:
                gold.add(item["task_id"])
        await distribution.set_gold_rate(conn, DATASET, gold_rate)
    return Simulation(crowd, truth, gold, threshold)


async def run(
    url: str,
    sim: Simulation,
    *,
    seed: int,
    workers: int = 4,
    lease_seconds: int = 120,
    on_answer: Callable[[], None] | None = None,
) -> None:
    """Let every annotator take `next` and answer until every ordinary task has the answers it
    asks for (gold checks are served at the dataset's rate meanwhile, not drained after)."""
    rng = random.Random(seed + 1)
    pending: asyncio.Queue[Annotator] = asyncio.Queue()
    order = list(sim.crowd)
    rng.shuffle(order)
    for person in order:
        pending.put_nowait(person)
    started = time.perf_counter()
    needed = (len(sim.truth) - len(sim.gold_tasks)) * sim.threshold

    async def worker(index: int) -> None:
        local = random.Random(seed * 1000 + index)
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, row_factory=dict_row
        ) as conn:
            while True:
                if sim.answers - sim.gold_answers >= needed:
                    return
                try:
                    person = pending.get_nowait()
                except asyncio.QueueEmpty:
                    return
                lease = await distribution.next_task(
                    conn,
                    person.user_id,
                    lease_seconds=lease_seconds,
                    gold_rate=0.0,
                    dataset=DATASET,
                    rng=local,
                )
                if lease is None:
                    continue  # this annotator is done
                order = responses.shown_order(lease.task_id, person.user_id)
                choice = person.choose(sim.truth[lease.task_id], order, local)
                answer = TaskResponse(
                    chosen_response=responses.to_shown(choice, order),
                    confidence=local.randint(2, 5),
                    time_spent_seconds=max(3, int(local.lognormvariate(3.3, 0.4))),
                )
                step = retrying if responses.single_statement(answer) else in_transaction
                await step(
                    conn,
                    lambda c, lease=lease, person=person, answer=answer: responses.submit(
                        c, task_id=lease.task_id, user_id=person.user_id, answer=answer
                    ),
                )
                sim.answers += 1
                sim.gold_answers += lease.task_id in sim.gold_tasks
                if on_answer:
                    on_answer()
                pending.put_nowait(person)

    await asyncio.gather(*(worker(i) for i in range(workers)))
    sim.seconds = time.perf_counter() - started


def winner_accuracy(winners: np.ndarray, task_ids: np.ndarray, sim: Simulation) -> float:
    """Share of the non-gold tasks whose winner is the truth (no winner counts as wrong)."""
    index = {"A": 0, "B": 1}
    hits = total = 0
    for task, winner in zip(task_ids, winners, strict=True):
        task_id = UUID(bytes=bytes(task))
        if task_id in sim.gold_tasks or task_id not in sim.truth:
            continue
        total += 1
        hits += int(winner == index[sim.truth[task_id]])
    return hits / total if total else 0.0


async def evaluate(conn: psycopg.AsyncConnection, sim: Simulation) -> dict[str, Any]:
    """Refresh quality (Dawid–Skene skill, reputations, weights), then measure it all."""
    timings: dict[str, float] = {}
    began = time.perf_counter()
    async with conn.transaction():
        await quality.refresh(conn, dawid_skene=True)
    timings["quality refresh (incl. Dawid–Skene)"] = time.perf_counter() - began
    drift = await quality.stats_drift(conn)

    async with conn.transaction():
        run = await batch.recompute(conn, batch.METHODS, store=False)
    loaded = await batch.load_labels(conn)
    for method in batch.METHODS:
        timings[f"batch {method}"] = run.seconds[method]
    accuracy = {m: winner_accuracy(run.winners[m], loaded.task_ids, sim) for m in batch.METHODS}
    rows = await q.fetch_all(conn, "simulation.realtime_choices")
    realtime = {row["task_id"]: row["choice"] for row in rows}
    scored = [t for t in sim.truth if t not in sim.gold_tasks]
    accuracy["realtime"] = sum(realtime.get(t) == sim.truth[t] for t in scored) / len(scored)

    people = []
    for person in sim.crowd:
        rep = await quality.reputation(conn, person.user_id, history=0, staff=True)
        people.append(
            {
                "name": person.name,
                "kind": person.kind,
                "true_accuracy": person.accuracy,
                "score": rep["score"],
                "weight": rep["weight"],
                "gold": rep["gold"],
                "agreement": rep["agreement"],
                "dawid_skene_accuracy": (rep["dawid_skene"] or {}).get("accuracy"),
                "answers": rep["answers"],
                "flags": rep["flags"],
            }
        )
    rho = scipy_stats.spearmanr(
        [p["true_accuracy"] for p in people], [p["score"] for p in people]
    ).statistic
    began = time.perf_counter()
    metrics = await agreement.compute(conn, dataset=DATASET)
    timings["agreement metrics"] = time.perf_counter() - began
    sim.report = {
        "annotators": len(sim.crowd),
        "tasks": len(sim.truth),
        "gold_tasks": len(sim.gold_tasks),
        "answers": sim.answers,
        "answering_seconds": sim.seconds,
        "spearman": float(rho),
        "accuracy": accuracy,
        "people": people,
        "agreement": {k: v for k, v in metrics.items() if k != "pairwise"},
        "pairwise_pairs": metrics["pairs_total"],
        "timings": timings,
        "counters_out_of_step": len(drift),
    }
    return sim.report
