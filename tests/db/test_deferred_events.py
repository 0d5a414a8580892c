"""submit_answer_v2 hands its consensus events back instead of notifying inside the transaction
(a NOTIFY serialises commits database-wide); submit_answer_v1 and every other writer notify."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from psycopg.rows import dict_row

CHANNEL = "whstudio_consensus"
SUBMIT = "SELECT submit_answer_{v}(%s, %s, %s, NULL, NULL, NULL, 3, NULL, 10, 'AB', NULL) AS result"


async def _setup(conn) -> tuple[str, list[str]]:
    users = []
    for name in ("ev-a", "ev-b", "ev-c"):
        cur = await conn.execute("INSERT INTO users (username) VALUES (%s) RETURNING id", [name])
        users.append((await cur.fetchone())["id"])
    # A dataset that never shows annotators others' answers: their revisions count.
    await conn.execute(
        "INSERT INTO dataset_policies (source_dataset, reveal) VALUES ('ev', 'never')"
    )
    cur = await conn.execute(
        "INSERT INTO questions (question_type, content, source_dataset) VALUES ('pairwise_ab',"
        ' \'{"prompt": "p", "optionA": "a", "optionB": "b"}\', \'ev\') RETURNING id'
    )
    question = (await cur.fetchone())["id"]
    cur = await conn.execute(
        "INSERT INTO tasks (question_id, title, consensus_threshold) VALUES (%s, 't', 2)"
        " RETURNING id",
        [question],
    )
    return (await cur.fetchone())["id"], users


async def _notifications(listener, seconds: float = 0.5) -> list[dict]:
    got = []
    try:
        async with asyncio.timeout(seconds):
            async for notice in listener.notifies():
                got.append(json.loads(notice.payload))
    except TimeoutError:
        pass
    return got


async def test_v2_returns_the_events_that_v1_notifies(db_url):
    async with (
        await psycopg.AsyncConnection.connect(db_url, autocommit=True) as listener,
        await psycopg.AsyncConnection.connect(
            db_url, autocommit=True, row_factory=dict_row
        ) as conn,
    ):
        await listener.execute(f"LISTEN {CHANNEL}")
        task, (a, b, c) = await _setup(conn)

        cur = await conn.execute(SUBMIT.format(v="v1"), [task, a, "A"])
        first = (await cur.fetchone())["result"]
        notified = await _notifications(listener)
        assert "events" not in first
        assert [(n["task_id"], n["total_responses"]) for n in notified] == [(str(task), 1)]

        # v2: nothing is notified; the same event comes back in the result, in order.
        cur = await conn.execute(SUBMIT.format(v="v2"), [task, b, "A"])
        second = (await cur.fetchone())["result"]
        assert await _notifications(listener) == []
        [event] = second["events"]
        assert event["task_id"] == str(task)
        assert (event["total_responses"], event["count_a"], event["consensus_reached"]) == (
            2,
            2,
            True,
        )
        assert event["reached_changed"] is True
        assert event["version"] == second["consensus"]["version"] > notified[0]["version"]

        # A revision through v2 takes the old vote away and adds the new one: both events come
        # back in order, and still nothing is notified.
        cur = await conn.execute(SUBMIT.format(v="v2"), [task, b, "B"])
        third = (await cur.fetchone())["result"]
        assert [(e["count_a"], e["count_b"]) for e in third["events"]] == [(1, 0), (1, 1)]
        assert third["events"][0]["version"] < third["events"][1]["version"]
        assert await _notifications(listener) == []

        # After v2 in the same transaction, later writers notify again as usual.
        async with conn.transaction():
            await conn.execute(SUBMIT.format(v="v2"), [task, c, "A"])
            await conn.execute(
                "UPDATE tasks SET min_agreement_percentage = 60 WHERE id = %s", [task]
            )
        after = await _notifications(listener)
        assert len(after) == 1 and after[0]["total_responses"] == 3

        # A refused answer returns no event and leaves no deferred state behind.
        with pytest.raises(psycopg.Error, match=r"chosen_response|A or B|must be"):
            await conn.execute(SUBMIT.format(v="v2"), [task, c, "X"])
        cur = await conn.execute(
            "SELECT coalesce(current_setting('whstudio.defer_events', true), '') AS d"
        )
        assert (await cur.fetchone())["d"] in ("", "off")


async def test_the_publisher_sends_queued_events_after_commit(db_url):
    from psycopg_pool import AsyncConnectionPool

    from whstudio.web.events import EventPublisher

    async with (
        await psycopg.AsyncConnection.connect(db_url, autocommit=True) as listener,
        AsyncConnectionPool(db_url, min_size=1, max_size=2, open=False) as pool,
    ):
        await listener.execute(f"LISTEN {CHANNEL}")
        publisher = EventPublisher(pool)
        await publisher.start()
        events = [{"task_id": f"t{i}", "version": i} for i in range(3)]
        publisher.publish(events)
        publisher.publish([])
        got = await _notifications(listener, 1.0)
        await publisher.stop()
        assert got == events
        assert (publisher.sent, publisher.dropped) == (3, 0)
