"""Issue 15: an annotator could tell which of their answers were gold checks. The reputation
history hid a gold verdict's task but kept its time (the answer's own), the score moved the
moment the answer was stored, and the leaderboard showed everyone's gold successes and trials.
Here an annotator answers gold checks and ordinary tasks alike and reads everything they may
read; nothing may tell the two apart until the admin turns gold feedback on. The first test
failed on the code before the change (a history event of kind "gold" at the answer's time)."""

from __future__ import annotations

import pytest

from tests.web.conftest import env, settings  # noqa: F401  (fixtures)
from tests.web.test_tasks import Team, answer, create, pair, shown, user_id

HTML = {"Accept": "text/html"}


@pytest.fixture
async def team(env):  # noqa: F811
    t = Team(env)
    await t.add("admin", "admin")
    await t.add("rita", "reviewer")
    for name in ("ann", "bob", "cat", "dan"):
        await t.add(name)
    yield t
    await t.close()


async def _answered(team) -> tuple[list[str], list[str]]:
    """Two gold checks (ann gets one right, one wrong) and two ordinary tasks, each answered
    by everyone, so that every task has its answers in and every verdict is given."""
    gold = await create(team, [pair(i, dataset="g", gold_standard="A") for i in range(2)])
    plain = await create(team, [pair(10 + i, dataset="g") for i in range(2)])
    ann = team.clients["ann"]
    me = await user_id(ann)
    for task, choice in zip(gold + plain, ("A", "B", "A", "B"), strict=True):
        done = await ann.post(f"/api/tasks/{task}/submit", json=answer(shown(task, me, choice)))
        assert done.status_code == 201, done.text
    for name in ("bob", "cat"):
        client = team.clients[name]
        them = await user_id(client)
        for task in gold + plain:
            await client.post(f"/api/tasks/{task}/submit", json=answer(shown(task, them, "A")))
    return gold, plain


async def test_nothing_an_annotator_reads_tells_a_gold_check(team):
    gold, plain = await _answered(team)
    ann = team.clients["ann"]
    # Staff see the verdicts, and the score has moved by them.
    staff = await team.clients["rita"].get("/api/users/reputation", params={"user": "ann"})
    assert staff.json()["gold"]["trials"] == 2
    assert any(e["kind"] == "gold" for e in staff.json()["history"])
    assert staff.json()["score"] != 700

    rep = (await ann.get("/api/users/reputation")).json()
    assert "gold" not in rep and "accuracy" not in rep and "agreement" not in rep
    assert rep["score"] == 700 and rep["weight"] == 1.0  # as it stood at the start of today
    assert rep["history"] == []  # every change is today's: it shows from tomorrow
    assert not {"gold_failures", "below_chance"} & set(rep["flags"])
    assert (await ann.get("/api/me")).json()["reputation_score"] == 700

    rows = (await ann.get("/api/users/quality")).json()["items"]
    by_task = {r["task_id"]: r for r in rows}
    for task in gold + plain:
        row = by_task[task]
        assert row["gold_correct"] is None and row["gold_source"] is None
        assert row["agreed"] is not None  # the same "agrees with most others" for every task
        assert row["flagged_for_review"] is None
    shapes = {tuple(sorted(k for k, v in by_task[t].items() if v is None)) for t in gold + plain}
    assert len(shapes) == 1, shapes

    board = (await ann.get("/api/quality/leaderboard")).json()
    assert all(set(row) == {"rank", "username", "score", "answers"} for row in board)
    assert {row["score"] for row in board} == {700}

    views = [(await ann.get(f"/api/tasks/{t}")).json() for t in gold + plain]
    assert len({tuple(sorted(v)) for v in views}) == 1
    assert not any("gold" in str(v) for v in views)
    # Nor does a vote weight (one's own moves at once with a gold verdict).
    for view in views:
        assert "weighted_agreement_percentage" not in view["consensus"]
        assert all("weight" not in part for part in view["consensus"]["counts"].values())

    page = await ann.get("/dashboard", headers=HTML)
    assert page.status_code == 200
    assert "Gold accuracy" not in page.text and ">right<" not in page.text
    assert ">wrong<" not in page.text and "gold checks right" not in page.text


async def test_the_admin_may_show_gold_verdicts(team):
    gold, plain = await _answered(team)
    put = await team.clients["admin"].put(
        "/api/admin/datasets/g/policy", json={"gold_feedback": True}
    )
    assert put.status_code == 200
    rows = (await team.clients["ann"].get("/api/users/quality")).json()["items"]
    verdicts = {r["task_id"]: r["gold_correct"] for r in rows}
    assert [verdicts[t] for t in gold] == [True, False]
    assert [verdicts[t] for t in plain] == [None, None]


async def test_a_gold_check_is_handed_out_only_while_it_needs_answers(team):
    """A gold check used to be handed to every annotator and read "4 of 2 answers"."""
    [gold] = await create(team, [pair(50, dataset="g2", gold_standard="A", consensus_threshold=2)])
    await team.clients["admin"].put("/api/admin/datasets/g2/gold-rate", json={"gold_rate": 1})
    served = []
    for name in ("ann", "bob", "cat", "dan"):
        client = team.clients[name]
        got = await client.get("/api/tasks/next", params={"dataset": "g2"})
        if got.status_code == 204:
            served.append(None)
            continue
        task = got.json()
        served.append(task["id"])
        me = await user_id(client)
        await client.post(
            f"/api/tasks/{task['id']}/submit", json=answer(shown(task["id"], me, "A"))
        )
    assert served == [gold, gold, None, None]
    listed = (await team.clients["dan"].get("/api/tasks", params={"source_dataset": "g2"})).json()
    assert listed["items"][0]["total_responses"] == 2
