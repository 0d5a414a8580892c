"""The quality and review API: each endpoint's roles, refusals included, and its answers."""

from __future__ import annotations

import pytest

from tests.web.test_tasks import Team, answer, create, pair, shown


@pytest.fixture
async def team(env):
    t = Team(env)
    await t.add("admin", "admin")
    await t.add("rita", "reviewer")
    for name in ("ann", "bob", "cat", "dan"):
        await t.add(name)
    yield t
    await t.close()


async def _me(client) -> str:
    return (await client.get("/api/me")).json()["id"]


async def test_reputation_is_ones_own_unless_staff(team):
    ann, rita, admin = team.clients["ann"], team.clients["rita"], team.clients["admin"]
    own = await ann.get("/api/users/reputation")
    assert own.status_code == 200 and own.json()["username"] == "ann"
    assert (await ann.get("/api/users/reputation", params={"user": "ann"})).status_code == 200
    refused = await ann.get("/api/users/reputation", params={"user": "bob"})
    assert refused.status_code == 403
    for staff in (rita, admin):
        other = await staff.get("/api/users/reputation", params={"user": "bob"})
        assert other.status_code == 200 and other.json()["username"] == "bob"
    missing = await rita.get("/api/users/reputation", params={"user": "nobody"})
    assert missing.status_code == 404 and missing.json()["field"] == "user"
    assert (await team.env.client.get("/api/users/reputation")).status_code == 401
    refused = await ann.get("/api/users/quality", params={"user": "bob"})
    assert refused.status_code == 403
    assert (await rita.get("/api/users/quality", params={"user": "bob"})).status_code == 200


async def test_answer_quality_hides_gold_verdicts_from_the_annotator(team):
    (task,) = await create(team, [pair(1, gold_standard="A")])
    ann = team.clients["ann"]
    ann_id = await _me(ann)
    done = await ann.post(f"/api/tasks/{task}/submit", json=answer(shown(task, ann_id, "B")))
    assert done.status_code == 201
    own = (await ann.get("/api/users/quality")).json()["items"]
    assert own[0]["task_id"] == task and own[0]["gold_correct"] is None
    staff = (await team.clients["rita"].get("/api/users/quality", params={"user": "ann"})).json()
    assert staff["items"][0]["gold_correct"] is False
    rep = (await team.clients["rita"].get("/api/users/reputation", params={"user": "ann"})).json()
    assert rep["gold"] == {
        "successes": 0,
        "trials": 1,
        "estimate": pytest.approx(1 / 3, abs=1e-4),
        "interval_95": [pytest.approx(0.0126, abs=1e-3), pytest.approx(0.8419, abs=1e-3)],
    }
    bad = await ann.get("/api/users/quality", params={"cursor": "nonsense"})
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"


async def test_leaderboard_shows_flags_and_weights_only_to_staff(team):
    tasks = await create(team, [pair(i) for i in range(2)])
    for name in ("ann", "bob"):
        client = team.clients[name]
        me = await _me(client)
        for task in tasks:
            await client.post(f"/api/tasks/{task}/submit", json=answer(shown(task, me, "A")))
    board = (await team.clients["ann"].get("/api/quality/leaderboard")).json()
    assert {row["username"] for row in board} == {"ann", "bob"}
    assert "flags" not in board[0] and "weight" not in board[0]
    staff = (await team.clients["rita"].get("/api/quality/leaderboard")).json()
    assert "flags" in staff[0] and "weight" in staff[0]


async def test_agreement_metrics_are_for_staff(team):
    tasks = await create(team, [pair(i, dataset="agree") for i in range(3)])
    for name in ("ann", "bob", "cat"):
        client = team.clients[name]
        me = await _me(client)
        for task in tasks:
            await client.post(f"/api/tasks/{task}/submit", json=answer(shown(task, me, "A")))
    assert (await team.clients["ann"].get("/api/quality/agreement")).status_code == 403
    out = await team.clients["rita"].get("/api/quality/agreement", params={"dataset": "agree"})
    assert out.status_code == 200
    body = out.json()
    assert body["items"] == 3 and body["answers"] == 9
    assert len(body["pairwise"]) == 3 and all(p["agreement"] == 1 for p in body["pairwise"])
    subset = await team.clients["admin"].get(
        "/api/quality/agreement", params=[("task_id", tasks[0]), ("task_id", tasks[1])]
    )
    assert subset.json()["items"] == 2
    bad = await team.clients["rita"].get("/api/quality/agreement", params={"task_id": "x"})
    assert bad.status_code == 422
    one = await team.clients["rita"].get(
        "/api/quality/agreement", params={"dataset": "agree", "pair_limit": 1}
    )
    assert len(one.json()["pairwise"]) == 1 and one.json()["pairs_total"] == 3
    for limit in ("0", "100001", "x"):
        refused = await team.clients["rita"].get(
            "/api/quality/agreement", params={"pair_limit": limit}
        )
        assert refused.status_code == 422 and "pair_limit" in refused.text


async def test_refresh_and_gold_rates_are_for_admins(team):
    for name in ("ann", "rita"):
        client = team.clients[name]
        assert (await client.post("/api/admin/quality/refresh", json={})).status_code == 403
        put = await client.put("/api/admin/datasets/ds/gold-rate", json={"gold_rate": 0.5})
        assert put.status_code == 403
        assert (await client.get("/api/admin/datasets/gold-rates")).status_code == 403
    admin = team.clients["admin"]
    done = await admin.post("/api/admin/quality/refresh", json={"reweight": True})
    assert done.status_code == 200 and done.json()["counters_out_of_step_before"] == 0
    bad = await admin.put("/api/admin/datasets/ds/gold-rate", json={"gold_rate": 1.5})
    assert bad.status_code == 422 and "gold_rate" in bad.json()["field"]
    odd = await admin.post("/api/admin/quality/refresh", json={"reweight": "sometimes"})
    assert odd.status_code == 422


async def test_next_serves_gold_at_the_datasets_rate(team):
    admin = team.clients["admin"]
    plain = await create(team, [pair(i, dataset="mix") for i in range(3)])
    gold = await create(team, [pair(10 + i, dataset="mix", gold_standard="B") for i in range(3)])
    other = await create(team, [pair(20, dataset="elsewhere")])
    ann = team.clients["ann"]
    assert (await admin.put("/api/admin/datasets/mix/gold-rate", json={"gold_rate": 1})).json()[
        "gold_rate"
    ] == 1
    first = await ann.get("/api/tasks/next", params={"dataset": "mix"})
    assert first.json()["id"] in gold
    await ann.post(f"/api/tasks/{first.json()['id']}/skip", json={"reason": "next one"})
    await admin.put("/api/admin/datasets/mix/gold-rate", json={"gold_rate": 0})
    second = await ann.get("/api/tasks/next", params={"dataset": "mix"})
    assert second.json()["id"] in plain
    rates = (await admin.get("/api/admin/datasets/gold-rates")).json()
    assert [(r["source_dataset"], r["gold_rate"]) for r in rates] == [("mix", 0)]
    cleared = await admin.put("/api/admin/datasets/mix/gold-rate", json={"gold_rate": None})
    assert cleared.json()["gold_rate"] is None
    # Only the dataset asked for is handed out.
    bob = team.clients["bob"]
    got = await bob.get("/api/tasks/next", params={"dataset": "elsewhere"})
    assert got.json()["id"] == other[0]
    assert (await bob.get("/api/tasks/next", params={"dataset": ""})).status_code == 422


async def test_review_queue_detail_and_adjudication_roles_and_effects(team):
    (task,) = await create(team, [pair(1, consensus_threshold=4)])
    for name, choice in zip(("ann", "bob", "cat", "dan"), "AABB", strict=True):
        client = team.clients[name]
        me = await _me(client)
        body = answer(shown(task, me, choice), explanation=f"{name} thinks {choice}")
        assert (await client.post(f"/api/tasks/{task}/submit", json=body)).status_code == 201
    ann, rita = team.clients["ann"], team.clients["rita"]
    assert (await ann.get("/api/review/queue")).status_code == 403
    assert (await ann.get(f"/api/review/tasks/{task}")).status_code == 403
    refused = await ann.post(
        f"/api/review/tasks/{task}/adjudicate",
        json={"final_answer": {"chosen_response": "A"}, "note": "mine"},
    )
    assert refused.status_code == 403
    queue = (await rita.get("/api/review/queue")).json()
    assert [(i["task_id"], i["reason"]) for i in queue["items"]] == [(task, "disputed")]
    assert queue["sizes"]["disputed"] == 1
    detail = (await rita.get(f"/api/review/tasks/{task}")).json()
    assert len(detail["answers"]) == 4
    assert {a["explanation"] for a in detail["answers"]} == {
        f"{n} thinks {c}" for n, c in zip(("ann", "bob", "cat", "dan"), "AABB", strict=True)
    }
    assert all("reputation_score" in a for a in detail["answers"])
    bad = await rita.post(
        f"/api/review/tasks/{task}/adjudicate",
        json={"final_answer": {"chosen_response": "C"}, "note": "x"},
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "final_answer.chosen_response"
    empty = await rita.post(
        f"/api/review/tasks/{task}/adjudicate",
        json={"final_answer": {"chosen_response": "A"}, "note": "  "},
    )
    assert empty.status_code == 422
    done = await rita.post(
        f"/api/review/tasks/{task}/adjudicate",
        json={"final_answer": {"chosen_response": "A"}, "note": "A answers the question"},
    )
    assert done.status_code == 201, done.text
    assert done.json()["reviewer"] == "rita"
    again = await team.clients["admin"].post(
        f"/api/review/tasks/{task}/adjudicate",
        json={"final_answer": {"chosen_response": "B"}, "note": "second thoughts"},
    )
    assert again.status_code == 409
    state = (await rita.get(f"/api/consensus/{task}")).json()
    assert state["method"] == "adjudicated" and state["final_answer"] == {"chosen_response": "A"}
    assert (await rita.get("/api/review/queue")).json()["items"] == []
    missing = await rita.post(
        "/api/review/tasks/00000000-0000-0000-0000-000000000000/adjudicate",
        json={"final_answer": {"chosen_response": "A"}, "note": "x"},
    )
    assert missing.status_code == 404


async def test_vote_pair_agreement_is_for_staff_and_groups_are_set_by_admins(team):
    tasks = await create(team, [pair(i, dataset="vp") for i in range(2)])
    choices = {"ann": "A", "bob": "A", "cat": "B"}
    for name, choice in choices.items():
        client = team.clients[name]
        me = await _me(client)
        for task in tasks:
            await client.post(f"/api/tasks/{task}/submit", json=answer(shown(task, me, choice)))
    url = "/api/quality/agreement/vote-pairs"
    assert (await team.clients["ann"].get(url)).status_code == 403
    everyone = (await team.clients["rita"].get(url, params={"dataset": "vp"})).json()
    # per task: ann-bob agree, ann-cat and bob-cat do not
    assert everyone["overall"]["with_ties"] == {"agreement": 0.3333, "agreeing": 2, "pairs": 6}
    # groups: only admins set them, and agreement follows them at once
    for name in ("ann", "rita"):
        refused = await team.clients[name].patch("/api/users/bob", json={"groups": ["expert"]})
        assert refused.status_code == 403
    for name in ("ann", "bob"):
        done = await team.clients["admin"].patch(f"/api/users/{name}", json={"groups": ["expert"]})
        assert done.status_code == 200 and done.json()["groups"] == ["expert"]
    experts = await team.clients["rita"].get(url, params={"dataset": "vp", "group": "expert"})
    assert experts.json()["overall"]["with_ties"] == {"agreement": 1.0, "agreeing": 2, "pairs": 2}
    versus = await team.clients["admin"].get(
        url, params={"dataset": "vp", "group": "expert", "versus": "person"}
    )
    # experts against every person: ann-bob, ann-cat, bob-cat per task, each pair once
    assert versus.json()["overall"]["with_ties"]["pairs"] == 6
    for params, field in (({"by": "a b"}, "by"), ({"versus": "expert"}, "versus")):
        bad = await team.clients["rita"].get(url, params=params)
        assert bad.status_code == 422 and bad.json()["field"] == field
    for body, field in (({"groups": ["Not A Group"]}, "groups.0"), ({"kind": "robot"}, "kind")):
        bad = await team.clients["admin"].patch("/api/users/bob", json=body)
        assert bad.status_code == 422 and bad.json()["field"] == field
    missing = await team.clients["admin"].patch("/api/users/nobody", json={"groups": []})
    assert missing.status_code == 404
    me = (await team.clients["bob"].get("/api/me")).json()
    assert (me["kind"], me["groups"]) == ("person", ["expert"])


async def test_a_newcomer_reads_700_with_weight_one_to_staff_as_to_themselves(env):
    """Issue 15: a newcomer's stored score was 0 beside weight 1.00 on staff pages, while the
    annotator read 700 (revision 0017)."""
    admin = await env.token_for("boss", "admin")
    newcomer = await env.token_for("fresh")
    async with env.client_with(admin) as client:
        staff = (await client.get("/api/users/reputation", params={"user": "fresh"})).json()
        users = (await client.get("/api/users")).json()
    async with env.client_with(newcomer) as client:
        own = (await client.get("/api/users/reputation")).json()
    assert (staff["score"], staff["weight"]) == (700, 1.0)
    assert (own["score"], own["weight"]) == (700, 1.0)
    listed = users["items"] if isinstance(users, dict) else users
    assert {u["username"]: u["reputation_score"] for u in listed}["fresh"] == 700
