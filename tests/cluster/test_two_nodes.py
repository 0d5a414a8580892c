"""Several app nodes: real `whstudio serve` processes on different ports sharing one database.

Nodes A and B share WHSTUDIO_SECRET_KEY, as the nodes of one deployment must; node C is set up
wrongly, with a key of its own. They serve one database, started once for this module (a node
takes seconds to start on a loaded machine), and every test works on users, tasks and a source
dataset of its own. The tests show that consensus events of an answer sent to one node reach
the event streams of the other through PostgreSQL, that leases, idempotency keys, sign-outs and
token revocations live in the database and hold on every node, and that the signed values
(session cookies, CSRF tokens, list cursors, the A/B order each annotator sees) agree between
nodes only when they share the secret key.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.servers import serving
from whstudio.domain import tasks as tasks_domain
from whstudio.domain import users

SECRET = "cluster-test-secret-0123456789-shared-by-every-node"
OTHER_SECRET = "cluster-test-secret-of-a-node-set-up-wrongly-987654"
PASSWORD = "correct horse battery"
HTML = {"accept": "text/html"}


@contextmanager
def nodes(db_url: str, home: Path, *secrets: str, **env: str) -> Iterator[list[str]]:
    """Serve `db_url` with one node per secret key, each with a WHSTUDIO_HOME of its own; yield
    their base URLs. The nodes start together and stop together."""
    managers = [
        serving(db_url, home / f"node{i}", WHSTUDIO_SECRET_KEY=secret, **env)
        for i, secret in enumerate(secrets)
    ]
    with ThreadPoolExecutor(len(managers)) as threads:
        starts = [threads.submit(m.__enter__) for m in managers]
        wait(starts)
        up = [m for m, s in zip(managers, starts, strict=True) if s.exception() is None]
        try:
            yield [started.result()[1] for started in starts]  # the first failure, if any
        finally:
            list(threads.map(lambda m: m.__exit__(None, None, None), up))


@dataclass
class Cluster:
    db: str  # the database URL
    a: str  # base URLs: A and B share the secret key, C has another
    b: str
    c: str


@pytest.fixture(scope="module")
def cluster(server_url, template_db, tmp_path_factory) -> Iterator[Cluster]:
    from tests.conftest import _create_db, _drop_db

    name = f"whs_cluster_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    db = _create_db(server_url, name, template_db)
    try:
        # A node keeps the API tokens it checked in memory this long unless PostgreSQL tells it
        # they changed (see the revocation test).
        with nodes(
            db,
            tmp_path_factory.mktemp("cluster"),
            SECRET,
            SECRET,
            OTHER_SECRET,
            WHSTUDIO_TOKEN_CACHE_SECONDS="300",
        ) as (a, b, c):
            yield Cluster(db, a, b, c)
    finally:
        _drop_db(server_url, name)


async def _user(db: str, name: str, role: str = "annotator", password=None) -> dict:
    async with await psycopg.AsyncConnection.connect(db, row_factory=dict_row) as c:
        async with c.transaction():
            return await users.create_user(c, name, password, role)


async def _token(db: str, name: str, role: str = "annotator") -> str:
    user = await _user(db, name, role)
    async with await psycopg.AsyncConnection.connect(db, row_factory=dict_row) as c:
        async with c.transaction():
            return (await users.create_token(c, user["id"], "cluster"))["token"]


async def _tasks(db: str, dataset: str, count: int, first: int = 0, **rule) -> list[str]:
    """Create `count` pairwise tasks in `dataset` (the prompts name it: one question per
    content) and return their ids."""
    async with await psycopg.AsyncConnection.connect(db, row_factory=dict_row) as c:
        async with c.transaction():
            made = await tasks_domain.create_many(
                c,
                [
                    {
                        "question_type": "pairwise_ab",
                        "content": {
                            "prompt": f"{dataset} {i}",
                            "optionA": f"left {i}",
                            "optionB": f"right {i}",
                        },
                        "source_dataset": dataset,
                        **rule,
                    }
                    for i in range(first, first + count)
                ],
                creator_id=None,
            )
    return [str(t["task_id"]) for t in made]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _answer(choice: str = "A") -> dict:
    return {"chosen_response": choice, "confidence": 3, "time_spent_seconds": 3}


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


class Events:
    """The SSE messages of a streaming response, read one at a time with a deadline."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        self.lines = response.aiter_lines()

    async def next(self, timeout: float, task: str | None = None) -> dict:
        """The next message (about `task`, when given)."""

        async def read() -> dict:
            event: dict = {}
            async for line in self.lines:
                if line.startswith("id: "):
                    event["id"] = int(line[4:])
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                elif line == "" and "data" in event:
                    if task is None or event["data"]["task_id"] == task:
                        return event
                    event = {}
            raise AssertionError("the stream ended")

        return await asyncio.wait_for(read(), timeout)


async def test_an_answer_sent_to_one_node_reaches_the_streams_of_the_other(cluster):
    admin = await _token(cluster.db, "ev_root", "admin")
    annotators = [await _token(cluster.db, f"ev_ann{i}") for i in range(5)]
    [task] = await _tasks(cluster.db, "events", 1, consensus_threshold=9)
    async with (
        httpx.AsyncClient(base_url=cluster.a, headers=_bearer(admin), timeout=10) as on_a,
        httpx.AsyncClient(base_url=cluster.b, timeout=10) as on_b,
    ):

        async def answer_on_b(token: str) -> float:
            sent = await on_b.post(
                f"/api/tasks/{task}/submit", json=_answer(), headers=_bearer(token)
            )
            assert sent.status_code == 201, sent.text
            return time.monotonic()

        await answer_on_b(annotators[0])  # the task has an event version now
        async with on_a.stream("GET", f"/api/consensus/{task}/stream") as one:
            one_task = Events(one)
            # The task's current state comes first: this stream is subscribed from here on.
            current = await one_task.next(timeout=5)
            assert current["data"]["total_responses"] == 1
            # Resuming from that version, the all-tasks stream misses nothing from here on,
            # whether it gets the next change by its catch-up or live.
            async with on_a.stream(
                "GET", "/api/events", headers={"Last-Event-ID": str(current["id"])}
            ) as every:
                all_tasks = Events(every)
                waits = []
                for n, token in enumerate(annotators[1:4], start=2):
                    answered = await answer_on_b(token)
                    change = await one_task.next(timeout=3)
                    waits.append(time.monotonic() - answered)
                    assert change["data"]["task_id"] == task
                    assert change["data"]["total_responses"] == n
                    assert change["id"] > current["id"]
                    current = change
                    seen = await all_tasks.next(timeout=3, task=task)
                    assert seen["id"] == change["id"] and seen["data"]["total_responses"] == n
        # Event ids are versions from one database sequence: a client that reconnects to the
        # other node (a load balancer's choice) resumes there from the id the first one sent.
        resumed_from = current["id"]
        await answer_on_b(annotators[4])  # meanwhile
        async with on_b.stream(
            "GET",
            f"/api/consensus/{task}/stream",
            headers={**_bearer(admin), "Last-Event-ID": str(resumed_from)},
        ) as elsewhere:
            caught_up = await Events(elsewhere).next(timeout=5)
        assert caught_up["id"] > resumed_from and caught_up["data"]["total_responses"] == 5
    # Each within 3 s (the reads' timeouts), and at least one in under 0.4 s (typically a few
    # ms): through the notification B's publisher sent and A's LISTEN connection heard. A's
    # fallback, its 0.5-s watch of the versions, resynchronises only a full period after it
    # read a version nobody announced: without the notification path no wait is under 0.5 s.
    assert min(waits) < 0.4, waits


async def test_a_lease_taken_through_one_node_holds_on_the_other(cluster):
    x, y = await _token(cluster.db, "le_x"), await _token(cluster.db, "le_y")
    [last_place] = await _tasks(cluster.db, "leases", 1, consensus_threshold=1)
    mine = {"dataset": "leases"}
    async with (
        httpx.AsyncClient(base_url=cluster.a, timeout=10) as on_a,
        httpx.AsyncClient(base_url=cluster.b, timeout=10) as on_b,
    ):
        leased = await on_a.get("/api/tasks/next", params=mine, headers=_bearer(x))
        assert leased.status_code == 200 and leased.json()["id"] == last_place
        # Its one remaining place is X's while the lease lives, whichever node Y asks.
        refused = await on_b.get("/api/tasks/next", params=mine, headers=_bearer(y))
        assert refused.status_code == 204
        again = await on_b.get("/api/tasks/next", params=mine, headers=_bearer(x))
        assert again.status_code == 200 and again.json()["id"] == last_place
        renewed, first = (
            datetime.fromisoformat(r.json()["lease_expires_at"]) for r in (again, leased)
        )
        assert renewed >= first
        refused = await on_a.get("/api/tasks/next", params=mine, headers=_bearer(y))
        assert refused.status_code == 204

        # Many annotators asking at once, half through each node: never more leases than
        # places (3 tasks x 2), and the leased last place is still not handed out.
        fresh = await _tasks(cluster.db, "leases", 3, first=10, consensus_threshold=2)
        tokens = [await _token(cluster.db, f"le_w{i}") for i in range(8)]
        got = await asyncio.gather(
            *(
                (on_a, on_b)[i % 2].get("/api/tasks/next", params=mine, headers=_bearer(t))
                for i, t in enumerate(tokens)
            )
        )
    assert sorted(r.status_code for r in got) == [200] * 6 + [204] * 2
    assert sorted(r.json()["id"] for r in got if r.status_code == 200) == sorted(fresh * 2)


async def test_an_idempotency_key_holds_across_nodes(cluster):
    ann = _bearer(await _token(cluster.db, "id_ann"))
    first_task, raced_task = await _tasks(cluster.db, "idempotency", 2, consensus_threshold=5)
    async with (
        httpx.AsyncClient(base_url=cluster.a, headers=ann, timeout=10) as on_a,
        httpx.AsyncClient(base_url=cluster.b, headers=ann, timeout=10) as on_b,
    ):
        url = f"/api/tasks/{first_task}/submit"
        once = {"Idempotency-Key": "answer-1"}
        first = await on_a.post(url, json=_answer("A"), headers=once)
        assert first.status_code == 201, first.text
        retry = await on_b.post(url, json=_answer("A"), headers=once)
        assert retry.status_code == 200, retry.text
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json()["submission_id"] == first.json()["submission_id"]
        assert retry.json()["consensus"]["total_responses"] == 1
        # The same key for another answer is refused by either node.
        for node in (on_b, on_a):
            other = await node.post(url, json=_answer("B"), headers=once)
            assert other.status_code == 409, other.text
            assert other.json()["field"] == "Idempotency-Key"

        # Sent to both nodes at once (two each: the account's concurrency limit is four per
        # node): one stored answer, every other request a replay of it.
        url = f"/api/tasks/{raced_task}/submit"
        raced = {"Idempotency-Key": "answer-2"}
        sent = await asyncio.gather(
            *(node.post(url, json=_answer("B"), headers=raced) for node in (on_a, on_b) * 2)
        )
        statuses = sorted(r.status_code for r in sent)
        assert statuses == [200, 200, 200, 201], [r.text for r in sent]
        assert len({r.json()["submission_id"] for r in sent}) == 1
        replays = [r for r in sent if r.status_code == 200]
        assert all(r.headers.get("idempotent-replayed") == "true" for r in replays)
        history = await on_a.get(f"/api/tasks/{raced_task}/history")
        assert history.status_code == 200 and len(history.json()) == 1
    with psycopg.connect(cluster.db) as conn:
        stored = conn.execute(
            "SELECT s.task_id::text, count(*), max(c.total_responses) FROM submissions s"
            " JOIN response_consensus c USING (task_id)"
            " WHERE s.task_id = ANY(%s::uuid[]) GROUP BY 1",
            [[first_task, raced_task]],
        ).fetchall()
    assert sorted(stored) == sorted([(first_task, 1, 1), (raced_task, 1, 1)])


async def test_signed_values_agree_between_nodes_only_with_the_same_secret_key(cluster):
    await _user(cluster.db, "sv_ann", password=PASSWORD)
    api_token = _bearer(await _token(cluster.db, "sv_api"))
    pairs = await _tasks(cluster.db, "signed", 20)
    async with (
        httpx.AsyncClient(base_url=cluster.a, timeout=10) as on_a,
        httpx.AsyncClient(base_url=cluster.b, timeout=10) as on_b,
        httpx.AsyncClient(base_url=cluster.c, timeout=10) as on_c,
    ):
        # Sign in on A through the form.
        form = await on_a.get("/login", headers=HTML)
        signed_in = await on_a.post(
            "/login",
            data={"username": "sv_ann", "password": PASSWORD, "csrf_token": _csrf(form.text)},
            headers=HTML,
        )
        assert signed_in.status_code == 303, signed_in.text
        cookie = signed_in.cookies["whs_session"]
        for other in (on_b, on_c):
            other.cookies.set("whs_session", cookie)
        # B, with the same key, knows A's cookie; C, with another, does not.
        me = await on_b.get("/api/me")
        assert me.status_code == 200 and me.json()["username"] == "sv_ann"
        assert (await on_c.get("/api/me")).status_code == 401

        # A list cursor A signed is accepted by B, and not by C (where an API token, checked
        # in the database, is good).
        mine = {"source_dataset": "signed", "limit": 1}
        listed = await on_a.get("/api/tasks", params=mine)
        cursor = listed.json()["next_cursor"]
        assert cursor
        page = await on_b.get("/api/tasks", params={**mine, "cursor": cursor})
        assert page.status_code == 200, page.text
        assert page.json()["items"][0]["id"] != listed.json()["items"][0]["id"]
        elsewhere = await on_c.get(
            "/api/tasks", params={**mine, "cursor": cursor}, headers=api_token
        )
        assert elsewhere.status_code == 422 and elsewhere.json()["field"] == "cursor"

        # Each annotator sees each pair in an order keyed by the secret: A and B agree on
        # every task, C shows some the other way round (all 20 alike by chance: 2**-20).
        async def first_options(node: httpx.AsyncClient, **how) -> list[str]:
            shown = []
            for task in pairs:  # one at a time: an account's concurrency limit is 4
                view = await node.get(f"/api/tasks/{task}", **how)
                assert view.status_code == 200, view.text
                shown.append(view.json()["content"]["optionA"])
            return shown

        assert await first_options(on_a) == await first_options(on_b)
        on_a_by_token = await first_options(on_a, headers=api_token)
        assert on_a_by_token == await first_options(on_b, headers=api_token)
        assert on_a_by_token != await first_options(on_c, headers=api_token)

        # A CSRF token in a page of A signs a form posted to B: signing out there ends the
        # session on every node (sessions are rows, not node memory).
        home = await on_a.get("/tasks", headers=HTML)
        out = await on_b.post("/logout", data={"csrf_token": _csrf(home.text)})
        assert out.status_code == 303
        assert (await on_a.get("/api/me")).status_code == 401


async def test_a_token_revoked_through_one_node_is_refused_at_once_by_the_other(cluster):
    ann = _bearer(await _token(cluster.db, "rv_ann"))
    async with (
        httpx.AsyncClient(base_url=cluster.a, headers=ann, timeout=10) as on_a,
        httpx.AsyncClient(base_url=cluster.b, headers=ann, timeout=10) as on_b,
    ):
        assert (await on_a.get("/api/me")).status_code == 200  # A keeps it in memory (300 s)
        [mine] = (await on_b.get("/api/tokens")).json()
        assert (await on_b.delete(f"/api/tokens/{mine['id']}")).status_code == 204
        # Only the notification PostgreSQL sends on whstudio_auth, heard by A's listener,
        # makes A forget it before its 300 s are up.
        deadline = time.monotonic() + 3
        while (status := (await on_a.get("/api/me")).status_code) == 200:
            assert time.monotonic() < deadline, "node A still accepts the revoked token"
            await asyncio.sleep(0.05)
        assert status == 401
