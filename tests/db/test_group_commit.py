"""Group commit (domain/group_commit.py, revision 0019): answers that arrive together are stored
in one transaction, each exactly as alone, an answer's error its own."""

from __future__ import annotations

import asyncio
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from whstudio.domain import keyed, responses
from whstudio.domain.group_commit import GroupCommit
from whstudio.errors import Conflict, InvalidInput, NotFound
from whstudio.schemas import TaskResponse

PAIR = '{"prompt": "p%s", "optionA": "a", "optionB": "b"}'


@pytest.fixture(autouse=True)
def _secret():
    keyed.configure("group-commit-test")


async def _connect(url: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def _setup(conn, *, tasks: int, users: int, threshold: int = 3, reveal="never"):
    user_ids = []
    for i in range(users):
        cur = await conn.execute(
            "INSERT INTO users (username) VALUES (%s) RETURNING id", [f"gc{i}"]
        )
        user_ids.append((await cur.fetchone())["id"])
    await conn.execute(
        "INSERT INTO dataset_policies (source_dataset, reveal) VALUES ('gc', %s)", [reveal]
    )
    task_ids = []
    for i in range(tasks):
        cur = await conn.execute(
            "INSERT INTO questions (question_type, content, source_dataset)"
            " VALUES ('pairwise_ab', %s, 'gc') RETURNING id",
            [PAIR % i],
        )
        question = (await cur.fetchone())["id"]
        cur = await conn.execute(
            "INSERT INTO tasks (question_id, title, consensus_threshold, allow_tie)"
            " VALUES (%s, 't', %s, false) RETURNING id",
            [question, threshold],
        )
        task_ids.append((await cur.fetchone())["id"])
    return task_ids, user_ids


class _Requests:
    """Concurrent requests, each with a connection of its own, as the API's handlers have."""

    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count
        self.conns: list[psycopg.AsyncConnection] = []

    async def __aenter__(self):
        self.conns = [await _connect(self.url) for _ in range(self.count)]
        return self.conns

    async def __aexit__(self, *exc):
        for c in self.conns:
            await c.close()


async def _blocked_group(group, conn, db_url, task_id, user_id):
    """A group in flight that waits, inside PostgreSQL, for a lock this test holds on its task's
    consensus row: the requests made meanwhile all queue for the next group. Returns the lone
    request's task and the side connection; committing it lets the group go on."""
    side = await _connect(db_url)
    await side.execute("BEGIN")
    await side.execute("SELECT 1 FROM response_consensus WHERE task_id = %s FOR UPDATE", [task_id])
    held = asyncio.create_task(
        group.submit(conn, task_id=task_id, user_id=user_id, answer=_answer())
    )
    for _ in range(200):  # until the lone group waits on that lock
        cur = await side.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        if (await cur.fetchone())["n"]:
            break
        await asyncio.sleep(0.01)
    return held, side


def _answer(choice: str = "A", **extra) -> TaskResponse:
    return TaskResponse(chosen_response=choice, confidence=3, time_spent_seconds=20, **extra)


async def test_answers_arriving_together_are_stored_in_groups_each_as_alone(db_url):
    """48 answers at once from 16 requests at a time: they are stored in groups of more than
    one, every answer is stored once with its own result, and each task's consensus row is
    what recomputing it from its answers gives (the incremental = recompute property)."""
    async with await _connect(db_url) as conn:
        tasks, users = await _setup(conn, tasks=12, users=4, threshold=3)
    sizes: list[int] = []
    group = GroupCommit(16, on_group=sizes.append)
    async with _Requests(db_url, 48) as conns:
        work = [
            group.submit(
                conns[i],
                task_id=tasks[i % 12],
                user_id=users[i // 12],
                answer=_answer("AB"[i % 3 == 0]),
            )
            for i in range(48)
        ]
        done = await asyncio.gather(*work)
    assert sum(sizes) == 48 and max(sizes) > 1, sizes
    assert all(size <= 16 for size in sizes)
    assert len({d.submission_id for d in done}) == 48
    assert all(not d.replayed and d.response_version == 1 for d in done)
    async with await _connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT s.id, s.task_id, s.user_id FROM submissions s ORDER BY s.id"
        )
        stored = {r["id"]: (r["task_id"], r["user_id"]) for r in await cur.fetchall()}
        assert stored == {
            d.submission_id: (tasks[i % 12], users[i // 12]) for i, d in enumerate(done)
        }
        cur = await conn.execute("SELECT count(*) AS n FROM response_quality_metrics")
        assert (await cur.fetchone())["n"] == 48
        for task in tasks:
            cur = await conn.execute(
                "SELECT to_jsonb(c) - 'updated_at' - 'version' - 'reached_at' AS stored,"
                " to_jsonb(consensus_recompute_v1(c.task_id)) - 'updated_at' - 'version'"
                " - 'reached_at' AS again FROM response_consensus c WHERE c.task_id = %s",
                [task],
            )
            row = await cur.fetchone()
            assert row["stored"] == row["again"]
            assert row["stored"]["total_responses"] == 4
    # Each task that settled is reported settled once, even when its answers shared a group
    # (reached_now compares reached_at with the transaction's start).
    async with await _connect(db_url) as conn:
        cur = await conn.execute("SELECT task_id FROM response_consensus WHERE consensus_reached")
        settled = sorted(str(r["task_id"]) for r in await cur.fetchall())
    assert settled
    assert sorted(str(d.task_id) for d in done if d.reached_now) == settled
    # The consensus events come back to be published after the commit: a group's all with one
    # of its answers (revision 0022), each once, at least one per answer, and each task's last
    # event is the version its consensus row holds.
    events = [e for d in done for e in d.events]
    assert len({e["version"] for e in events}) == len(events)
    assert sum(1 for d in done if d.events) <= len(sizes)
    async with await _connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT task_id, version FROM response_consensus WHERE task_id = ANY (%s)", [tasks]
        )
        versions = {str(r["task_id"]): r["version"] for r in await cur.fetchall()}
    for task in tasks:
        mine = [e["version"] for e in events if e["task_id"] == str(task)]
        assert len(mine) >= 4 and max(mine) == versions[str(task)]


async def test_one_refused_answer_leaves_the_rest_of_its_group_stored(db_url):
    async with await _connect(db_url) as conn:
        tasks, users = await _setup(conn, tasks=3, users=2)
        await conn.execute("UPDATE tasks SET status = 'paused' WHERE id = %s", [tasks[1]])
    sizes: list[int] = []
    group = GroupCommit(8, on_group=sizes.append)
    missing = UUID(int=1)
    async with _Requests(db_url, 6) as conns:
        outcomes = await asyncio.gather(
            group.submit(conns[0], task_id=tasks[0], user_id=users[0], answer=_answer()),
            group.submit(conns[1], task_id=tasks[1], user_id=users[0], answer=_answer()),
            group.submit(conns[2], task_id=missing, user_id=users[0], answer=_answer()),
            group.submit(conns[3], task_id=tasks[2], user_id=users[0], answer=_answer("tie")),
            group.submit(conns[4], task_id=tasks[2], user_id=users[1], answer=_answer("B")),
            group.submit(conns[5], task_id=tasks[0], user_id=users[1], answer=_answer("B")),
            return_exceptions=True,
        )
    assert max(sizes) > 1
    assert isinstance(outcomes[1], Conflict) and "paused" in str(outcomes[1])
    assert isinstance(outcomes[2], NotFound) and outcomes[2].field == "task_id"
    assert isinstance(outcomes[3], InvalidInput) and outcomes[3].field == "chosen_response"
    stored = [o for o in outcomes if isinstance(o, responses.Submitted)]
    assert [outcomes.index(o) for o in stored] == [0, 4, 5]
    async with await _connect(db_url) as conn:
        cur = await conn.execute("SELECT id FROM submissions")
        assert {r["id"] for r in await cur.fetchall()} == {o.submission_id for o in stored}


async def test_a_revision_and_a_replay_in_one_group(db_url):
    """Two answers of one annotator to one task in one group are stored in their order (the
    second revises the first); the same Idempotency-Key sent twice at once stores one answer,
    the other request gets it back as a replay (its unique violation is sorted out alone)."""
    async with await _connect(db_url) as conn:
        tasks, users = await _setup(conn, tasks=2, users=1)
    sizes: list[int] = []
    group = GroupCommit(8, on_group=sizes.append, in_flight=1)
    async with _Requests(db_url, 6) as conns:
        # A group in flight, so that the next requests queue up behind it together.
        first, side = await _blocked_group(group, conns[0], db_url, tasks[1], users[0])
        rest = [
            group.submit(conns[1], task_id=tasks[0], user_id=users[0], answer=_answer("A")),
            group.submit(conns[2], task_id=tasks[0], user_id=users[0], answer=_answer("B")),
            group.submit(
                conns[3], task_id=tasks[1], user_id=users[0], answer=_answer(), idempotency_key="k"
            ),
            group.submit(
                conns[4], task_id=tasks[1], user_id=users[0], answer=_answer(), idempotency_key="k"
            ),
        ]
        waiting = [asyncio.create_task(r) for r in rest]
        await asyncio.sleep(0.05)
        assert not any(w.done() for w in waiting)
        await side.commit()
        await side.close()
        one, two, keyed_a, keyed_b = await asyncio.gather(*waiting)
        await first
    assert sizes == [1, 4]
    assert (one.response_version, two.response_version) == (1, 2)
    assert sorted([keyed_a.replayed, keyed_b.replayed]) == [False, True]
    assert keyed_a.submission_id == keyed_b.submission_id
    async with await _connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT chosen_response, is_latest FROM submissions WHERE task_id = %s"
            " ORDER BY response_version",
            [tasks[0]],
        )
        rows = [(r["chosen_response"], r["is_latest"]) for r in await cur.fetchall()]
        # stored canonically: the choice made on the labels shown (shown_order) may be swapped
        assert [latest for _, latest in rows] == [False, True] and rows[0][0] != rows[1][0]
        cur = await conn.execute(
            "SELECT count(*) AS n FROM submissions WHERE idempotency_key = 'k'"
        )
        assert (await cur.fetchone())["n"] == 1


async def test_a_group_of_one_is_the_single_statement_and_size_one_turns_grouping_off(db_url):
    async with await _connect(db_url) as conn:
        tasks, users = await _setup(conn, tasks=4, users=1)
    sizes: list[int] = []
    group = GroupCommit(8, on_group=sizes.append)
    async with _Requests(db_url, 1) as [conn]:
        for task in tasks[:2]:
            done = await group.submit(conn, task_id=task, user_id=users[0], answer=_answer())
            assert done.response_version == 1
        with pytest.raises(InvalidInput):
            await group.submit(conn, task_id=tasks[2], user_id=users[0], answer=_answer("tie"))
    assert sizes == [1, 1, 1]
    off: list[int] = []
    alone = GroupCommit(1, on_group=off.append)
    async with _Requests(db_url, 4) as conns:
        await asyncio.gather(
            *(
                alone.submit(conns[i], task_id=tasks[3], user_id=users[0], answer=_answer())
                for i in range(2)
            )
        )
    assert off == []
    with pytest.raises(ValueError):
        GroupCommit(65)


async def test_a_failed_group_fails_every_member_and_the_next_group_still_runs(db_url):
    """The group's statement itself failing (here its leader's connection is closed) is every
    member's error, as it would have been each one's alone; nothing is stored twice, and the
    requests that arrive next are stored by a new leader."""
    async with await _connect(db_url) as conn:
        tasks, users = await _setup(conn, tasks=4, users=2)
    sizes: list[int] = []
    group = GroupCommit(8, on_group=sizes.append, in_flight=1)
    async with _Requests(db_url, 6) as conns:
        held, side = await _blocked_group(group, conns[0], db_url, tasks[0], users[0])
        await conns[1].close()  # the next leader's connection is gone
        members = [
            asyncio.create_task(
                group.submit(conns[1 + i], task_id=tasks[1 + i], user_id=users[0], answer=_answer())
            )
            for i in range(3)
        ]
        await asyncio.sleep(0.05)
        await side.commit()
        await side.close()
        await held
        got = await asyncio.gather(*members, return_exceptions=True)
        assert sizes == [1, 3]
        assert all(isinstance(g, psycopg.OperationalError) for g in got), got
        after = await group.submit(conns[5], task_id=tasks[1], user_id=users[1], answer=_answer())
        assert after.response_version == 1
    async with await _connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM submissions")
        assert (await cur.fetchone())["n"] == 2


async def test_two_groups_in_flight_one_waiting_does_not_hold_up_the_next(db_url):
    """With two groups in flight (the default), a group waiting in PostgreSQL (here for a lock,
    in production for its commit's flush) does not stop the next answers: they are stored
    meanwhile; with a third group needed they queue until one of the two is done."""
    async with await _connect(db_url) as conn:
        tasks, users = await _setup(conn, tasks=6, users=1)
    sizes: list[int] = []
    group = GroupCommit(8, on_group=sizes.append)
    assert group.in_flight == 2
    async with _Requests(db_url, 6) as conns:
        held, side = await _blocked_group(group, conns[0], db_url, tasks[0], users[0])
        quick = await group.submit(conns[1], task_id=tasks[1], user_id=users[0], answer=_answer())
        assert quick.response_version == 1 and not held.done()
        second, side_b = await _blocked_group(group, conns[2], db_url, tasks[2], users[0])
        queued = [
            asyncio.create_task(
                group.submit(conns[3 + i], task_id=tasks[3 + i], user_id=users[0], answer=_answer())
            )
            for i in range(3)
        ]
        await asyncio.sleep(0.05)
        assert not any(q.done() for q in queued)
        await side_b.commit()
        await side_b.close()
        await second
        await asyncio.gather(*queued)
        assert not held.done()
        await side.commit()
        await side.close()
        await held
    assert sizes == [1, 1, 1, 3]


async def test_a_group_hands_back_its_events_once_without_a_rolled_back_answers(db_url):
    """The database function defers the group's consensus events and hands them all back with
    the first answer stored (revision 0022). An answer that fails after its consensus row moved
    (here: its quality row refused) is rolled back with its event: nothing is published for a
    change that was never committed."""
    async with await _connect(db_url) as conn:
        tasks, users = await _setup(conn, tasks=3, users=2)
        await conn.execute(
            "CREATE FUNCTION test_refuse_quality() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER test_refuse_quality BEFORE INSERT ON response_quality_metrics"
            f" FOR EACH ROW WHEN (NEW.user_id = '{users[1]}')"
            " EXECUTE FUNCTION test_refuse_quality()"
        )
        try:
            cur = await conn.execute(
                "SELECT submit_answers_v1(%s::uuid[], %s::uuid[], %s::text[], %s::jsonb[],"
                " %s::text[], %s::text[], %s::integer[], %s::text[], %s::integer[],"
                " %s::text[], %s::text[]) AS results",
                [
                    tasks,
                    [users[0], users[1], users[0]],
                    ["A", "B", "A"],
                    [None] * 3,
                    [None] * 3,
                    [None] * 3,
                    [3] * 3,
                    [None] * 3,
                    [20] * 3,
                    ["AB"] * 3,
                    [None] * 3,
                ],
            )
            results = (await cur.fetchone())["results"]
        finally:
            await conn.execute("DROP TRIGGER test_refuse_quality ON response_quality_metrics")
            await conn.execute("DROP FUNCTION test_refuse_quality()")
        assert "refused by the test" in results[1]["error"]["message"]
        assert [r.get("events") is not None for r in results] == [True, False, True]
        assert results[2]["events"] == []
        events = results[0]["events"]
        assert [e["task_id"] for e in events] == [str(tasks[0]), str(tasks[2])]
        cur = await conn.execute(
            "SELECT task_id, total_responses, version FROM response_consensus"
            " WHERE task_id = ANY (%s)",
            [tasks],
        )
        rows = {r["task_id"]: r for r in await cur.fetchall()}
        assert rows[tasks[1]]["total_responses"] == 0
        assert [e["version"] for e in events] == [
            rows[tasks[0]]["version"],
            rows[tasks[2]]["version"],
        ]
        # The transaction's setting is off again: a later statement notifies as usual.
        cur = await conn.execute("SELECT current_setting('whstudio.defer_events', true) AS m")
        assert (await cur.fetchone())["m"] in (None, "", "off")
