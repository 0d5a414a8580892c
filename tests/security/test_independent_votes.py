"""Issue 15, independence of votes: an annotator who saw the per-choice counts could answer
again with the majority, which moved the task to consensus and raised their reputation. Each
dataset now has a reveal policy, and an answer given after its author could see others' answers
is kept and marked but never counted. Each test acts as an annotator trying to herd; the first
failed on the code before the change (the revision moved the task to "reached, 100%")."""

from __future__ import annotations

import pytest

from tests.web.conftest import env, settings  # noqa: F401  (fixtures)
from tests.web.test_tasks import Team, answer, create, pair, shown, user_id


@pytest.fixture
async def team(env):  # noqa: F811
    t = Team(env)
    await t.add("admin", "admin")
    await t.add("rita", "reviewer")
    for name in ("ann", "bob", "cat"):
        await t.add(name)
    yield t
    await t.close()


async def _policy(team, dataset: str, **policy) -> None:
    put = await team.clients["admin"].put(f"/api/admin/datasets/{dataset}/policy", json=policy)
    assert put.status_code == 200, put.text


async def _vote(team, name: str, task: str, canonical: str):
    client = team.clients[name]
    me = await user_id(client)
    return await client.post(f"/api/tasks/{task}/submit", json=answer(shown(task, me, canonical)))


async def _staff_consensus(team, task: str) -> dict:
    return (await team.clients["rita"].get(f"/api/consensus/{task}")).json()


async def _score(team, name: str) -> int:
    rep = await team.clients["rita"].get("/api/users/reputation", params={"user": name})
    return rep.json()["score"]


async def _disputed(team, dataset: str) -> str:
    """A task every answer is in for, with no consensus: bob and cat say A, ann says B."""
    [task] = await create(team, [pair(1, dataset=dataset)])
    for name, choice in (("bob", "A"), ("cat", "A"), ("ann", "B")):
        assert (await _vote(team, name, task, choice)).status_code == 201
    state = await _staff_consensus(team, task)
    assert state["remaining"] == 0 and not state["consensus_reached"]
    return task


async def test_a_revision_after_seeing_the_counts_moves_nothing(team):
    task = await _disputed(team, "herd")
    ann = team.clients["ann"]
    seen = (await ann.get(f"/api/consensus/{task}")).json()  # default: after answering
    assert seen["counts"][shown(task, await user_id(ann), "A")]["count"] == 2
    before_state, before_score = await _staff_consensus(team, task), await _score(team, "ann")

    herded = await _vote(team, "ann", task, "A")  # follow the majority
    assert herded.status_code == 201
    assert herded.json()["counted"] is False and herded.json()["response_version"] == 2
    after = await _staff_consensus(team, task)
    assert after["consensus_reached"] is False
    for key in ("agreement_percentage", "counts", "final_answer", "total_responses"):
        assert after[key] == before_state[key], key
    assert await _score(team, "ann") == before_score

    # Kept and marked for reviewers; the annotator sees which answer counts.
    history = await team.clients["rita"].get(
        f"/api/tasks/{task}/history", params={"user_id": await user_id(ann)}
    )
    versions = {v["response_version"]: v for v in history.json()}
    assert versions[2]["informed"] is True and versions[2]["is_latest"] is False
    assert versions[1]["informed"] is False and versions[1]["is_latest"] is True
    mine = (await ann.get(f"/api/tasks/{task}")).json()["my_answer"]
    assert mine["counted"] is False and mine["response_version"] == 2
    assert mine["counted_answer"]["response_version"] == 1
    # Reviewers find it on the annotator's answers list too.
    listed = await team.clients["rita"].get("/api/users/quality", params={"user": "ann"})
    assert [a["informed"] for a in listed.json()["items"]] == [True, False]


async def test_a_dataset_that_never_reveals_lets_revisions_count(team):
    await _policy(team, "blind", reveal="never")
    task = await _disputed(team, "blind")
    ann = team.clients["ann"]
    refused = await ann.get(f"/api/consensus/{task}")
    assert refused.status_code == 403 and "does not show" in refused.json()["message"]
    view = (await ann.get(f"/api/tasks/{task}")).json()
    assert view["consensus"] is None and view["reveal"] == "never"
    follow = await ann.get(f"/api/consensus/{task}/stream")
    assert follow.status_code == 403
    quality = (await ann.get("/api/users/quality")).json()["items"][0]
    assert quality["agreed"] is None and quality["agreement_now"] is None
    assert quality["others_now"] is None

    revised = await _vote(team, "ann", task, "A")  # nothing seen: a true change of mind
    assert revised.status_code == 201
    assert revised.json()["counted"] is True and revised.json()["consensus"] is None
    assert (await _staff_consensus(team, task))["consensus_reached"] is True


async def test_a_dataset_that_reveals_on_close_shows_nothing_before(team):
    await _policy(team, "close", reveal="after_close")
    [task] = await create(team, [pair(2, dataset="close")])
    first = await _vote(team, "bob", task, "A")
    assert first.status_code == 201 and first.json()["consensus"] is None
    bob = team.clients["bob"]
    assert (await bob.get(f"/api/consensus/{task}")).status_code == 403
    # While the task is open, bob may change his mind: nothing of the others was shown.
    changed = await _vote(team, "bob", task, "B")
    assert changed.json()["counted"] is True
    await _vote(team, "cat", task, "A")
    last = await _vote(team, "ann", task, "A")  # the third answer closes the task
    assert last.json()["consensus"]["remaining"] == 0
    assert (await bob.get(f"/api/consensus/{task}")).status_code == 200
    after = await _vote(team, "bob", task, "A")  # now informed
    assert after.json()["counted"] is False
    assert (await _staff_consensus(team, task))["consensus_reached"] is False


async def test_staff_answers_after_others_do_not_count(team):
    [task] = await create(team, [pair(3, dataset="herd")])
    await _vote(team, "bob", task, "A")
    rita = team.clients["rita"]
    done = await rita.post(f"/api/tasks/{task}/submit", json=answer("B"))
    assert done.status_code == 201 and done.json()["counted"] is False
    assert (await _staff_consensus(team, task))["total_responses"] == 1


async def test_policies_are_for_admins_and_checked(team):
    url = "/api/admin/datasets/herd/policy"
    for name in ("ann", "rita"):
        assert (await team.clients[name].put(url, json={"reveal": "never"})).status_code == 403
        assert (await team.clients[name].get(url)).status_code == 403
    assert (await team.env.client.get(url)).status_code == 401
    admin = team.clients["admin"]
    default = (await admin.get(url)).json()
    assert default["reveal"] == "after_answer" and default["gold_feedback"] is False
    bad = await admin.put(url, json={"reveal": "sometimes"})
    assert bad.status_code == 422 and bad.json()["field"] == "reveal"
    extra = await admin.put(url, json={"reveal": "never", "colour": "red"})
    assert extra.status_code == 422
    assert (await admin.get(url)).json()["reveal"] == "after_answer"  # nothing changed
    await admin.put(url, json={"gold_feedback": True})
    both = (await admin.get(url)).json()
    assert both["reveal"] == "after_answer" and both["gold_feedback"] is True
    listed = (await admin.get("/api/admin/datasets/policies")).json()
    assert [p["source_dataset"] for p in listed] == ["herd"]


async def test_reviewers_see_the_uncounted_answer_on_the_review_page(team):
    from tests.web.test_pages import HTML

    task = await _disputed(team, "herd")
    await _vote(team, "ann", task, "A")  # after seeing the counts
    page = await team.clients["rita"].get(f"/review/{task}", headers=HTML)
    assert page.status_code == 200
    assert "after seeing the others': not counted" in page.text
