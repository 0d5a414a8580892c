"""Guidelines per dataset: who may read and publish them, versions, and the version and criteria
each answer records (issue 15, Guidance)."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest

from tests.web.test_tasks import Team, answer, create, pair, shown, user_id

GUIDE = {
    "body": "# Judge helpfulness first\n\nThen accuracy.",
    "criteria": ["helpfulness", "accuracy"],
}


@pytest.fixture
async def team(env):
    t = Team(env)
    await t.add("admin", "admin")
    await t.add("rita", "reviewer")
    await t.add("ann")
    yield t
    await t.close()


async def test_admins_publish_versions_and_everyone_signed_in_reads_them(team):
    url = "/api/admin/datasets/g/guidelines"
    for name in ("ann", "rita"):
        assert (await team.clients[name].put(url, json=GUIDE)).status_code == 403
    assert (await team.env.client.put(url, json=GUIDE)).status_code == 401
    admin = team.clients["admin"]
    first = await admin.put(url, json=GUIDE)
    assert first.status_code == 201 and first.json()["version"] == 1
    same = await admin.put(url, json=GUIDE)
    assert same.status_code == 200 and same.json()["version"] == 1  # nothing new
    second = await admin.put(url, json={**GUIDE, "body": "Judge accuracy first."})
    assert second.status_code == 201 and second.json()["version"] == 2
    for bad, field in (
        ({**GUIDE, "criteria": ["Has Space"]}, "criteria"),
        ({**GUIDE, "criteria": ["a", "a"]}, "criteria"),
        ({**GUIDE, "body": "  "}, "body"),
        ({**GUIDE, "body": "x" * 100_001}, "body"),
        ({**GUIDE, "colour": "red"}, "colour"),
    ):
        refused = await admin.put(url, json=bad)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    ann = team.clients["ann"]
    now = (await ann.get("/api/datasets/g/guidelines")).json()
    assert now["version"] == 2 and now["body"] == "Judge accuracy first."
    old = (await ann.get("/api/datasets/g/guidelines", params={"version": 1})).json()
    assert old["body"] == GUIDE["body"]
    missing = await ann.get("/api/datasets/none/guidelines")
    assert missing.status_code == 404 and missing.json()["field"] == "dataset"
    assert (await ann.get("/api/datasets/g/guidelines", params={"version": 9})).status_code == 404
    versions = (await admin.get("/api/admin/datasets/g/guidelines/versions")).json()
    assert [v["version"] for v in versions] == [2, 1] and versions[0]["created_by"] == "admin"
    assert (await ann.get("/api/admin/datasets/g/guidelines/versions")).status_code == 403


async def test_each_answer_records_its_guidelines_version_and_the_criteria_ticked(team):
    admin, ann = team.clients["admin"], team.clients["ann"]
    tasks = await create(team, [pair(i, dataset="g") for i in range(3)])
    me = await user_id(ann)
    before = await ann.post(f"/api/tasks/{tasks[0]}/submit", json=answer("A"))
    assert before.status_code == 201
    assert (await ann.get(f"/api/tasks/{tasks[1]}")).json()["guidelines"] is None
    await admin.put("/api/admin/datasets/g/guidelines", json=GUIDE)
    view = (await ann.get(f"/api/tasks/{tasks[1]}")).json()
    assert view["guidelines"] == {"version": 1, "criteria": ["helpfulness", "accuracy"]}
    ticked = answer(shown(tasks[1], me, "B"), reasons=["accuracy"])
    done = await ann.post(f"/api/tasks/{tasks[1]}/submit", json=ticked)
    assert done.status_code == 201, done.text
    unknown = answer("A", reasons=["speed"])
    refused = await ann.post(f"/api/tasks/{tasks[2]}/submit", json=unknown)
    assert refused.status_code == 422 and refused.json()["field"] == "reasons"
    assert (await ann.get(f"/api/tasks/{tasks[2]}")).json()["my_answer"] is None  # nothing kept
    await admin.put("/api/admin/datasets/g/guidelines", json={**GUIDE, "criteria": ["speed"]})
    later = await ann.post(f"/api/tasks/{tasks[2]}/submit", json=unknown)
    assert later.status_code == 201, later.text

    mine = {t: (await ann.get(f"/api/tasks/{t}")).json()["my_answer"] for t in tasks}
    assert [mine[t]["guidelines_version"] for t in tasks] == [None, 1, 2]
    assert [mine[t]["reasons"] for t in tasks] == [None, ["accuracy"], ["speed"]]
    exported = await admin.get("/api/export/responses", params={"format": "parquet"})
    assert exported.status_code == 200, exported.text
    rows = pq.read_table(io.BytesIO(exported.content)).to_pylist()
    by_task = {r["task_id"]: r for r in rows}
    assert by_task[tasks[1]]["reasons"] == ["accuracy"]
    assert by_task[tasks[1]]["guidelines_version"] == 1 and by_task[tasks[0]]["reasons"] is None
