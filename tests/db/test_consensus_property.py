"""The incremental consensus always equals a recomputation from scratch, whatever happens."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from whstudio.db.retry import in_transaction
from whstudio.domain import consensus, quality, responses
from whstudio.schemas import TaskResponse

USERS = 5
WEIGHTS = [1.0, 0.37, 2.5, 0.0, 1.125]

pairwise_answer = st.builds(
    lambda c, conf, t: TaskResponse(chosen_response=c, confidence=conf, time_spent_seconds=t),
    st.sampled_from(["A", "B", "tie"]),
    st.integers(1, 5),
    st.integers(0, 600),
)
ranking_answer = st.builds(
    lambda perm, conf: TaskResponse(ranking=perm, confidence=conf, time_spent_seconds=5),
    st.permutations([0, 1, 2]),
    st.integers(1, 5),
)

ops = st.one_of(
    st.tuples(st.just("submit"), st.integers(0, USERS - 1), st.integers(0, 1), pairwise_answer),
    st.tuples(st.just("rank"), st.integers(0, USERS - 1), st.just(2), ranking_answer),
    st.tuples(
        st.just("rule"),
        st.integers(0, 2),
        st.integers(1, 5),
        st.sampled_from([Decimal("50"), Decimal("66.67"), Decimal("70"), Decimal("100")]),
        st.booleans(),
    ),
    st.tuples(st.just("weight"), st.integers(0, USERS - 1), st.sampled_from(WEIGHTS)),
    st.tuples(
        st.just("status"), st.integers(0, 2), st.sampled_from(["active", "paused", "completed"])
    ),
    st.tuples(st.just("delete"), st.integers(0, USERS - 1), st.integers(0, 2)),
    st.tuples(st.just("legacy_edit"), st.integers(0, USERS - 1), st.integers(0, 1)),
    st.tuples(
        st.just("burst"),
        st.lists(st.tuples(st.integers(0, USERS - 1), pairwise_answer), min_size=2, max_size=6),
    ),
)


async def _setup(url: str) -> tuple[list, list]:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        await conn.execute(
            "TRUNCATE submissions, task_leases, task_skips, tasks, questions, users CASCADE"
        )
        users = []
        for i in range(USERS):
            cur = await conn.execute(
                "INSERT INTO users (username, reputation_weight) VALUES (%s, %s) RETURNING id",
                [f"u{i}", WEIGHTS[i]],
            )
            users.append((await cur.fetchone())["id"])
        tasks = []
        contents = [
            ("pairwise_ab", {"prompt": "p1", "optionA": "a", "optionB": "b"}, True),
            ("pairwise_ab", {"prompt": "p2", "optionA": "a", "optionB": "b"}, False),
            ("ranking", {"prompt": "p3", "options": ["x", "y", "z"]}, False),
        ]
        for qtype, content, tie in contents:
            cur = await conn.execute(
                "INSERT INTO questions (question_type, content) VALUES (%s, %s) RETURNING id",
                [qtype, Jsonb(content)],
            )
            qid = (await cur.fetchone())["id"]
            cur = await conn.execute(
                "INSERT INTO tasks (question_id, title, allow_tie) VALUES (%s, 't', %s)"
                " RETURNING id",
                [qid, tie],
            )
            tasks.append((await cur.fetchone())["id"])
        await conn.commit()
    return users, tasks


async def _submit(url, user, task, answer):
    async with await psycopg.AsyncConnection.connect(
        url, row_factory=dict_row, autocommit=True
    ) as conn:
        try:
            await in_transaction(
                conn,
                lambda c: responses.submit(c, task_id=task, user_id=user, answer=answer),
            )
        except Exception as exc:  # a refused answer (a tie not allowed, a paused task) is fine
            if "tie" not in str(exc) and "takes no answers" not in str(exc):
                raise


async def _run(url: str, steps) -> None:
    users, tasks = await _setup(url)
    async with await psycopg.AsyncConnection.connect(
        url, row_factory=dict_row, autocommit=True
    ) as conn:
        for step in steps:
            kind = step[0]
            if kind in ("submit", "rank"):
                await _submit(url, users[step[1]], tasks[step[2]], step[3])
            elif kind == "rule":
                await conn.execute(
                    "UPDATE tasks SET consensus_threshold = %s, min_agreement_percentage = %s,"
                    " allow_tie = %s WHERE id = %s",
                    [step[2], step[3], step[4], tasks[step[1]]],
                )
            elif kind == "status":
                await conn.execute(
                    "UPDATE tasks SET status = %s WHERE id = %s", [step[2], tasks[step[1]]]
                )
            elif kind == "weight":
                await conn.execute(
                    "UPDATE users SET reputation_weight = %s WHERE id = %s",
                    [step[2], users[step[1]]],
                )
            elif kind == "delete":
                await conn.execute(
                    "DELETE FROM submissions WHERE user_id = %s AND task_id = %s AND is_latest",
                    [users[step[1]], tasks[step[2]]],
                )
            elif kind == "legacy_edit":
                # Another writer (the legacy app, a repair script) edits a stored answer in place.
                await conn.execute(
                    "UPDATE submissions SET chosen_response = CASE chosen_response WHEN 'A'"
                    " THEN 'B' ELSE 'A' END, confidence = 2"
                    " WHERE user_id = %s AND task_id = %s AND is_latest",
                    [users[step[1]], tasks[step[2]]],
                )
            elif kind == "burst":
                await asyncio.gather(
                    *(_submit(url, users[u], tasks[0], a) for u, a in step[1]),
                )
            assert await consensus.drifted(conn) == [], step
            # the annotators' quality counters stay the sums over their quality rows too
            assert await quality.stats_drift(conn) == [], step
            assert await consensus.counts_drifted(conn) == 0, step


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(ops, min_size=1, max_size=25))
def test_incremental_consensus_equals_recomputation(db_url, steps):
    asyncio.run(_run(db_url, steps))


def test_a_revision_moves_a_vote_and_never_adds_one(db_url):
    async def scenario():
        users, tasks = await _setup(db_url)
        answer = TaskResponse(chosen_response="A", confidence=3, time_spent_seconds=5)
        await _submit(db_url, users[0], tasks[1], answer)
        await _submit(
            db_url, users[0], tasks[1], answer.model_copy(update={"chosen_response": "B"})
        )
        async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
            state = await consensus.read(conn, tasks[1])
            history = await responses.history(conn, tasks[1], users[0])
        return state, history

    state, history = asyncio.run(scenario())
    assert state["total_responses"] == 1
    assert [v["response_version"] for v in history] == [2, 1]
    assert [v["is_latest"] for v in history] == [True, False]


def test_a_drifted_row_is_noticed(db_url):
    async def scenario():
        users, tasks = await _setup(db_url)
        await _submit(
            db_url,
            users[0],
            tasks[0],
            TaskResponse(chosen_response="A", confidence=3, time_spent_seconds=5),
        )
        async with await psycopg.AsyncConnection.connect(
            db_url, row_factory=dict_row, autocommit=True
        ) as conn:
            assert await consensus.drifted(conn) == []
            await conn.execute(
                "UPDATE response_consensus SET count_a = count_a + 1,"
                " total_responses = total_responses + 1 WHERE task_id = %s",
                [tasks[0]],
            )
            assert await consensus.drifted(conn) == [tasks[0]]
            await consensus.rebuild(conn, tasks[0])
            assert await consensus.drifted(conn) == []

    asyncio.run(scenario())
