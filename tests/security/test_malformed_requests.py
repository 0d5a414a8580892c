"""Issue 16's fuzz job (tests/fuzz) found these: malformed requests that got an undocumented
status, a message naming no field, or were accepted although the schema refuses them. Each
test failed on the code before the fix."""

from __future__ import annotations

from tests.web.conftest import env, settings  # noqa: F401  (fixtures)

PAIR = {"question_type": "pairwise_ab", "content": {"prompt": "p", "optionA": "a", "optionB": "b"}}
ANSWER = {"chosen_response": "A", "confidence": 4, "time_spent_seconds": 30}


async def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(env):  # noqa: F811
    """It was a 400 (undocumented) saying "There was an error parsing the body"."""
    token = await env.token_for("ann")
    async with env.client_with(token) as client:
        answer = await client.post(
            "/api/tokens",
            content=b'{"name": "\xff\xfe"}',
            headers={"content-type": "application/json"},
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "body"
    assert answer.json()["message"] == "body is not UTF-8 text (byte 10 cannot be decoded)"


async def test_a_body_that_is_not_json_names_the_body_and_the_place(env):  # noqa: F811
    """Its field was the character offset ("9") and its message "9 JSON decode error"."""
    token = await env.token_for("ann")
    async with env.client_with(token) as client:
        answer = await client.post(
            "/api/tokens", content=b'{"name": ', headers={"content-type": "application/json"}
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "body"
    assert answer.json()["message"] == "body is not valid JSON (Expecting value at character 9)"


async def test_a_broken_multipart_body_is_a_422_naming_the_body(env):  # noqa: F811
    """It was a 400 (undocumented) saying only "Missing boundary in multipart."."""
    admin = await env.token_for("root", "admin")
    async with env.client_with(admin) as client:
        answer = await client.post(
            "/api/admin/import-items",
            content=b"--x\r\nbroken",
            headers={"content-type": "multipart/form-data"},
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "body"
    assert "multipart/form-data" in answer.json()["message"]


async def test_a_method_not_allowed_names_every_method_of_the_path(env):  # noqa: F811
    """`Allow` named the methods of the first route of the path alone (GET of GET and POST
    /api/tokens), so a client was told POST does not exist there."""
    for method, path, allowed in (
        ("PUT", "/api/tokens", "GET, POST"),
        ("OPTIONS", "/api/admin/datasets/x/policy", "GET, PUT"),
        ("DELETE", "/healthz", "GET"),
    ):
        answer = await env.client.request(method, path)
        assert answer.status_code == 405, (path, answer.text)
        assert answer.headers["allow"] == allowed, path
        assert answer.json()["message"] == f"{method} is not allowed here; use " + (
            " or ".join(allowed.split(", "))
        )


async def test_true_and_false_are_not_numbers_nor_0_and_1_booleans(env):  # noqa: F811
    """JSON true was stored as confidence 1, 0 as allow_tie false, 1 as a webhook's is_active:
    input the schema refuses, accepted silently. Now each is a 422 naming its field, and
    nothing changes."""
    admin = await env.token_for("root", "admin")
    annotator = await env.token_for("ann")
    async with env.client_with(admin) as client:
        made = await client.post("/api/admin/tasks", json={"items": [PAIR]})
        task = made.json()["items"][0]["task_id"]
        for body, field in (
            ({"allow_tie": 0}, "allow_tie"),
            ({"consensus_threshold": True}, "consensus_threshold"),
            ({"min_agreement_percentage": False}, "min_agreement_percentage"),
        ):
            refused = await client.patch(f"/api/admin/tasks/{task}/rule", json=body)
            assert refused.status_code == 422, (body, refused.text)
            assert refused.json()["field"] == field
        bulk = await client.patch(
            "/api/admin/tasks/rules", json={"filter": {"all": 1}, "priority": 2}
        )
        assert bulk.status_code == 422 and bulk.json()["field"] == "filter.all", bulk.text
        created = await client.post(
            "/api/admin/tasks", json={"items": [{**PAIR, "new_task": "yes"}]}
        )
        assert created.status_code == 422, created.text
        assert created.json()["field"] == "items.0.new_task"
        assert created.json()["message"] == "items.0.new_task must be true or false"
        hook = await client.post(
            "/api/webhooks",
            json={"url": "https://example.com/hook", "events": ["response.created"]},
        )
        paused = await client.patch(f"/api/webhooks/{hook.json()['id']}", json={"is_active": 1})
        assert paused.status_code == 422 and paused.json()["field"] == "is_active", paused.text
        detail = await client.get(f"/api/tasks/{task}")
        assert detail.json()["allow_tie"] is False and detail.json()["consensus_threshold"] == 3
    async with env.client_with(annotator) as client:
        refused = await client.post(
            f"/api/tasks/{task}/submit", json={**ANSWER, "confidence": True}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "confidence"
        assert refused.json()["message"] == "confidence must be a number, not true or false"
        assert (await client.get(f"/api/tasks/{task}/history")).json() == []
        assert (await client.post(f"/api/tasks/{task}/submit", json=ANSWER)).status_code == 201


async def test_numbers_are_not_yes_or_no_and_times_are_not_numbers(env):  # noqa: F811
    """The fuzz job's findings in the quality and export routes: `{"reweight": 0}` and
    `{"gold_rate": false}` were read as false and 0.0 (the second changing a dataset's rate),
    `since=0.5` as half a second after 1970."""
    admin = await env.token_for("root", "admin")
    async with env.client_with(admin) as client:
        refresh = await client.post("/api/admin/quality/refresh", json={"reweight": 0})
        assert refresh.status_code == 422 and refresh.json()["field"] == "reweight"
        rate = await client.put("/api/admin/datasets/d/gold-rate", json={"gold_rate": False})
        assert rate.status_code == 422 and rate.json()["field"] == "gold_rate"
        policy = await client.put("/api/admin/datasets/d/policy", json={"gold_feedback": 0})
        assert policy.status_code == 422 and policy.json()["field"] == "gold_feedback"
        for path in ("/api/export/preferences", "/api/export/responses"):
            since = await client.get(path, params={"since": "0.5"})
            assert since.status_code == 422 and since.json()["field"] == "since", since.text
            assert "like 2026-01-31T12:00:00Z" in since.json()["message"]
        fine = await client.get("/api/export/responses", params={"since": "2026-01-31T12:00:00Z"})
        assert fine.status_code == 200
