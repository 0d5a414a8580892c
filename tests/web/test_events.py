"""Live consensus over Server-Sent Events, through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
import time

import httpx


async def _events(response: httpx.Response, count: int, timeout: float = 5.0) -> list[dict]:
    """Read the next `count` SSE messages from a streaming response (one line reader each)."""
    if not hasattr(response, "sse_lines"):
        response.sse_lines = response.aiter_lines()
    lines = response.sse_lines
    found: list[dict] = []
    event: dict = {}

    async def read():
        nonlocal event
        async for line in lines:
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and "data" in event:
                found.append(event)
                event = {}
                if len(found) >= count:
                    return

    await asyncio.wait_for(read(), timeout)
    return found


async def _task(live) -> tuple[str, str, str]:
    admin = await live.env.token_for("root", "admin")
    ann = await live.env.token_for("ann")
    async with httpx.AsyncClient(
        base_url=live.base_url, headers={"Authorization": f"Bearer {admin}"}
    ) as client:
        made = await client.post(
            "/api/admin/tasks",
            json={
                "items": [
                    {
                        "question_type": "pairwise_ab",
                        "consensus_threshold": 5,
                        "content": {"prompt": "p", "optionA": "a", "optionB": "b"},
                    }
                ]
            },
        )
    return made.json()["items"][0]["task_id"], admin, ann


async def _answer(live, token: str, task: str) -> None:
    async with httpx.AsyncClient(
        base_url=live.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        r = await client.post(
            f"/api/tasks/{task}/submit",
            json={"chosen_response": "A", "confidence": 3, "time_spent_seconds": 3},
        )
        assert r.status_code == 201


async def test_a_consensus_change_reaches_a_subscriber_within_a_second(live):
    task, admin, ann = await _task(live)
    headers = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=live.base_url, headers=headers, timeout=10) as client:
        async with client.stream("GET", f"/api/consensus/{task}/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            [current] = await _events(stream, 1)
            assert current["data"]["total_responses"] == 0
            started = time.monotonic()
            await _answer(live, ann, task)
            [change] = await _events(stream, 1)
            assert time.monotonic() - started < 1.0
            assert change["data"]["total_responses"] == 1 and change["id"] > current["id"]


async def test_a_reconnecting_client_resumes_from_last_event_id(live):
    task, admin, ann = await _task(live)
    headers = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=live.base_url, headers=headers, timeout=10) as client:
        async with client.stream("GET", "/api/events") as stream:
            await _answer(live, ann, task)
            [seen] = await _events(stream, 1)
        bob = await live.env.token_for("bob")
        cat = await live.env.token_for("cat")
        await _answer(live, bob, task)
        await _answer(live, cat, task)
        async with client.stream(
            "GET", "/api/events", headers={"Last-Event-ID": str(seen["id"])}
        ) as stream:
            [caught_up] = await _events(stream, 1)
    assert caught_up["data"]["total_responses"] == 3 and caught_up["id"] > seen["id"]


async def test_annotators_get_progress_only_and_no_stream_before_answering(live):
    task, _, ann = await _task(live)
    headers = {"Authorization": f"Bearer {ann}"}
    async with httpx.AsyncClient(base_url=live.base_url, headers=headers, timeout=10) as client:
        refused = await client.get(f"/api/consensus/{task}/stream")
        assert refused.status_code == 403
        async with client.stream("GET", "/api/events") as stream:
            bob = await live.env.token_for("bob")
            await _answer(live, bob, task)
            [event] = await _events(stream, 1)
        assert set(event["data"]) == {
            "task_id",
            "version",
            "total_responses",
            "remaining",
            "consensus_reached",
        }
        bad = await client.get("/api/events", headers={"Last-Event-ID": "abc"})
        assert bad.status_code == 422 and bad.json()["field"] == "Last-Event-ID"
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as anonymous:
        assert (await anonymous.get("/api/events")).status_code == 401


async def test_a_change_nobody_notified_still_reaches_subscribers_within_a_second(live):
    """Writers may defer their events and never publish them (the legacy migration's old-path
    writes do): the broker's watch finds the changed row by its version."""
    import psycopg

    task, admin, _ = await _task(live)
    headers = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=live.base_url, headers=headers, timeout=10) as client:
        async with client.stream("GET", "/api/events") as stream:
            await asyncio.sleep(0.2)  # the stream has started: it reads from now on
            async with await psycopg.AsyncConnection.connect(live.env.url) as conn:
                cur = await conn.execute("SELECT id FROM users WHERE username = 'root'")
                (user_id,) = await cur.fetchone()
                # submit_answer_v2 returns its events instead of notifying; nobody publishes
                cur = await conn.execute(
                    "SELECT submit_answer_v2(%s, %s, 'B', NULL, NULL, NULL, 2, NULL, 5, 'AB',"
                    " NULL) -> 'events'",
                    [task, user_id],
                )
                (events,) = await cur.fetchone()
                assert events  # it had something to say, and kept it
                await conn.commit()
            started = time.monotonic()
            [event] = await _events(stream, 1)
            waited = time.monotonic() - started
    assert event["data"]["task_id"] == task and event["data"]["total_responses"] == 1
    assert waited < 1.2, waited
    assert live.env.app.state.broker.resyncs >= 1


async def test_a_new_subscriber_without_last_event_id_gets_no_history(live):
    """A resynchronisation replays what changed since the stream started, not everything."""
    task, admin, ann = await _task(live)
    await _answer(live, ann, task)  # history before the stream
    headers = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=live.base_url, headers=headers, timeout=10) as client:
        async with client.stream("GET", "/api/events") as stream:
            await asyncio.sleep(0.2)
            for queue in list(live.env.app.state.broker.subscribers):
                from whstudio.web.events import RESYNC

                queue.put_nowait(RESYNC)
            bob = await live.env.token_for("bob")
            await _answer(live, bob, task)
            [first] = await _events(stream, 1)
    assert first["data"]["total_responses"] == 2
