"""Batch recompute over the database: stored beside the real-time results, consistent, equal to
a plain row-by-row reference, and replacing a method's earlier results exactly."""

from __future__ import annotations

import random
import uuid

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from whstudio.domain import aggregation, batch


async def _user(conn, name: str) -> uuid.UUID:
    cur = await conn.execute("INSERT INTO users (username) VALUES (%s) RETURNING id", [name])
    return (await cur.fetchone())["id"]


async def _task(conn, title: str = "t") -> uuid.UUID:
    cur = await conn.execute(
        "INSERT INTO questions (question_type, content) VALUES ('pairwise_ab', %s) RETURNING id",
        [Jsonb({"prompt": title, "optionA": "a", "optionB": "b"})],
    )
    qid = (await cur.fetchone())["id"]
    cur = await conn.execute(
        "INSERT INTO tasks (question_id, title, allow_tie) VALUES (%s, %s, true) RETURNING id",
        [qid, title],
    )
    return (await cur.fetchone())["id"]


async def _answer(conn, task, user, choice: str) -> None:
    await conn.execute(
        "INSERT INTO submissions (task_id, user_id, chosen_response) VALUES (%s, %s, %s)",
        [task, user, choice],
    )


async def _stored(conn, method: str) -> dict[uuid.UUID, tuple]:
    cur = await conn.execute(
        "SELECT task_id, final_answer ->> 'chosen_response' AS choice, confidence, run_id"
        " FROM consensus_batch_results WHERE method = %s",
        [method],
    )
    return {r["task_id"]: (r["choice"], r["confidence"], r["run_id"]) for r in await cur.fetchall()}


async def test_batch_methods_store_results_and_majority_agrees_with_realtime(db_url):
    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        users = [await _user(conn, f"u{i}") for i in range(5)]
        for t in range(20):
            tid = await _task(conn, f"p{t}")
            for u, user in enumerate(users[: 2 + t % 4]):
                choice = "A" if (t + u) % 3 else ("B" if t % 2 else "tie")
                await _answer(conn, tid, user, choice)
        await _task(conn, "never answered")
        run = await batch.recompute(conn)
        assert run.tasks == 20 and run.workers == 5
        assert run.disagreement["realtime vs majority"] == 0.0
        cur = await conn.execute(
            "SELECT method, count(*) AS n FROM consensus_batch_results GROUP BY 1 ORDER BY 1"
        )
        assert {r["method"]: r["n"] for r in await cur.fetchall()} == {
            "dawid_skene": 20,
            "majority": 20,
            "weighted": 20,
        }
        again = await batch.recompute(conn, ("majority",))
        cur = await conn.execute(
            "SELECT count(DISTINCT run_id) AS runs FROM consensus_batch_results"
            " WHERE method = 'majority'"
        )
        assert (await cur.fetchone())["runs"] == 1 and again.run_id != run.run_id
        # The temporary tables are gone: the connection can run it again, even in autocommit.
        await conn.commit()
        await conn.set_autocommit(True)
        third = await batch.recompute(conn, ("majority",), store=False)
        assert third.tasks == 20 and third.disagreement["realtime vs majority"] == 0.0


async def _reference(conn) -> tuple[aggregation.Labels, list[uuid.UUID], list[uuid.UUID]]:
    """The answers, loaded the plain way: one Python row per answer, uuids mapped by dicts."""
    cur = await conn.execute(
        "SELECT task_id, user_id, chosen_response FROM submissions"
        " WHERE is_latest AND chosen_response IS NOT NULL"
    )
    rows = await cur.fetchall()
    tasks = sorted({r["task_id"] for r in rows}, key=lambda u: u.bytes)
    users = sorted({r["user_id"] for r in rows}, key=lambda u: u.bytes)
    t_index = {t: i for i, t in enumerate(tasks)}
    u_index = {u: i for i, u in enumerate(users)}
    code = {"A": 0, "B": 1, "tie": 2}
    labels = aggregation.Labels(
        task=np.array([t_index[r["task_id"]] for r in rows], dtype=np.int64),
        worker=np.array([u_index[r["user_id"]] for r in rows], dtype=np.int64),
        label=np.array([code[r["chosen_response"]] for r in rows], dtype=np.int64),
        n_tasks=len(tasks),
        n_workers=len(users),
    )
    return labels, tasks, users


async def test_results_equal_a_row_by_row_reference_on_random_data(db_url):
    rng = random.Random(3)
    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        users = [await _user(conn, f"r{i}") for i in range(12)]
        skill = [rng.uniform(0.4, 0.95) for _ in users]
        for u, weight in zip(users[:4], (0.5, 2.0, 3.5, 0.25), strict=True):
            await conn.execute("UPDATE users SET reputation_weight = %s WHERE id = %s", [weight, u])
        for t in range(120):
            tid = await _task(conn, f"r{t}")
            truth = rng.choice("AB")
            for u in rng.sample(range(len(users)), rng.randint(0, 7)):
                choice = truth if rng.random() < skill[u] else rng.choice(["A", "B", "tie"])
                await _answer(conn, tid, users[u], choice)
                if rng.random() < 0.15:  # a revision: only the latest answer counts
                    await conn.execute(
                        "SELECT submit_answer_v2(%s, %s, %s, NULL, NULL, NULL, NULL, NULL, NULL,"
                        " NULL, NULL)",
                        [tid, users[u], rng.choice(["A", "B", "tie"])],
                    )
        cur = await conn.execute("SELECT id, reputation_weight FROM users")
        weight_before = {r["id"]: float(r["reputation_weight"]) for r in await cur.fetchall()}
        run = await batch.recompute(conn)
        # Dawid–Skene runs and is stored first, moving the reputations: weighted voting uses
        # the weights it left (so that a second run over the same answers gives the same).
        cur = await conn.execute("SELECT id, reputation_weight FROM users")
        weight_of = {r["id"]: float(r["reputation_weight"]) for r in await cur.fetchall()}
        assert len(set(weight_of.values())) > 1 and weight_of != weight_before
        labels, tasks, user_ids = await _reference(conn)
        loaded = await batch.load_labels(conn)
        assert [uuid.UUID(bytes=bytes(t)) for t in loaded.task_ids] == tasks
        assert [uuid.UUID(bytes=bytes(u)) for u in loaded.user_ids] == user_ids
        order = np.lexsort((loaded.labels.label, loaded.labels.worker, loaded.labels.task))
        expect = np.lexsort((labels.label, labels.worker, labels.task))
        for name in ("task", "worker", "label"):
            assert np.array_equal(
                getattr(loaded.labels, name)[order], getattr(labels, name)[expect]
            )
        expected = {
            "majority": aggregation.majority(labels),
            "weighted": aggregation.weighted_majority(
                labels, np.array([weight_of[u] for u in user_ids])
            ),
            "dawid_skene": aggregation.dawid_skene(labels).result,
        }
        # The weights and the model matter on this data: the methods do not all agree.
        assert not np.array_equal(expected["majority"].winner, expected["weighted"].winner)
        assert not np.array_equal(expected["majority"].winner, expected["dawid_skene"].winner)
        names = {0: "A", 1: "B", -1: None}
        for method, found in expected.items():
            assert np.array_equal(run.winners[method], found.winner), method
            stored = await _stored(conn, method)
            assert set(stored) == set(tasks)
            for i, task in enumerate(tasks):
                choice, confidence, run_id = stored[task]
                assert choice == names[int(found.winner[i])] and run_id == run.run_id
                assert abs(confidence - float(found.confidence[i])) < 1e-9
        cur = await conn.execute(
            "SELECT task_id, final_answer ->> 'chosen_response' AS choice FROM response_consensus"
        )
        realtime = {r["task_id"]: r["choice"] for r in await cur.fetchall()}
        mine = np.array([{"A": 0, "B": 1}.get(realtime.get(t), -1) for t in tasks])
        for method, found in expected.items():
            share = float(np.mean(mine != found.winner))
            assert run.disagreement[f"realtime vs {method}"] == share


async def test_a_run_replaces_the_methods_earlier_results_exactly(db_url):
    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        users = [await _user(conn, f"x{i}") for i in range(3)]
        tasks = [await _task(conn, f"x{t}") for t in range(4)]
        for t in tasks:
            for user in users:
                await _answer(conn, t, user, "A")
        first = await batch.recompute(conn, ("majority", "weighted"))
        assert set(await _stored(conn, "majority")) == set(tasks)
        # The last task loses its answers; two others change their winner.
        await conn.execute("DELETE FROM submissions WHERE task_id = %s", [tasks[3]])
        await conn.execute(
            "UPDATE submissions SET chosen_response = 'B' WHERE task_id = ANY(%s)", [tasks[:2]]
        )
        second = await batch.recompute(conn, ("majority",))
        stored = await _stored(conn, "majority")
        assert stored == {
            tasks[0]: ("B", 1.0, second.run_id),
            tasks[1]: ("B", 1.0, second.run_id),
            tasks[2]: ("A", 1.0, second.run_id),
        }
        # Another method's results are left as they were.
        weighted = await _stored(conn, "weighted")
        assert set(weighted) == set(tasks)
        assert {v[2] for v in weighted.values()} == {first.run_id}
        # No answers at all: the method has no results left.
        await conn.execute("DELETE FROM submissions")
        empty = await batch.recompute(conn, ("majority",))
        assert empty.tasks == 0 and await _stored(conn, "majority") == {}


def test_weighted_votes_sum_exactly_in_any_order():
    # 0.1 + 0.2 is not 0.3 in floating point: summed as millionths it is, in either order
    weights = np.array([0.1, 0.2, 0.3, 1.0])
    task = np.array([0, 0, 0, 1, 1])
    worker = np.array([0, 1, 2, 3, 2])
    label = np.array([0, 0, 1, 1, 0])
    results = []
    for order in (np.arange(5), np.array([2, 1, 0, 4, 3]), np.array([4, 0, 3, 2, 1])):
        data = aggregation.Labels(task[order], worker[order], label[order], 2, 4)
        results.append(aggregation.weighted_majority(data, weights))
    for found in results:
        assert found.winner.tolist() == [-1, 1]  # 0.3 against 0.3 is a tie: no winner
        assert found.confidence.tolist() == results[0].confidence.tolist()


async def test_a_second_run_gives_the_same_results_and_a_dataset_runs_alone(db_url):
    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        rng = random.Random(5)
        users = [await _user(conn, f"w{i}") for i in range(8)]
        for t in range(60):
            tid = await _task(conn, f"q{t}")
            await conn.execute(
                "UPDATE questions SET source_dataset = %s"
                " WHERE id = (SELECT question_id FROM tasks WHERE id = %s)",
                ["left" if t % 2 else "right", tid],
            )
            await conn.execute(  # the consensus row follows its question's dataset
                "UPDATE response_consensus SET source_dataset = %s WHERE task_id = %s",
                ["left" if t % 2 else "right", tid],
            )
            for user in rng.sample(users, 4):
                await _answer(conn, tid, user, rng.choice("AAB"))
        first = await batch.recompute(conn)
        stored = {m: await _stored(conn, m) for m in ("weighted", "dawid_skene")}
        second = await batch.recompute(conn)
        for method in ("weighted", "dawid_skene"):
            np.testing.assert_array_equal(first.winners[method], second.winners[method])
            again = await _stored(conn, method)
            assert {k: v[:2] for k, v in again.items()} == {
                k: v[:2] for k, v in stored[method].items()
            }
        # binary answers: two classes, so a 2 x 2 confusion matrix per annotator
        cur = await conn.execute("SELECT DISTINCT classes FROM annotator_skill")
        assert [r["classes"] for r in await cur.fetchall()] == [["A", "B"]]
        # one dataset alone: its tasks' results are replaced, the other's kept as they were
        before = await _stored(conn, "majority")
        only = await batch.recompute(conn, ("majority",), dataset="left")
        assert only.tasks == 30
        after = await _stored(conn, "majority")
        assert len(after) == len(before) == 60
        changed_run = {k for k in after if after[k][2] != before[k][2]}
        cur = await conn.execute(
            "SELECT task_id FROM response_consensus WHERE source_dataset = 'left'"
        )
        assert changed_run == {r["task_id"] for r in await cur.fetchall()}


async def test_chunks_of_any_size_give_the_same_results(db_url):
    """The answers are read back in chunks of whole tasks: one answer a chunk (every task a
    chunk alone) gives what one chunk for all does, to the last bit for the vote counts."""
    rng = random.Random(8)
    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        users = [await _user(conn, f"c{i}") for i in range(9)]
        for t in range(60):
            tid = await _task(conn, f"c{t}")
            for u in rng.sample(users, rng.randint(1, 6)):
                await _answer(conn, tid, u, rng.choice(["A", "A", "B", "tie"]))
        one = await batch.recompute(conn, store=False, chunk_answers=1)
        many = await batch.recompute(conn, store=False, chunk_answers=1 << 20)
        assert one.labels == many.labels > 100 and one.tasks == many.tasks == 60
        for method in batch.METHODS:
            assert np.array_equal(one.winners[method], many.winners[method]), method
        assert one.disagreement == many.disagreement
        await conn.rollback()
