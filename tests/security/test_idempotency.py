"""Issue 16, item 10: reusing an Idempotency-Key with a different answer returned 200 and the
first answer's result, silently dropping the new answer. It is refused now (409), the first
answer stands, and a true retry still replays. The test failed on the code before the fix."""

from __future__ import annotations

from tests.web.conftest import env, settings  # noqa: F401  (fixtures)

PAIR = {"question_type": "pairwise_ab", "content": {"prompt": "p", "optionA": "a", "optionB": "b"}}


def _answer(choice: str, seconds: int = 30) -> dict:
    return {"chosen_response": choice, "confidence": 4, "time_spent_seconds": seconds}


async def test_a_key_reused_for_a_different_answer_is_refused(env):  # noqa: F811
    admin = await env.token_for("root", "admin")
    annotator = await env.token_for("ann")
    async with env.client_with(admin) as client:
        made = await client.post("/api/admin/tasks", json={"items": [PAIR]})
        task = made.json()["items"][0]["task_id"]
    url = f"/api/tasks/{task}/submit"
    key = {"Idempotency-Key": "once"}
    async with env.client_with(annotator) as client:
        first = await client.post(url, json=_answer("A"), headers=key)
        assert first.status_code == 201, first.text
        for different in (
            _answer("B"),
            _answer("A", seconds=31),
            {**_answer("A"), "confidence": 5},
        ):
            refused = await client.post(url, json=different, headers=key)
            assert refused.status_code == 409, (different, refused.text)
            assert refused.json()["field"] == "Idempotency-Key"
            assert "different answer" in refused.json()["message"]
        retry = await client.post(url, json=_answer("A"), headers=key)
        assert retry.status_code == 200 and retry.headers["idempotent-replayed"] == "true"
        assert retry.json()["consensus"]["total_responses"] == 1
        history = await client.get(f"/api/tasks/{task}/history")
        assert history.status_code == 200 and len(history.json()) == 1
