"""Webhooks on a real database: the outbox is written in the event's own transaction, the worker
delivers signed payloads to a local receiver, retries with backoff, logs every attempt, and
loses nothing when a worker dies mid-delivery."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from datetime import datetime

import psycopg
import pytest
from psycopg.rows import dict_row

from whstudio.domain import importing, users, webhooks
from whstudio.domain.destinations import AllowList
from whstudio.errors import InvalidInput
from whstudio.workers.webhooks import Policy, Worker

# The receivers listen on 127.0.0.1, which webhooks reach only when the allow-list names it.
LOCAL = AllowList.parse("127.0.0.1")
FAST = Policy(
    max_attempts=3, backoff_base=0.05, timeout=5, poll_seconds=0.05, lease=0.3, allowed=LOCAL
)


def connector(url):
    @asynccontextmanager
    async def connect():
        conn = await psycopg.AsyncConnection.connect(url, row_factory=dict_row, autocommit=True)
        try:
            yield conn
        finally:
            await conn.close()

    return connect


async def _setup(url, receiver_url, events, *, threshold=3):
    """Return (webhook row, task id, three annotator ids), all committed."""
    async with connector(url)() as conn:
        async with conn.transaction():
            hook = await webhooks.create(conn, url=receiver_url, events=events, allowed=LOCAL)
            parsed = importing.parse_text(
                '{"prompt": "p", "optionA": "a", "optionB": "b"}', "x.jsonl"
            )
            await importing.import_pairs(
                conn, parsed, source="x", dataset="hooks", consensus_threshold=threshold
            )
            task = (await (await conn.execute("SELECT id FROM tasks")).fetchone())["id"]
            people = [(await users.create_user(conn, f"hook-{i}", None))["id"] for i in range(4)]
    return hook, task, people


async def _answer(conn, task, user, choice="A"):
    await conn.execute(
        "INSERT INTO submissions (task_id, user_id, chosen_response) VALUES (%s, %s, %s)",
        (task, user, choice),
    )


async def _events(conn):
    cur = await conn.execute("SELECT event, payload FROM webhook_events ORDER BY id")
    return await cur.fetchall()


async def test_events_exist_exactly_when_their_transaction_commits(db_url, receiver):
    _, task, people = await _setup(
        db_url, receiver.url, ["response.created", "task.consensus_reached"]
    )
    async with connector(db_url)() as conn:
        try:
            async with conn.transaction():
                await _answer(conn, task, people[0])
                assert [e["event"] for e in await _events(conn)] == ["response.created"]
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert await _events(conn) == []
        for person in people[:3]:
            async with conn.transaction():
                await _answer(conn, task, person)
        await _answer(conn, task, people[3])  # consensus was already reached: no second event
        kinds = [e["event"] for e in await _events(conn)]
        assert kinds.count("response.created") == 4
        assert kinds.count("task.consensus_reached") == 1
        reached = next(e["payload"] for e in await _events(conn) if e["event"].startswith("task"))
        assert reached["task_id"] == str(task) and reached["final_answer"] == {
            "chosen_response": "A"
        }
        cur = await conn.execute("SELECT count(*) AS n FROM webhook_deliveries")
        assert (await cur.fetchone())["n"] == 5


async def test_nothing_is_stored_without_a_subscriber(db_url, receiver):
    _, task, people = await _setup(db_url, receiver.url, ["task.adjudicated"])
    async with connector(db_url)() as conn:
        await _answer(conn, task, people[0])
        assert await _events(conn) == []
        assert await webhooks.enqueue(conn, "response.created", {"x": 1}) is None
        with pytest.raises(InvalidInput):
            await webhooks.enqueue(conn, "task.deleted", {})


async def test_an_adjudication_enqueues_task_adjudicated_with_its_insert(db_url, receiver):
    _, task, people = await _setup(db_url, receiver.url, ["task.adjudicated"])
    async with connector(db_url)() as conn:
        await conn.execute(
            "INSERT INTO task_adjudications (task_id, final_answer, note, reviewer_id,"
            " previous_status) VALUES (%s, '{\"chosen_response\": \"B\"}', 'B is right', %s,"
            " 'active')",
            (task, people[0]),
        )
        events = await _events(conn)
        assert [e["event"] for e in events] == ["task.adjudicated"]
        assert events[0]["payload"]["final_answer"] == {"chosen_response": "B"}
        # Code that adjudicates some other way raises the same event with one call.
        assert await webhooks.enqueue(conn, "task.adjudicated", {"task_id": str(task)})
    await Worker(connector(db_url), FAST).drain()
    assert [r.json["type"] for r in receiver.received] == ["task.adjudicated"] * 2


async def test_deliveries_are_signed_and_verifiable(db_url, receiver):
    hook, task, people = await _setup(db_url, receiver.url, ["response.created"])
    async with connector(db_url)() as conn:
        await _answer(conn, task, people[0], "B")
    assert await Worker(connector(db_url), FAST).drain() == 1
    (got,) = receiver.received
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert headers["x-whstudio-event"] == "response.created"
    signature = headers["x-whstudio-signature"]
    assert webhooks.verify(hook["secret"], signature, got.body, now=int(time.time()))
    assert not webhooks.verify("another-secret-0123456", signature, got.body, now=int(time.time()))
    assert not webhooks.verify(hook["secret"], signature, got.body + b" ", now=int(time.time()))
    assert not webhooks.verify(hook["secret"], signature, got.body, now=int(time.time()) + 3600)
    assert got.json["type"] == "response.created"
    assert got.json["data"]["chosen_response"] == "B"
    assert got.json["data"]["task_id"] == str(task)


async def test_failures_are_retried_with_backoff_and_logged(db_url, receiver):
    await _setup(db_url, receiver.url, ["task.adjudicated"])
    receiver.script = [500, 503]
    async with connector(db_url)() as conn:
        await webhooks.enqueue(conn, "task.adjudicated", {"task_id": "t"})
    # A backoff long enough that the immediate second pass finds nothing due, even on a busy
    # machine.
    slow = Policy(
        max_attempts=3, backoff_base=0.5, timeout=5, poll_seconds=0.05, lease=0.3, allowed=LOCAL
    )
    worker = Worker(connector(db_url), slow)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0  # waiting out the backoff
    deadline = time.monotonic() + 15
    while len(receiver.received) < 3 and time.monotonic() < deadline:
        await worker.run_once()
        await asyncio.sleep(0.02)
    async with connector(db_url)() as conn:
        (delivery,) = await webhooks.deliveries(conn)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["log"]] == [500, 503, 200]
    # each retry waited at least its backoff: 0.5 s, then 1 s
    started = [datetime.fromisoformat(a["started_at"]) for a in delivery["log"]]
    assert (started[1] - started[0]).total_seconds() >= 0.5
    assert (started[2] - started[1]).total_seconds() >= 1.0
    assert [int(r.headers["X-WHStudio-Attempt"]) for r in receiver.received] == [1, 2, 3]
    assert len({r.headers["X-WHStudio-Event-Id"] for r in receiver.received}) == 1


def test_backoff_doubles_up_to_an_hour():
    assert [webhooks.backoff_seconds(n, 10) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert webhooks.backoff_seconds(20, 10) == 3600


async def test_a_delivery_gives_up_after_its_last_attempt_and_can_be_retried(db_url, receiver):
    await _setup(db_url, receiver.url, ["task.adjudicated"])
    receiver.script = [500] * 3
    async with connector(db_url)() as conn:
        await webhooks.enqueue(conn, "task.adjudicated", {"task_id": "t"})
    worker = Worker(connector(db_url), FAST)
    for _ in range(100):
        await worker.run_once()
        if len(receiver.received) == 3:
            break
        await asyncio.sleep(0.02)
    async with connector(db_url)() as conn:
        (delivery,) = await webhooks.deliveries(conn)
        assert delivery["status"] == "failed" and delivery["last_status_code"] == 500
        await webhooks.redeliver(conn, delivery["id"])
    assert await worker.drain() == 1
    async with connector(db_url)() as conn:
        (delivery,) = await webhooks.deliveries(conn)
    assert delivery["status"] == "delivered" and len(delivery["log"]) == 4


async def test_an_unreachable_receiver_is_an_error_in_the_log(db_url):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/gone"
    await _setup(db_url, dead, ["task.adjudicated"])
    async with connector(db_url)() as conn:
        await webhooks.enqueue(conn, "task.adjudicated", {"task_id": "t"})
    await Worker(connector(db_url), FAST).run_once()
    async with connector(db_url)() as conn:
        (delivery,) = await webhooks.deliveries(conn)
    assert delivery["status"] == "pending" and "Connect" in delivery["log"][0]["error"]


async def test_a_worker_that_dies_mid_delivery_loses_nothing(db_url, receiver):
    await _setup(db_url, receiver.url, ["task.adjudicated"])
    async with connector(db_url)() as conn:
        for i in range(5):
            await webhooks.enqueue(conn, "task.adjudicated", {"task_id": f"t{i}"})
        # A worker claims everything and dies before posting or recording anything.
        claimed = await webhooks.claim(conn, limit=10, lease_seconds=FAST.lease_seconds)
        assert len(claimed) == 5
    restarted = Worker(connector(db_url), FAST)
    assert await restarted.run_once() == 0  # still leased to the dead worker
    await asyncio.sleep(FAST.lease_seconds + 0.1)
    assert await restarted.drain() == 5
    assert sorted(r.json["data"]["task_id"] for r in receiver.received) == [
        f"t{i}" for i in range(5)
    ]


async def test_concurrent_workers_deliver_each_event_once(db_url, receiver):
    await _setup(db_url, receiver.url, ["task.adjudicated"])
    async with connector(db_url)() as conn:
        async with conn.transaction():
            for i in range(40):
                await webhooks.enqueue(conn, "task.adjudicated", {"task_id": f"t{i}"})
    policy = Policy(batch=3, timeout=5, backoff_base=0.05, lease=30, allowed=LOCAL)
    workers = [Worker(connector(db_url), policy) for _ in range(4)]
    await asyncio.gather(*(w.drain() for w in workers))
    ids = [r.headers["X-WHStudio-Event-Id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 40


async def test_registration_checks_url_events_and_secret(db_url):
    async with connector(db_url)() as conn:
        for kwargs, field in [
            ({"url": "ftp://x.org/", "events": ["response.created"]}, "url"),
            ({"url": "http:///nohost", "events": ["response.created"]}, "url"),
            ({"url": "http://x.org/", "events": []}, "events"),
            ({"url": "http://x.org/", "events": ["task.deleted"]}, "events"),
            ({"url": "http://x.org/", "events": ["task.adjudicated"], "secret": "short"}, "secret"),
        ]:
            with pytest.raises(InvalidInput) as caught:
                await webhooks.create(conn, **kwargs)
            assert caught.value.field == field
        assert await webhooks.list_all(conn) == []


async def test_the_review_adjudication_raises_exactly_one_event(db_url, receiver):
    from whstudio.domain import review

    hook, task, people = await _setup(db_url, receiver.url, ["task.adjudicated"])
    async with connector(db_url)() as conn:
        async with conn.transaction():
            for person, choice in zip(people[:3], ["A", "B", "A"], strict=True):
                await _answer(conn, task, person, choice)
            reviewer = await users.create_user(conn, "hook-reviewer", None, "reviewer")
            await review.adjudicate(
                conn,
                task,
                reviewer_id=reviewer["id"],
                final_answer={"chosen_response": "B"},
                note="B cites its source",
            )
        events = await _events(conn)
    assert [e["event"] for e in events] == ["task.adjudicated"]
    assert events[0]["payload"]["note"] == "B cites its source"
    await Worker(connector(db_url), FAST).drain()
    (got,) = receiver.received
    assert got.json["data"]["final_answer"] == {"chosen_response": "B"}
    assert webhooks.verify(
        hook["secret"], got.headers["X-WHStudio-Signature"], got.body, now=int(time.time())
    )


async def test_the_worker_loop_outlives_database_errors(db_url, receiver):
    await _setup(db_url, receiver.url, ["task.adjudicated"])
    async with connector(db_url)() as conn:
        await webhooks.enqueue(conn, "task.adjudicated", {"task_id": "t"})
    real = connector(db_url)
    failures = {"left": 2}

    @asynccontextmanager
    async def flaky():
        if failures["left"]:
            failures["left"] -= 1
            raise psycopg.OperationalError("database restarting")
        async with real() as conn:
            yield conn

    worker = Worker(flaky, Policy(poll_seconds=0.02, backoff_base=0.05, timeout=5, allowed=LOCAL))
    worker.start()
    for _ in range(200):
        if receiver.received:
            break
        await asyncio.sleep(0.02)
    await worker.stop()
    assert failures["left"] == 0 and len(receiver.received) == 1
