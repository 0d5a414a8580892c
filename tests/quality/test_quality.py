"""Quality rows, annotator counters, reputation and its explanations, flags, refresh, review."""

from __future__ import annotations

import random
from uuid import UUID, uuid4

import numpy as np
import pytest

from whstudio.domain import agreement, quality, responses, review
from whstudio.domain import tasks as tasks_domain
from whstudio.domain import users as users_domain
from whstudio.errors import Conflict, InvalidInput
from whstudio.schemas import TaskResponse


async def _users(conn, n: int, prefix: str = "q") -> list[UUID]:
    return [(await users_domain.create_user(conn, f"{prefix}{i}", None))["id"] for i in range(n)]


async def _pairwise(
    conn, n: int, *, threshold: int = 3, gold=None, tag: str = "t", dataset: str = "qa"
) -> list[UUID]:
    items = [
        {
            "question_type": "pairwise_ab",
            "content": {"prompt": f"{tag} {i}", "optionA": "left one", "optionB": "right one"},
            "gold_standard": gold,
            "source_dataset": dataset,
            "consensus_threshold": threshold,
        }
        for i in range(n)
    ]
    return [row["task_id"] for row in await tasks_domain.create_many(conn, items, creator_id=None)]


async def _answer(conn, task_id: UUID, user_id: UUID, canonical: str, seconds: int = 30):
    order = responses.shown_order(task_id, user_id)
    answer = TaskResponse(
        chosen_response=responses.to_shown(canonical, order) if canonical != "tie" else "tie",
        confidence=4,
        time_spent_seconds=seconds,
    )
    return await responses.submit(conn, task_id=task_id, user_id=user_id, answer=answer)


async def _row(conn, sql: str, params=()):
    cur = await conn.execute(sql, params)
    return await cur.fetchone()


def test_gold_estimate_does_not_let_two_of_two_outrank_ninety_five_of_a_hundred():
    few = quality.beta_estimate(2, 2)
    many = quality.beta_estimate(95, 100)
    assert many.estimate > few.estimate
    assert many.low > few.low
    assert few.low < 0.35 and few.high > 0.98
    assert 0.88 < many.low < many.estimate < many.high < 0.99
    none = quality.beta_estimate(0, 0)
    assert none.estimate == pytest.approx(0.5) and none.low < 0.03 and none.high > 0.97


async def test_gold_check_is_judged_on_the_first_answer_and_explained(conn):
    (user,) = await _users(conn, 1, "gold")
    (task,) = await _pairwise(conn, 1, gold="A")
    await _answer(conn, task, user, "B")
    metrics = await _row(
        conn,
        "SELECT gold_correct, gold_source FROM response_quality_metrics WHERE task_id = %s",
        [task],
    )
    assert metrics == {"gold_correct": False, "gold_source": "gold"}
    rep = await quality.reputation(conn, user, staff=True)
    assert rep["gold"]["successes"] == 0 and rep["gold"]["trials"] == 1
    assert rep["history"][0]["reason"] == "failed a gold check"
    assert rep["history"][0]["delta"] < 0
    # Revising to the right answer does not turn the failed check into a pass.
    await _answer(conn, task, user, "A")
    rep = await quality.reputation(conn, user, staff=True)
    assert rep["gold"]["successes"] == 0 and rep["gold"]["trials"] == 1
    # An annotator reading their own history is not told which task was the gold check.
    own = await quality.reputation(conn, user, staff=False)
    assert all(e["task_id"] is None for e in own["history"] if e["kind"] == "gold")
    assert await quality.stats_drift(conn) == []


async def test_agreement_is_judged_leave_one_out_once_the_task_has_its_answers(conn):
    people = await _users(conn, 5, "loo")
    (task,) = await _pairwise(conn, 1, threshold=4)
    for person, choice in zip(people[:3], "AAA", strict=True):
        await _answer(conn, task, person, choice)
    row = await _row(
        conn,
        "SELECT count(agreed) AS judged FROM response_quality_metrics WHERE task_id = %s",
        [task],
    )
    assert row["judged"] == 0  # not before the task has the 4 answers it asks for
    await _answer(conn, task, people[3], "B")
    cur = await conn.execute(
        "SELECT user_id, agreed, others_agreeing, others_total, agreement_with_consensus"
        " FROM response_quality_metrics WHERE task_id = %s",
        [task],
    )
    judged = {r["user_id"]: r for r in await cur.fetchall()}
    for person in people[:3]:
        assert judged[person]["agreed"] is True
        assert judged[person]["others_agreeing"] == 2 and judged[person]["others_total"] == 3
    assert judged[people[3]]["agreed"] is False
    assert judged[people[3]]["agreement_with_consensus"] == 0
    rep = await quality.reputation(conn, people[3], staff=True)
    assert rep["history"][0]["reason"] == "disagreed with a 3–0 consensus"
    assert rep["history"][0]["delta"] < 0
    rep = await quality.reputation(conn, people[0], staff=True)
    assert rep["history"][0]["reason"] == "agreed with a 2–1 consensus"
    # A later answer is judged on arrival, against everyone before it.
    await _answer(conn, task, people[4], "A")
    late = await _row(
        conn,
        "SELECT agreed, others_agreeing, others_total FROM response_quality_metrics"
        " WHERE task_id = %s AND user_id = %s",
        [task, people[4]],
    )
    assert late == {"agreed": True, "others_agreeing": 3, "others_total": 4}
    # The live leave-one-out agreement follows later answers without rewriting earlier rows.
    live = await _row(
        conn,
        "SELECT agreement_now, others_now FROM response_quality_current"
        " WHERE task_id = %s AND user_id = %s",
        [task, people[3]],
    )
    assert live == {"agreement_now": 0, "others_now": 4}
    assert await quality.stats_drift(conn) == []


async def test_counters_equal_the_sums_over_rows_through_revisions_and_refresh(conn):
    rng = random.Random(5)
    people = await _users(conn, 6, "drift")
    tasks = await _pairwise(conn, 8, threshold=3, tag="drift")
    gold_tasks = await _pairwise(conn, 2, threshold=3, gold="B", tag="drift-gold")
    for _ in range(70):
        await _answer(
            conn,
            rng.choice(tasks + gold_tasks),
            rng.choice(people),
            rng.choice(["A", "B"]),
            seconds=rng.randint(1, 90),
        )
    assert await quality.stats_drift(conn) == []
    done = await quality.refresh(conn, dawid_skene=True)
    await quality.reweight(conn)
    assert done.drift_before == 0
    assert await quality.stats_drift(conn) == []
    # After a refresh every verdict is the pure function of the answer and its task now.
    cur = await conn.execute(
        """SELECT m.agreed, v.agreed AS expected
             FROM response_quality_metrics m
             JOIN response_consensus c ON c.task_id = m.task_id
             CROSS JOIN LATERAL loo_verdict(m.choice, c.count_a, c.count_b, c.count_tie) v
            WHERE m.counted AND m.gold_correct IS NULL AND c.remaining = 0"""
    )
    rows = await cur.fetchall()
    assert rows and all(r["agreed"] is r["expected"] for r in rows)
    # A second refresh finds nothing to change.
    again = await quality.refresh(conn, dawid_skene=False)
    assert again.rejudged == 0
    skill = await _row(conn, "SELECT count(*) AS n FROM annotator_skill")
    assert skill["n"] == 6
    # Reweighting gave every latest answer its annotator's weight; consensus followed.
    stale = await _row(
        conn,
        "SELECT count(*) AS n FROM submissions s JOIN users u ON u.id = s.user_id"
        " WHERE s.is_latest AND s.vote_weight <> round(u.reputation_weight::numeric, 6)",
    )
    assert stale["n"] == 0
    from whstudio.domain import consensus

    assert await consensus.drifted(conn) == []


async def test_an_answer_writes_its_annotators_figures_once_and_they_stay_derived(conn):
    """Revision 0021: the counters' update is the only write of an answer that changes no
    verdict; the accuracy, its interval and the flags stay the function of the counters, and
    every reputation event's delta chains from the score before it."""

    async def updates() -> int:
        # this transaction's updates of annotator_stats so far (the test runs in one)
        row = await _row(
            conn,
            "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'annotator_stats'",
        )
        return row["n_tup_upd"]

    async def stats_updates(task: UUID, user: UUID, canonical: str) -> int:
        before = await updates()
        await _answer(conn, task, user, canonical)
        return await updates() - before

    rng = random.Random(21)
    people = await _users(conn, 5, "once")
    tasks = await _pairwise(conn, 12, threshold=4, tag="once")
    gold_tasks = await _pairwise(conn, 3, threshold=4, gold="A", tag="once-gold")
    for person in people:  # each annotator's row exists, with its first figures
        await _answer(conn, tasks[0], person, "A")
    # An answer to a task far from settling, with no gold: one update of the counters, not two.
    assert await stats_updates(tasks[1], people[0], "B") == 1
    # A gold check moves the accuracy: counters, streak and figures are written.
    assert await stats_updates(gold_tasks[0], people[1], "B") > 1
    for _ in range(60):
        await _answer(conn, rng.choice(tasks + gold_tasks), rng.choice(people), rng.choice("AB"))
    assert await quality.stats_drift(conn) == []
    stale = await _row(
        conn,
        """SELECT count(*) AS n FROM annotator_stats s CROSS JOIN LATERAL reputation_of(s) r
            WHERE (s.accuracy, s.accuracy_low, s.accuracy_high, s.flags)
                  IS DISTINCT FROM
                  (r.accuracy, r.low, r.high, annotator_flags(s, r.low, r.high))""",
    )
    assert stale["n"] == 0
    broken = await _row(
        conn,
        """SELECT count(*) AS n FROM (
               SELECT delta, score - lag(score) OVER (PARTITION BY user_id ORDER BY id) AS step
                 FROM reputation_events WHERE user_id = ANY(%s)) e
            WHERE e.step IS NOT NULL AND e.step <> e.delta""",
        [people],
    )
    assert broken["n"] == 0
    events = await _row(
        conn, "SELECT count(*) AS n FROM reputation_events WHERE user_id = ANY(%s)", [people]
    )
    assert events["n"] > 5


async def test_position_bias_same_answer_and_fast_answers_are_flagged(conn):
    people = await _users(conn, 4, "flag")
    left, steady, quick = people[0], people[1], people[2]
    tasks = await _pairwise(conn, 30, threshold=10, tag="flags")
    for task in tasks:
        # `left` always takes the answer shown on the left: canonical A or B depending on order
        order = responses.shown_order(task, left)
        await _answer(conn, task, left, responses.to_canonical("A", order))
        await _answer(conn, task, steady, "A", seconds=40)
        await _answer(conn, task, people[3], "B", seconds=50)
        await _answer(conn, task, quick, "B", seconds=2)
    flags = {p: (await quality.reputation(conn, p, staff=True))["flags"] for p in people}
    assert "position_bias" in flags[left]
    assert "same_answer" in flags[steady]
    assert "position_bias" not in flags[steady]
    assert "fast" in flags[quick]
    marks = await _row(
        conn,
        "SELECT bool_and('fast' = ANY (outlier_reasons) AND flagged_for_review) AS all_fast"
        " FROM response_quality_metrics WHERE user_id = %s",
        [quick],
    )
    assert marks["all_fast"] is True


async def test_adjudication_overrides_consensus_and_counts_as_gold(conn):
    people = await _users(conn, 5, "adj")
    (reviewer,) = [(await users_domain.create_user(conn, "adj-reviewer", None, "reviewer"))["id"]]
    (task,) = await _pairwise(conn, 1, threshold=4, tag="adjudicate")
    for person, choice in zip(people[:4], "AABB", strict=True):
        await _answer(conn, task, person, choice)
    page = await review.queue(conn, limit=50)
    assert [(i["task_id"], i["reason"]) for i in page["items"]] == [(task, "disputed")]
    with pytest.raises(InvalidInput) as bad:
        await review.adjudicate(
            conn, task, reviewer_id=reviewer, final_answer={"chosen_response": "C"}, note="x"
        )
    assert bad.value.field == "final_answer.chosen_response"
    with pytest.raises(InvalidInput) as tie:
        await review.adjudicate(
            conn, task, reviewer_id=reviewer, final_answer={"chosen_response": "tie"}, note="x"
        )
    assert tie.value.field == "final_answer.chosen_response"
    done = await review.adjudicate(
        conn,
        task,
        reviewer_id=reviewer,
        final_answer={"chosen_response": "B"},
        note="B cites its source; A invents one",
    )
    assert done["answers_judged"] == 4 and done["previous_status"] == "active"
    from whstudio.domain import consensus

    state = await consensus.read(conn, task)
    assert state["method"] == "adjudicated"
    assert state["final_answer"] == {"chosen_response": "B"}
    assert state["crowd_final_answer"] is None
    status = await _row(conn, "SELECT status FROM tasks WHERE id = %s", [task])
    assert status["status"] == "completed"
    cur = await conn.execute(
        "SELECT user_id, gold_correct, gold_source, agreed FROM response_quality_metrics"
        " WHERE task_id = %s",
        [task],
    )
    verdicts = {r["user_id"]: r for r in await cur.fetchall()}
    assert [verdicts[p]["gold_correct"] for p in people[:4]] == [False, False, True, True]
    assert all(
        v["gold_source"] == "adjudication" and v["agreed"] is None for v in verdicts.values()
    )
    rep = await quality.reputation(conn, people[2], staff=True)
    assert rep["history"][0]["reason"] == "matched the reviewer's adjudication"
    assert (await review.queue(conn, limit=50))["items"] == []
    with pytest.raises(Conflict):
        await review.adjudicate(
            conn, task, reviewer_id=reviewer, final_answer={"chosen_response": "A"}, note="again"
        )
    assert await quality.stats_drift(conn) == []


def test_fleiss_kappa_and_krippendorff_alpha_match_independent_computations():
    rng = np.random.default_rng(3)
    # 40 items, 5 ratings each, 3 categories, raters somewhat agreeing
    truth = rng.integers(0, 2, size=40)
    ratings = np.where(rng.random((40, 5)) < 0.7, truth[:, None], rng.integers(0, 3, (40, 5)))
    counts = np.stack([(ratings == k).sum(axis=1) for k in range(3)], axis=1)
    # Fleiss (1971), every item rated by the same number of raters, written out directly.
    n, big_n = 5, 40
    p_j = counts.sum(axis=0) / (big_n * n)
    p_i = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    expected = (p_i.mean() - (p_j**2).sum()) / (1 - (p_j**2).sum())
    assert agreement.fleiss_kappa(counts.astype(float)) == pytest.approx(expected)
    # Alpha from counts equals the package's alpha from the raw raters x items table.
    import krippendorff

    raw = krippendorff.alpha(reliability_data=ratings.T, level_of_measurement="nominal")
    assert agreement.krippendorff_alpha(counts) == pytest.approx(raw)
    perfect = np.array([[3, 0, 0], [0, 3, 0], [3, 0, 0]])
    assert agreement.fleiss_kappa(perfect.astype(float)) == pytest.approx(1.0)
    assert agreement.krippendorff_alpha(perfect) == pytest.approx(1.0)
    assert agreement.fleiss_kappa(np.array([[3.0, 0, 0]])) is None  # one category: undefined


async def test_agreement_metrics_on_the_database_with_their_item_counts(conn):
    people = await _users(conn, 3, "agr")
    tasks = await _pairwise(conn, 4, threshold=3, tag="agree")
    plan = {0: "AAA", 1: "BBA", 2: "ABB", 3: "A"}  # task 3 has one answer: no information
    for index, choices in plan.items():
        for person, choice in zip(people, choices, strict=False):
            await _answer(conn, tasks[index], person, choice)
    out = await agreement.compute(conn, task_ids=tasks)
    assert out["items"] == 3 and out["answers"] == 9 and out["items_with_one_answer"] == 1
    pairs = {tuple(sorted((p["annotator_a"], p["annotator_b"]))): p for p in out["pairwise"]}
    ab = pairs[("agr0", "agr1")]  # same on tasks 0 and 1, not on 2; task 3 is not shared
    assert ab["items"] == 3 and ab["agreement"] == pytest.approx(2 / 3, abs=1e-4)
    counts = np.array([[3, 0, 0], [1, 2, 0], [1, 2, 0]], dtype=float)
    assert out["fleiss_kappa"] == pytest.approx(round(agreement.fleiss_kappa(counts), 4))
    by_dataset = await agreement.compute(conn, dataset="no-such-dataset")
    assert by_dataset["items"] == 0 and by_dataset["krippendorff_alpha"] is None


async def test_agreement_by_dataset_equals_by_tasks_and_lists_the_most_shared_pairs_first(conn):
    people = await _users(conn, 4, "pair")
    dataset = f"agreement-{uuid4().hex[:8]}"
    tasks = await _pairwise(conn, 5, threshold=4, tag="pairs", dataset=dataset)
    # pair0 and pair1 share all five tasks; pair2 answers three, pair3 one
    plan = {0: "AAAB", 1: "ABA", 2: "BBB", 3: "AB", 4: "BA"}
    for index, choices in plan.items():
        for person, choice in zip(people, choices, strict=False):
            await _answer(conn, tasks[index], person, choice)
    by_tasks = await agreement.compute(conn, task_ids=tasks)
    by_dataset = await agreement.compute(conn, dataset=dataset)
    for key in ("items", "answers", "annotators", "krippendorff_alpha", "fleiss_kappa"):
        assert by_dataset[key] == by_tasks[key], key
    assert by_dataset["items"] == 5 and by_dataset["answers"] == 14
    assert by_dataset["pairwise"] == by_tasks["pairwise"]
    assert by_dataset["pairs_total"] == 6  # every two of the four share a task
    top = await agreement.compute(conn, dataset=dataset, pair_limit=2)
    assert top["pairs_total"] == 6 and top["pair_limit"] == 2
    assert [p["items"] for p in top["pairwise"]] == [5, 3]
    first = top["pairwise"][0]
    assert {first["annotator_a"], first["annotator_b"]} == {"pair0", "pair1"}
    assert first["agreement"] == pytest.approx(2 / 5, abs=1e-4)  # same on tasks 0 and 2 only
    assert [p["items"] for p in by_dataset["pairwise"]] == sorted(
        (p["items"] for p in by_dataset["pairwise"]), reverse=True
    )
    rare = await agreement.compute(conn, dataset=dataset, min_pair_items=4)
    assert rare["pairs_total"] == 1 and len(rare["pairwise"]) == 1


async def test_tasks_settling_at_once_with_shared_annotators_never_deadlock(db_url):
    """Every answer below completes a task and judges all its voters at once; with 8 annotators
    sharing 16 tasks, settles lock overlapping counters concurrently. No retry is allowed here,
    so a deadlock would fail the test."""
    import asyncio

    import psycopg
    from psycopg.rows import dict_row

    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        people = await _users(conn, 8, "race")
        tasks = await _pairwise(conn, 16, threshold=8, tag="race")
        await conn.commit()
    rng = random.Random(9)
    plans = {p: rng.sample(tasks, len(tasks)) for p in people}

    async def annotator(person):
        async with await psycopg.AsyncConnection.connect(
            db_url, autocommit=True, row_factory=dict_row
        ) as conn:
            for task in plans[person]:
                await _answer(conn, task, person, rng.choice("AB"))

    await asyncio.gather(*(annotator(p) for p in people))
    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        assert await quality.stats_drift(conn) == []
        cur = await conn.execute(
            "SELECT count(*) AS n, count(agreed) AS judged FROM response_quality_metrics"
        )
        row = await cur.fetchone()
        # every answer is in, and every one whose others have a strict plurality is judged
        assert row["n"] == 8 * 16 and row["judged"] > 0


async def test_an_answer_edited_in_place_is_judged_again(conn):
    people = await _users(conn, 3, "edit")
    (task,) = await _pairwise(conn, 1, threshold=3, tag="edit")
    for person, choice in zip(people, "AAB", strict=True):
        await _answer(conn, task, person, choice)
    before = await _row(
        conn,
        "SELECT choice, agreed FROM response_quality_metrics WHERE user_id = %s",
        [people[2]],
    )
    assert before == {"choice": "B", "agreed": False}
    # another writer (a legacy app, a repair script) changes the stored answer itself
    await conn.execute(
        "UPDATE submissions SET chosen_response = 'A' WHERE user_id = %s AND task_id = %s",
        [people[2], task],
    )
    after = await _row(
        conn,
        "SELECT choice, agreed, others_agreeing FROM response_quality_metrics WHERE user_id = %s",
        [people[2]],
    )
    assert after == {"choice": "A", "agreed": True, "others_agreeing": 2}
    assert await quality.stats_drift(conn) == []


async def test_a_batch_recompute_and_a_quality_refresh_at_once_do_not_deadlock(db_url):
    """Both store Dawid–Skene (every annotator's counters) and batch results (the results
    table). A third session holds the table until the recompute and then the refresh wait for
    it. In the old order the recompute, let through, stored majority and then waited for the
    counters the refresh held while the refresh waited for the table: a deadlock every time.
    No retry is allowed."""
    import asyncio

    import psycopg
    from psycopg.rows import dict_row

    from whstudio.domain import batch

    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        people = await _users(conn, 4, "lockorder")
        tasks = await _pairwise(conn, 6, threshold=3, tag="lockorder")
        for i, task in enumerate(tasks):
            for j, person in enumerate(people[:3]):
                await _answer(conn, task, person, "AB"[(i + j) % 2])
        await conn.commit()

    async def waiting(pid: int) -> bool:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as watch:
            for _ in range(200):
                cur = await watch.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
                )
                if (await cur.fetchone())[0] == "Lock":
                    return True
                await asyncio.sleep(0.05)
        return False

    gate = await psycopg.AsyncConnection.connect(db_url)
    recompute_conn = await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row)
    refresh_conn = await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row)
    try:
        await gate.execute("LOCK TABLE consensus_batch_results IN ROW EXCLUSIVE MODE")

        async def recompute():
            run = await batch.recompute(recompute_conn, ("majority", "dawid_skene"), store=True)
            await recompute_conn.commit()
            return run

        async def refresh():
            done = await quality.refresh(refresh_conn, dawid_skene=True)
            await refresh_conn.commit()
            return done

        first = asyncio.create_task(recompute())
        assert await waiting(recompute_conn.info.backend_pid)
        second = asyncio.create_task(refresh())
        assert await waiting(refresh_conn.info.backend_pid)
        await gate.rollback()
        run, done = await asyncio.wait_for(asyncio.gather(first, second), 60)
    finally:
        for c in (gate, recompute_conn, refresh_conn):
            await c.close()
    assert run.tasks == len(tasks) and done.dawid_skene_workers == 3
    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        assert await quality.stats_drift(conn) == []
