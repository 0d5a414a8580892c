"""The annotation API: dashboard, task views, answers, consensus, next task, admin changes."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from whstudio.domain.responses import shown_order


def pair(i: int, **task) -> dict:
    return {
        "question_type": "pairwise_ab",
        "content": {"prompt": f"prompt {i}", "optionA": f"left {i}", "optionB": f"right {i}"},
        "source_dataset": task.pop("dataset", "ds"),
        **task,
    }


class Team:
    """An admin, a reviewer and annotators, each with an API client."""

    def __init__(self, env):
        self.env = env
        self.clients = {}

    async def add(self, name: str, role: str = "annotator"):
        token = await self.env.token_for(name, role)
        client = self.env.client_with(token)
        self.clients[name] = client
        return client

    async def close(self):
        for client in self.clients.values():
            await client.aclose()


@pytest.fixture
async def team(env):
    t = Team(env)
    await t.add("admin", "admin")
    await t.add("rita", "reviewer")
    for name in ("ann", "bob", "cat"):
        await t.add(name)
    yield t
    await t.close()


async def create(team, items) -> list[str]:
    response = await team.clients["admin"].post("/api/admin/tasks", json={"items": items})
    assert response.status_code == 201, response.text
    return [item["task_id"] for item in response.json()["items"]]


def answer(choice="A", **extra):
    return {"chosen_response": choice, "confidence": 4, "time_spent_seconds": 30, **extra}


def shown(task_id: str, user_id, canonical: str) -> str:
    """The label an annotator must send to mean the canonical choice."""
    order = shown_order(task_id, user_id)
    return canonical if order == "AB" or canonical == "tie" else {"A": "B", "B": "A"}[canonical]


async def user_id(client):
    return (await client.get("/api/me")).json()["id"]


async def count(env, sql: str, *args) -> int:
    with psycopg.connect(env.url) as conn:
        return conn.execute(sql, args).fetchone()[0]


async def test_bulk_creation_is_idempotent_and_admin_only(team):
    items = [pair(i) for i in range(3)]
    first = await team.clients["admin"].post("/api/admin/tasks", json={"items": items})
    again = await team.clients["admin"].post("/api/admin/tasks", json={"items": items})
    assert first.json()["tasks_created"] == 3 and again.json()["tasks_created"] == 0
    refused = await team.clients["ann"].post("/api/admin/tasks", json={"items": items})
    assert refused.status_code == 403
    bad = await team.clients["admin"].post(
        "/api/admin/tasks",
        json={"items": [pair(9), {"question_type": "pairwise_ab", "content": {"prompt": "p"}}]},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "items.1.content.optionA"
    assert await count(team.env, "SELECT count(*) FROM tasks") == 3


async def test_items_with_one_text_and_different_source_keys_get_a_task_each(team):
    same = {"content": {"prompt": "p", "optionA": "same", "optionB": "words"}}
    items = [
        pair(0, **same, source_key="q1/gpt-4/vicuna", metadata={"model_a": "gpt-4"}),
        pair(0, **same, source_key="q1/gpt-4/alpaca", metadata={"model_a": "gpt-4x"}),
        pair(0, **same),
    ]
    first = (await team.clients["admin"].post("/api/admin/tasks", json={"items": items})).json()
    assert [i["question_created"] for i in first["items"]] == [True, False, False]
    assert len({i["task_id"] for i in first["items"]}) == 3
    again = (await team.clients["admin"].post("/api/admin/tasks", json={"items": items})).json()
    assert again["tasks_created"] == 0
    assert [i["task_id"] for i in again["items"]] == [i["task_id"] for i in first["items"]]
    # each task reads its own item's metadata over the question's
    detail = await team.clients["admin"].get(f"/api/tasks/{first['items'][1]['task_id']}")
    canonical = detail.json()["canonical"]
    assert (canonical["metadata"]["model_a"], canonical["source_key"]) == (
        "gpt-4x",
        "q1/gpt-4/alpaca",
    )
    too_long = pair(1, source_key="k" * 501)
    refused = await team.clients["admin"].post("/api/admin/tasks", json={"items": [too_long]})
    assert refused.status_code == 422 and refused.json()["field"] == "items.0.source_key"


async def test_the_dashboard_filters_sorts_and_pages_without_gaps(team):
    ids = await create(team, [pair(i, priority=1 + i % 5) for i in range(23)])
    await create(team, [pair(100, dataset="other")])
    client = team.clients["ann"]
    seen, cursor = [], None
    while True:
        params = {"limit": 5, "sort": "priority", "source_dataset": "ds"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/tasks", params=params)).json()
        assert page["total"] == 23
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    items = (await client.get("/api/tasks", params={"limit": 200, "sort": "priority"})).json()
    priorities = [i["priority"] for i in items["items"]]
    assert priorities == sorted(priorities, reverse=True)
    assert (
        "final_answer" not in items["items"][0] and "agreement_percentage" not in items["items"][0]
    )
    staff = (await team.clients["rita"].get("/api/tasks", params={"limit": 1})).json()
    assert "final_answer" in staff["items"][0]
    bad = await client.get("/api/tasks", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
    bad_sort = await client.get("/api/tasks", params={"sort": "random"})
    assert bad_sort.status_code == 422 and bad_sort.json()["field"] == "sort"


async def test_annotators_see_no_gold_and_no_consensus_until_they_answer(team):
    [task] = await create(team, [pair(1, gold_standard="A")])
    ann = team.clients["ann"]
    view = (await ann.get(f"/api/tasks/{task}")).json()
    assert "canonical" not in view and view["consensus"] is None and view["my_answer"] is None
    assert "gold" not in str(view)
    assert (await ann.get(f"/api/consensus/{task}")).status_code == 403
    await team.clients["bob"].post(f"/api/tasks/{task}/submit", json=answer("A"))
    ann_id = await user_id(ann)
    done = await ann.post(f"/api/tasks/{task}/submit", json=answer(shown(task, ann_id, "A")))
    assert done.status_code == 201
    view = (await ann.get(f"/api/tasks/{task}")).json()
    assert view["consensus"]["total_responses"] == 2
    assert view["my_answer"]["chosen_response"] == shown(task, ann_id, "A")
    state = (await ann.get(f"/api/consensus/{task}")).json()
    assert state["counts"][shown(task, ann_id, "A")]["count"] >= 1
    staff = (await team.clients["rita"].get(f"/api/tasks/{task}")).json()
    assert staff["canonical"]["gold_standard"] == "A"
    assert staff["canonical"]["content"]["optionA"] == "left 1"


async def test_each_annotator_sees_a_stable_order_and_answers_are_stored_canonically(team):
    [task] = await create(team, [pair(1)])
    ann = team.clients["ann"]
    ann_id = await user_id(ann)
    order = shown_order(task, ann_id)
    first = (await ann.get(f"/api/tasks/{task}")).json()
    second = (await ann.get(f"/api/tasks/{task}")).json()
    assert first["content"] == second["content"] and first["shown_order"] == order
    left_text = first["content"]["optionA"]
    await ann.post(f"/api/tasks/{task}/submit", json=answer("A"))  # picks what is on the left
    stored = await count(
        team.env, "SELECT CASE chosen_response WHEN 'A' THEN 1 ELSE 2 END FROM submissions"
    )
    assert (stored == 1) == (left_text == "left 1")


async def test_an_annotator_who_always_picks_the_left_splits_evenly(team):
    ids = await create(team, [pair(i) for i in range(200)])
    ann = team.clients["ann"]
    for task in ids:
        response = await ann.post(f"/api/tasks/{task}/submit", json=answer("A"))
        assert response.status_code == 201
    a = await count(team.env, "SELECT count(*) FROM submissions WHERE chosen_response = 'A'")
    # Binomial(200, 0.5): 70..130 holds with probability > 0.9999.
    assert 70 <= a <= 130, a


async def test_a_revision_supersedes_and_history_is_kept(team):
    [task] = await create(team, [pair(1)])
    ann = team.clients["ann"]
    await ann.post(f"/api/tasks/{task}/submit", json=answer("A"))
    second = await ann.post(f"/api/tasks/{task}/submit", json=answer("B", explanation="changed"))
    assert second.json()["response_version"] == 2
    assert second.json()["consensus"]["total_responses"] == 1
    history = (await ann.get(f"/api/tasks/{task}/history")).json()
    assert [h["response_version"] for h in history] == [2, 1]
    assert history[0]["explanation"] == "changed"
    ann_id = await user_id(ann)
    assert (
        await team.clients["bob"].get(f"/api/tasks/{task}/history", params={"user_id": ann_id})
    ).status_code == 403
    assert (
        len(
            (
                await team.clients["rita"].get(
                    f"/api/tasks/{task}/history", params={"user_id": ann_id}
                )
            ).json()
        )
        == 2
    )


async def test_an_idempotency_key_makes_a_retry_count_once(team):
    first_task, other_task = await create(team, [pair(1), pair(2)])
    ann = team.clients["ann"]
    headers = {"Idempotency-Key": "retry-1"}
    one = await ann.post(f"/api/tasks/{first_task}/submit", json=answer("A"), headers=headers)
    two = await ann.post(f"/api/tasks/{first_task}/submit", json=answer("A"), headers=headers)
    assert one.status_code == 201 and two.status_code == 200
    assert two.headers["idempotent-replayed"] == "true"
    assert one.json()["submission_id"] == two.json()["submission_id"]
    assert two.json()["consensus"]["total_responses"] == 1
    clash = await ann.post(f"/api/tasks/{other_task}/submit", json=answer("A"), headers=headers)
    assert clash.status_code == 409 and clash.json()["field"] == "Idempotency-Key"
    together = await asyncio.gather(
        *(
            ann.post(
                f"/api/tasks/{other_task}/submit",
                json=answer("B"),
                headers={"Idempotency-Key": "burst"},
            )
            for _ in range(4)  # as many as an account may have in progress at once
        )
    )
    assert sorted(r.status_code for r in together) == [200] * 3 + [201]
    assert await count(team.env, "SELECT count(*) FROM submissions") == 2


BAD_ANSWERS = [
    ({"chosen_response": "C", "confidence": 3, "time_spent_seconds": 1}, "chosen_response"),
    ({"chosen_response": "A", "confidence": 6, "time_spent_seconds": 1}, "confidence"),
    ({"chosen_response": "A", "confidence": "high", "time_spent_seconds": 1}, "confidence"),
    ({"chosen_response": "A", "confidence": 3, "time_spent_seconds": -1}, "time_spent_seconds"),
    ({"chosen_response": "A", "confidence": 3, "time_spent_seconds": 90000}, "time_spent_seconds"),
    ({"chosen_response": "A", "confidence": 3}, "time_spent_seconds"),
    (
        {
            "chosen_response": "A",
            "confidence": 3,
            "time_spent_seconds": 1,
            "explanation": "x" * 5001,
        },
        "explanation",
    ),
    ({"chosen_response": "tie", "confidence": 3, "time_spent_seconds": 1}, "chosen_response"),
    ({"confidence": 3, "time_spent_seconds": 1}, "chosen_response"),
    (
        {"chosen_response": "A", "ranking": [0, 1], "confidence": 3, "time_spent_seconds": 1},
        "ranking",
    ),
    ({"chosen_response": "A", "confidence": 3, "time_spent_seconds": 1, "extra": 1}, "extra"),
]


@pytest.mark.parametrize(("body", "field"), BAD_ANSWERS)
async def test_bad_answers_get_422_naming_the_field_and_change_nothing(team, body, field):
    [task] = await create(team, [pair(1)])
    response = await team.clients["ann"].post(f"/api/tasks/{task}/submit", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert await count(team.env, "SELECT count(*) FROM submissions") == 0


async def test_answers_are_validated_per_question_type(team):
    ids = await create(
        team,
        [
            {
                "question_type": "ranking",
                "content": {"prompt": "order", "options": ["x", "y", "z"]},
            },
            {"question_type": "text_generation", "content": {"prompt": "write"}},
            {
                "question_type": "voice_transcription",
                "content": {"prompt": "listen", "audio_url": "https://example.org/a.wav"},
            },
        ],
    )
    ann = team.clients["ann"]
    base = {"confidence": 3, "time_spent_seconds": 5}
    cases = [
        (ids[0], {"ranking": [0, 0, 1]}, "ranking"),
        (ids[0], {"ranking": [0, 1]}, "ranking"),
        (ids[1], {"text": "   "}, "text"),
        (ids[1], {"chosen_response": "A"}, "chosen_response"),
        (ids[2], {"transcript": ""}, "transcript"),
    ]
    for task, extra, field in cases:
        response = await ann.post(f"/api/tasks/{task}/submit", json={**base, **extra})
        assert response.status_code == 422 and response.json()["field"] == field, extra
    ok = [
        (ids[0], {"ranking": [2, 0, 1]}),
        (ids[1], {"text": "a poem"}),
        (ids[2], {"transcript": "hello world"}),
    ]
    for task, extra in ok:
        response = await ann.post(f"/api/tasks/{task}/submit", json={**base, **extra})
        assert response.status_code == 201, response.text


async def test_ranking_consensus_follows_copeland(team):
    [task] = await create(
        team,
        [
            {
                "question_type": "ranking",
                "consensus_threshold": 3,
                "content": {"prompt": "o", "options": ["x", "y", "z"]},
            }
        ],
    )
    for name, ranking in (("ann", [2, 0, 1]), ("bob", [2, 1, 0]), ("cat", [0, 2, 1])):
        await team.clients[name].post(
            f"/api/tasks/{task}/submit",
            json={"ranking": ranking, "confidence": 3, "time_spent_seconds": 5},
        )
    state = (await team.clients["rita"].get(f"/api/consensus/{task}")).json()
    assert state["final_answer"] == {"ranking": [2, 0, 1]}
    # z beats x (2-1), z beats y (3-0), x beats y (2-1): mean majority share 7/9.
    assert state["agreement_percentage"] == pytest.approx(77.78)
    assert state["consensus_reached"] is True


async def test_transcription_consensus_takes_the_medoid(team):
    [task] = await create(
        team,
        [
            {
                "question_type": "voice_transcription",
                "consensus_threshold": 3,
                "min_agreement_percentage": 50,
                "content": {"prompt": "p", "audio_url": "https://x/a.wav"},
            }
        ],
    )
    texts = {
        "ann": "the cat sat on the mat",
        "bob": "the cat sat on a mat",
        "cat": "a cat sat on the hat",
    }
    for name, text in texts.items():
        await team.clients[name].post(
            f"/api/tasks/{task}/submit",
            json={"transcript": text, "confidence": 3, "time_spent_seconds": 5},
        )
    state = (await team.clients["rita"].get(f"/api/consensus/{task}")).json()
    assert state["final_answer"] == {"transcript": "the cat sat on the mat"}
    assert 50 <= state["agreement_percentage"] < 100 and state["consensus_reached"]


async def test_consensus_is_reached_by_agreement_and_a_tie_never_wins(team):
    tied, agreed, split = await create(
        team,
        [
            pair(1, allow_tie=True, consensus_threshold=2),
            pair(2, consensus_threshold=3),
            pair(3, consensus_threshold=2),
        ],
    )
    ids = {name: await user_id(team.clients[name]) for name in ("ann", "bob", "cat")}

    async def vote(name, task, canonical):
        r = await team.clients[name].post(
            f"/api/tasks/{task}/submit", json=answer(shown(task, ids[name], canonical))
        )
        assert r.status_code == 201, r.text

    await vote("ann", tied, "tie")
    await vote("bob", tied, "tie")
    for name in ("ann", "bob", "cat"):
        await vote(name, agreed, "B")
    await vote("ann", split, "A")
    await vote("bob", split, "B")
    rita = team.clients["rita"]
    tie_state = (await rita.get(f"/api/consensus/{tied}")).json()
    assert tie_state["agreement_percentage"] == 100 and tie_state["final_answer"] is None
    assert tie_state["consensus_reached"] is False
    agreed_state = (await rita.get(f"/api/consensus/{agreed}")).json()
    assert agreed_state["consensus_reached"] and agreed_state["final_answer"] == {
        "chosen_response": "B"
    }
    assert agreed_state["counts"]["B"]["mean_confidence"] == 4.0
    assert agreed_state["mean_time_spent_seconds"] == 30.0
    split_state = (await rita.get(f"/api/consensus/{split}")).json()
    assert split_state["final_answer"] is None and not split_state["consensus_reached"]


async def test_changing_the_rule_recomputes_consensus(team):
    [task] = await create(team, [pair(1, consensus_threshold=3)])
    ann = team.clients["ann"]
    await ann.post(f"/api/tasks/{task}/submit", json=answer("A"))
    await team.clients["bob"].post(
        f"/api/tasks/{task}/submit",
        json=answer(
            shown(
                task,
                await user_id(team.clients["bob"]),
                "B" if shown_order(task, await user_id(ann)) == "BA" else "A",
            )
        ),
    )
    state = (await team.clients["rita"].get(f"/api/consensus/{task}")).json()
    assert state["total_responses"] == 2 and not state["consensus_reached"]
    changed = await team.clients["admin"].patch(
        f"/api/admin/tasks/{task}/rule", json={"consensus_threshold": 2}
    )
    assert changed.status_code == 200 and changed.json()["consensus_reached"] is True
    refused = await ann.patch(f"/api/admin/tasks/{task}/rule", json={"consensus_threshold": 1})
    assert refused.status_code == 403
    bad = await team.clients["admin"].patch(
        f"/api/admin/tasks/{task}/rule", json={"min_agreement_percentage": 0}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "min_agreement_percentage"


async def test_paused_closed_and_expired_tasks_refuse_answers_with_409(team):
    paused, closed = await create(team, [pair(1), pair(2)])
    [expired] = await create(team, [pair(3, expires_at="2020-01-01T00:00:00Z")])
    admin = team.clients["admin"]
    assert (await admin.post(f"/api/admin/tasks/{paused}/pause")).json()["status"] == "paused"
    assert (await admin.post(f"/api/admin/tasks/{closed}/close")).json()["status"] == "completed"
    for task in (paused, closed, expired):
        response = await team.clients["ann"].post(f"/api/tasks/{task}/submit", json=answer())
        assert response.status_code == 409, task
    assert (await admin.post(f"/api/admin/tasks/{paused}/resume")).json()["status"] == "active"
    assert (
        await team.clients["ann"].post(f"/api/tasks/{paused}/submit", json=answer())
    ).status_code == 201
    again = await admin.post(f"/api/admin/tasks/{closed}/pause")
    assert again.status_code == 409
    assert (await team.clients["ann"].post(f"/api/admin/tasks/{paused}/pause")).status_code == 403
    unknown = await team.clients["ann"].post(
        "/api/tasks/00000000-0000-0000-0000-000000000000/submit", json=answer()
    )
    assert unknown.status_code == 404
    assert await count(team.env, "SELECT count(*) FROM submissions") == 1


async def test_next_prefers_tasks_closest_to_consensus_and_never_repeats(team):
    far, near = await create(team, [pair(1, consensus_threshold=5), pair(2, consensus_threshold=5)])
    for name in ("bob", "cat"):
        await team.clients[name].post(f"/api/tasks/{near}/submit", json=answer())
    ann = team.clients["ann"]
    got = await ann.get("/api/tasks/next")
    assert got.status_code == 200 and got.json()["id"] == near
    assert (await ann.get("/api/tasks/next")).json()["id"] == near  # the held lease, again
    await ann.post(f"/api/tasks/{near}/submit", json=answer())
    assert (await ann.get("/api/tasks/next")).json()["id"] == far
    await ann.post(f"/api/tasks/{far}/skip", json={"reason": "not my language"})
    assert (await ann.get("/api/tasks/next")).status_code == 204
    empty = await ann.post(f"/api/tasks/{far}/skip", json={"reason": ""})
    assert empty.status_code == 422 and empty.json()["field"] == "reason"


async def test_leases_stop_overshoot_and_expire_back_into_the_pool(team):
    [task] = await create(team, [pair(1, consensus_threshold=1)])
    first = await team.clients["ann"].get("/api/tasks/next")
    assert first.json()["id"] == task
    assert (await team.clients["bob"].get("/api/tasks/next")).status_code == 204
    with psycopg.connect(team.env.url) as conn:
        conn.execute("UPDATE task_leases SET expires_at = now() - interval '1 second'")
    assert (await team.clients["bob"].get("/api/tasks/next")).json()["id"] == task


async def test_many_annotators_asking_at_once_do_not_overshoot(team):
    ids = await create(team, [pair(i, consensus_threshold=2) for i in range(5)])
    names = [f"w{i}" for i in range(12)]
    for name in names:
        await team.add(name)
    results = await asyncio.gather(*(team.clients[n].get("/api/tasks/next") for n in names))
    taken = [r.json()["id"] for r in results if r.status_code == 200]
    assert len(taken) == 10 and all(taken.count(t) == 2 for t in ids)


async def test_gold_tasks_are_mixed_in(team):
    await create(
        team, [pair(i, gold_standard="A") for i in range(3)] + [pair(10 + i) for i in range(3)]
    )
    team.env.app.state.settings = team.env.app.state.settings.model_copy(update={"gold_rate": 1})
    view = (await team.clients["ann"].get("/api/tasks/next")).json()
    assert view["content"]["prompt"] in {"prompt 0", "prompt 1", "prompt 2"}
    assert "canonical" not in view
    team.env.app.state.settings = team.env.app.state.settings.model_copy(update={"gold_rate": 0})
    view = (await team.clients["bob"].get("/api/tasks/next")).json()
    assert view["content"]["prompt"] in {"prompt 10", "prompt 11", "prompt 12"}


async def test_32_clients_answering_one_task_at_once_are_all_counted(team):
    [task] = await create(team, [pair(1, consensus_threshold=40)])
    names = [f"c{i}" for i in range(32)]
    for name in names:
        await team.add(name)
    results = await asyncio.gather(
        *(
            team.clients[n].post(f"/api/tasks/{task}/submit", json=answer("A" if i % 3 else "B"))
            for i, n in enumerate(names)
        )
    )
    assert [r.status_code for r in results] == [201] * 32
    state = (await team.clients["rita"].get(f"/api/consensus/{task}")).json()
    assert state["total_responses"] == 32
    assert state["counts"]["A"]["count"] + state["counts"]["B"]["count"] == 32
    with psycopg.connect(team.env.url) as conn:
        stored_a = conn.execute(
            "SELECT count(*) FROM submissions WHERE chosen_response = 'A'"
        ).fetchone()[0]
        drift = conn.execute(
            "SELECT count(*) FROM response_consensus c,"
            " consensus_recompute_v1(c.task_id) r"
            " WHERE c.count_a <> r.count_a OR c.total_responses <>"
            " r.total_responses"
        ).fetchone()[0]
    assert state["counts"]["A"]["count"] == stored_a and drift == 0


async def test_one_request_changes_the_rule_of_every_task_a_filter_picks(team):
    turn = [{"turn": 1}, {"turn": 2}]
    ids = await create(
        team,
        [pair(i, dataset="rules", metadata=turn[i % 2], source_key=f"k{i}") for i in range(6)]
        + [pair(9, dataset="other")],
    )
    for task in ids:
        client = team.clients["ann"]
        await client.post(
            f"/api/tasks/{task}/submit", json=answer(shown(task, await user_id(client), "A"))
        )
    url = "/api/admin/tasks/rules"
    body = {"filter": {"dataset": "rules", "metadata": {"turn": 1}}, "consensus_threshold": 1}
    for name in ("ann", "rita"):
        assert (await team.clients[name].patch(url, json=body)).status_code == 403
    done = await team.clients["admin"].patch(url, json=body)
    assert done.status_code == 200, done.text
    assert done.json() == {
        "matched": 3,
        "changed": 3,
        "consensus_reached_before": 0,
        "consensus_reached_after": 3,
        "rule": {"consensus_threshold": 1},
    }
    reached = await count(
        team.env,
        "SELECT count(*) FROM response_consensus WHERE consensus_reached AND task_id = ANY(%s)",
        [*ids],
    )
    assert reached == 3  # turn 2 and the other dataset untouched
    again = (await team.clients["admin"].patch(url, json=body)).json()
    assert (again["matched"], again["changed"], again["consensus_reached_after"]) == (3, 0, 3)
    whole = {"filter": {"dataset": "rules"}, "consensus_threshold": 2, "priority": 5}
    back = (await team.clients["admin"].patch(url, json=whole)).json()
    assert (back["matched"], back["changed"], back["consensus_reached_after"]) == (6, 6, 0)
    # the live rows equal a recompute from scratch
    drift = await count(
        team.env,
        "SELECT count(*) FROM response_consensus c"
        " WHERE (c.consensus_reached, c.remaining) IS DISTINCT FROM"
        "  ((consensus_recompute_v1(c.task_id)).consensus_reached,"
        "   (consensus_recompute_v1(c.task_id)).remaining)",
    )
    assert drift == 0
    for bad, field in (
        ({"filter": {}, "consensus_threshold": 1}, "filter"),
        ({"filter": {"dataset": "rules"}}, "changes"),
        ({"filter": {"metadata": {"a b": 1}}, "priority": 1}, "filter.metadata.a b.[key]"),
        ({"filter": {"dataset": "rules"}, "consensus_threshold": 0}, "consensus_threshold"),
    ):
        refused = await team.clients["admin"].patch(url, json=bad)
        assert refused.status_code == 422, bad
        assert refused.json()["field"] == field, refused.json()
    everything = {"filter": {"all": True}, "priority": 2}
    assert (await team.clients["admin"].patch(url, json=everything)).json()["matched"] == 7


async def test_answers_sent_at_once_are_stored_in_groups_and_each_answered(team):
    """Group commit through the API: answers arriving together share a transaction (the
    /metrics histogram shows groups of more than one), each request gets its own answer, a
    refused one its own 409, and the rest are stored."""
    names = [f"g{i}" for i in range(6)]
    for name in names:
        await team.add(name)
    tasks = await create(team, [pair(100 + i, consensus_threshold=10) for i in range(4)])
    paused = (await team.clients["admin"].post(f"/api/admin/tasks/{tasks[3]}/pause")).status_code
    assert paused == 200
    sent = [(name, task) for name in names for task in tasks]
    got = await asyncio.gather(
        *(
            team.clients[name].post(f"/api/tasks/{task}/submit", json=answer())
            for name, task in sent
        )
    )
    for (_, task), response in zip(sent, got, strict=True):
        if task == tasks[3]:
            assert response.status_code == 409, response.text
        else:
            assert response.status_code == 201, response.text
            assert response.json()["task_id"] == task and response.json()["counted"]
    ids = {r.json()["submission_id"] for r in got if r.status_code == 201}
    assert len(ids) == 18 == await count(team.env, "SELECT count(*) FROM submissions")
    for task in tasks[:3]:
        total = await count(
            team.env, "SELECT total_responses FROM response_consensus WHERE task_id = %s", task
        )
        assert total == 6
    text = (await team.env.client.get("/metrics")).text
    groups = float(text.split("whstudio_submit_group_size_count ")[1].split()[0])
    answers = float(text.split("whstudio_submit_group_size_sum ")[1].split()[0])
    assert answers == len(sent) and groups < answers
