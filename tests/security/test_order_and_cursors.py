"""Issue 15: `shown_order` was an unkeyed hash of (task, user) that anyone could compute, and
the task list's `next_cursor` of `sort=agreement` decoded to the agreement of a task the caller
had not answered. The order is keyed by the server's secret now; annotators may not sort by a
value they do not see, and cursors are signed and bound to their sort. The tests failed on the
code before the change."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import pytest

from tests.web.conftest import env, settings  # noqa: F401  (fixtures)
from tests.web.test_tasks import Team, answer, create, pair
from whstudio.domain import keyed
from whstudio.domain.responses import shown_order


def _unkeyed(task, user) -> str:
    return "AB" if hashlib.sha256(f"{task}:{user}".encode()).digest()[0] & 1 == 0 else "BA"


@pytest.fixture
def own_secret():
    """Key the process for this test only (other tests computed orders with the key in use)."""
    kept = keyed._secret
    yield
    keyed._secret = kept


def test_the_shown_order_cannot_be_computed_from_the_ids(own_secret):
    keyed.configure("one secret")
    pairs = [(uuid.uuid4(), uuid.uuid4()) for _ in range(200)]
    first = [shown_order(t, u) for t, u in pairs]
    assert first != [_unkeyed(t, u) for t, u in pairs]
    assert 60 < first.count("AB") < 140  # still a fair coin
    keyed.configure("another secret")
    assert [shown_order(t, u) for t, u in pairs] != first
    keyed.configure("one secret")
    assert [shown_order(t, u) for t, u in pairs] == first  # stable for one secret


@pytest.fixture
async def team(env):  # noqa: F811
    t = Team(env)
    await t.add("admin", "admin")
    await t.add("rita", "reviewer")
    for name in ("ann", "bob"):
        await t.add(name)
    yield t
    await t.close()


async def test_an_annotator_cannot_order_or_page_by_hidden_agreement(team):
    tasks = await create(team, [pair(i, dataset="c") for i in range(5)])
    for task in tasks[:3]:
        await team.clients["bob"].post(f"/api/tasks/{task}/submit", json=answer("A"))
    ann = team.clients["ann"]
    refused = await ann.get("/api/tasks", params={"sort": "agreement", "limit": 2})
    assert refused.status_code == 403 and refused.json()["field"] == "sort"

    page = (await ann.get("/api/tasks", params={"sort": "created", "limit": 2})).json()
    cursor = page["next_cursor"]
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"agreement" not in raw
    # A cursor made up, altered, or carried to another sort is refused, naming the field.
    made_up = base64.urlsafe_b64encode(json.dumps(["50.00", tasks[0]]).encode()).decode()
    altered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad, sort in ((made_up, "created"), (altered, "created"), (cursor, "priority")):
        got = await ann.get("/api/tasks", params={"sort": sort, "cursor": bad})
        assert got.status_code == 422 and got.json()["field"] == "cursor", (bad, sort)
    nxt = await ann.get("/api/tasks", params={"sort": "created", "limit": 2, "cursor": cursor})
    assert nxt.status_code == 200 and len(nxt.json()["items"]) == 2

    staff = await team.clients["rita"].get("/api/tasks", params={"sort": "agreement", "limit": 2})
    assert staff.status_code == 200
    more = await team.clients["rita"].get(
        "/api/tasks",
        params={"sort": "agreement", "limit": 2, "cursor": staff.json()["next_cursor"]},
    )
    assert more.status_code == 200 and len(more.json()["items"]) == 2
