"""Webhooks over HTTP: admins only, bad input named, and the app's own worker delivering."""

from __future__ import annotations

import asyncio
import time

import pytest

from whstudio.domain import webhooks
from whstudio.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:  # the app's worker polls fast and retries quickly here
    return Settings(
        home=tmp_path,
        secret_key="test-secret-key-0123456789",
        webhook_backoff_seconds=0.05,
        webhook_max_attempts=3,
        webhook_allowed_hosts="127.0.0.1",  # where the test receivers listen
    )


@pytest.fixture
async def admin(env):
    client = env.client_with(await env.token_for("hook-admin", "admin"))
    yield client
    await client.aclose()


async def test_only_admins_manage_webhooks(env, admin, receiver):
    body = {"url": receiver.url, "events": ["response.created"]}
    assert (await env.client.post("/api/webhooks", json=body)).status_code == 401
    for role in ("annotator", "reviewer"):
        other = env.client_with(await env.token_for(f"hook-{role}", role))
        assert (await other.post("/api/webhooks", json=body)).status_code == 403
        assert (await other.get("/api/webhooks")).status_code == 403
        assert (await other.get("/api/webhooks/deliveries")).status_code == 403
        await other.aclose()
    made = await admin.post("/api/webhooks", json=body)
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    listed = (await admin.get("/api/webhooks")).json()
    assert [w["id"] for w in listed] == [made.json()["id"]]
    assert "secret" not in listed[0] and listed[0]["secret_prefix"] == "whsec_"
    paused = await admin.patch(f"/api/webhooks/{made.json()['id']}", json={"is_active": False})
    assert paused.status_code == 200 and paused.json()["is_active"] is False
    assert (await admin.delete(f"/api/webhooks/{made.json()['id']}")).status_code == 204
    assert (await admin.delete(f"/api/webhooks/{made.json()['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.org/x", "events": ["response.created"]}, "url"),
        ({"url": "http://example.org/x", "events": ["task.deleted"]}, "events.0"),
        ({"url": "http://example.org/x", "events": []}, "events"),
        ({"url": "http://example.org/x", "events": ["response.created"], "secret": "s"}, "secret"),
    ],
)
async def test_bad_registrations_are_422_naming_the_field(admin, body, field):
    answer = await admin.post("/api/webhooks", json=body)
    assert answer.status_code == 422 and answer.json()["field"] == field
    assert (await admin.get("/api/webhooks")).json() == []


async def test_the_app_worker_delivers_an_answer_to_the_receiver(env, admin, receiver):
    made = (
        await admin.post(
            "/api/webhooks", json={"url": receiver.url, "events": ["response.created"]}
        )
    ).json()
    receiver.script = [500]  # the first attempt fails; the worker retries
    created = await admin.post(
        "/api/admin/tasks",
        json={
            "items": [
                {
                    "question_type": "pairwise_ab",
                    "content": {"prompt": "p", "optionA": "a", "optionB": "b"},
                }
            ]
        },
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["items"][0]["task_id"]
    annotator = env.client_with(await env.token_for("hook-annotator", "annotator"))
    answered = await annotator.post(
        f"/api/tasks/{task_id}/submit",
        json={"chosen_response": "A", "confidence": 3, "time_spent_seconds": 5},
    )
    await annotator.aclose()
    assert answered.status_code == 201, answered.text
    for _ in range(200):
        if len(receiver.received) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(receiver.received) == 2
    got = receiver.received[-1]
    assert got.json["data"]["task_id"] == task_id
    assert webhooks.verify(
        made["secret"], got.headers["X-WHStudio-Signature"], got.body, now=int(time.time())
    )
    # the receiver has the request before the worker has its answer and records it
    for _ in range(100):
        log = (await admin.get("/api/webhooks/deliveries")).json()
        if log[0]["status"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert log[0]["status"] == "delivered"
    assert [a["status_code"] for a in log[0]["log"]] == [500, 200]


async def test_changes_to_unknown_webhooks_and_deliveries_are_404(env, admin):
    missing = "00000000-0000-0000-0000-000000000000"
    answer = await admin.patch(f"/api/webhooks/{missing}", json={"is_active": True})
    assert answer.status_code == 404 and answer.json()["field"] == "webhook_id"
    answer = await admin.post("/api/webhooks/deliveries/999/retry")
    assert answer.status_code == 404 and answer.json()["field"] == "delivery_id"
    reviewer = env.client_with(await env.token_for("hook-rev2", "reviewer"))
    assert (await reviewer.post("/api/webhooks/deliveries/999/retry")).status_code == 403
    assert (
        await reviewer.patch(f"/api/webhooks/{missing}", json={"is_active": True})
    ).status_code == 403
    assert (await reviewer.delete(f"/api/webhooks/{missing}")).status_code == 403
    await reviewer.aclose()
    bad = await admin.get("/api/webhooks/deliveries", params={"status": "lost"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"
