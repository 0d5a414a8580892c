"""The HTML pages: who may open them, what they show, and how their forms refuse bad input."""

from __future__ import annotations

import json
import re

import httpx
import psycopg
from psycopg.rows import dict_row

from tests.web.conftest import PASSWORD
from whstudio.domain import tasks as tasks_domain

HTML = {"accept": "text/html"}


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def sign_in(env, username: str, role: str = "annotator") -> httpx.AsyncClient:
    """Return a client of its own signed in through the form as a new user."""
    await env.make_user(username, role)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app), base_url="http://test")
    form = await client.get("/login", headers=HTML)
    response = await client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_from(form.text)},
        headers=HTML,
    )
    assert response.status_code == 303, response.text
    return client


async def make_task(env, prompt: str = "Which is kinder?", **rule) -> dict:
    async with await psycopg.AsyncConnection.connect(env.url, row_factory=dict_row) as c:
        async with c.transaction():
            created = await tasks_domain.create_many(
                c,
                [
                    {
                        "question_type": "pairwise_ab",
                        "content": {"prompt": prompt, "optionA": "yes", "optionB": "no"},
                        "source_dataset": "pages-test",
                        **rule,
                    }
                ],
                creator_id=None,
            )
    return created[0]


async def test_the_task_list_shows_cards_with_progress_and_a_start_button(env):
    task = await make_task(env, "Compare <b>these</b> two answers")
    client = await sign_in(env, "ann")
    page = await client.get("/tasks", headers=HTML)
    assert page.status_code == 200
    assert f'data-task-id="{task["task_id"]}"' in page.text
    assert "Compare &lt;b&gt;these&lt;/b&gt; two answers" in page.text
    assert 'href="/annotate"' in page.text and "<progress" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_task_list_filters_narrow_the_cards(env):
    await make_task(env, "first")
    client = await sign_in(env, "ann")
    none = await client.get("/tasks?source_dataset=elsewhere", headers=HTML)
    assert "No tasks match" in none.text
    bad = await client.get("/tasks?question_type=poetry", headers=HTML)
    assert bad.status_code == 422 and "question_type" in bad.text


async def test_the_answering_page_needs_signing_in_and_knows_unknown_tasks(env):
    anonymous = await env.client.get("/annotate", headers=HTML)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    client = await sign_in(env, "ann")
    assert (await client.get("/annotate", headers=HTML)).status_code == 200
    missing = await client.get("/annotate/00000000-0000-0000-0000-000000000000", headers=HTML)
    assert missing.status_code == 404 and "404" in missing.text and "no such task" in missing.text
    assert "script-src 'self'" in missing.headers["content-security-policy"]


JSONL = (
    '{"prompt": "Say hi", "optionA": "hi", "optionB": "hello", "gold": "A"}\n'
    "not json\n"
    '{"prompt": "Say bye", "optionA": "bye", "optionB": "ciao"}\n'
    '{"prompt": "", "optionA": "x", "optionB": "y"}\n'
)


async def _count_tasks(env) -> int:
    async with await psycopg.AsyncConnection.connect(env.url) as c:
        return (await (await c.execute("SELECT count(*) FROM tasks")).fetchone())[0]


async def test_an_admin_checks_a_file_sees_the_report_and_nothing_is_stored_yet(env):
    admin = await sign_in(env, "boss", "admin")
    form = await admin.get("/admin/import", headers=HTML)
    checked = await admin.post(
        "/admin/import",
        data={"csrf_token": csrf_from(form.text), "threshold": "2", "min_agreement": "60"},
        files={"file": ("greetings.jsonl", JSONL.encode(), "application/jsonl")},
        headers=HTML,
    )
    assert checked.status_code == 200, checked.text
    assert 'id="report-good">2 ' in checked.text and 'id="report-failed">2<' in checked.text
    assert "not valid JSON" in checked.text and "prompt" in checked.text
    assert await _count_tasks(env) == 0
    text = re.search(r'name="text" value="([^"]*)"', checked.text).group(1)
    digest = re.search(r'name="checked" value="([^"]+)"', checked.text).group(1)
    import html

    committed = await admin.post(
        "/admin/import/commit",
        data={
            "csrf_token": csrf_from(checked.text),
            # Browsers send hidden fields back with CRLF line breaks.
            "text": html.unescape(text).replace("\n", "\r\n"),
            "filename": "greetings.jsonl",
            "checked": digest,
            "dataset": "greetings",
            "threshold": "2",
            "min_agreement": "60",
            "allow_tie": "no",
        },
        headers=HTML,
    )
    assert committed.status_code == 200, committed.text
    assert 'id="done-created">2<' in committed.text
    assert await _count_tasks(env) == 2
    async with await psycopg.AsyncConnection.connect(env.url) as c:
        rows = await (
            await c.execute(
                "SELECT t.consensus_threshold, t.min_agreement_percentage, q.source_dataset "
                "FROM tasks t JOIN questions q ON q.id = t.question_id"
            )
        ).fetchall()
    assert {(r[0], float(r[1]), r[2]) for r in rows} == {(2, 60.0, "greetings")}


async def test_import_refuses_bad_settings_a_changed_file_and_a_missing_token(env):
    admin = await sign_in(env, "boss", "admin")
    token = csrf_from((await admin.get("/admin/import", headers=HTML)).text)
    bad = await admin.post(
        "/admin/import",
        data={"csrf_token": token, "threshold": "0"},
        files={"file": ("a.jsonl", JSONL.encode(), "application/jsonl")},
        headers=HTML,
    )
    assert bad.status_code == 422 and "Answers needed must be between" in bad.text
    binary = await admin.post(
        "/admin/import",
        data={"csrf_token": token},
        files={"file": ("a.jsonl", b"\xff\xfe\x00bad", "application/jsonl")},
        headers=HTML,
    )
    assert binary.status_code == 422 and "not UTF-8" in binary.text
    changed = await admin.post(
        "/admin/import/commit",
        data={
            "csrf_token": token,
            "text": JSONL,
            "filename": "a.jsonl",
            "checked": "0" * 64,
            "dataset": "x",
        },
        headers=HTML,
    )
    assert changed.status_code == 422 and "changed after it was checked" in changed.text
    forged = await admin.post(
        "/admin/import",
        data={"csrf_token": "forged"},
        files={"file": ("a.jsonl", JSONL.encode(), "application/jsonl")},
        headers=HTML,
    )
    assert forged.status_code == 403
    assert await _count_tasks(env) == 0


async def test_annotators_and_reviewers_get_the_403_page_on_admin_pages(env):
    task = await make_task(env)
    for name, role in (("ann", "annotator"), ("rev", "reviewer")):
        client = await sign_in(env, name, role)
        for path in (
            "/admin/import",
            "/admin/tasks",
            f"/admin/tasks/{task['task_id']}",
            "/admin/users",
        ):
            response = await client.get(path, headers=HTML)
            assert response.status_code == 403, path
            assert "403 · Not allowed" in response.text and "admin" in response.text
        token = csrf_from((await client.get("/tokens", headers=HTML)).text)
        post = await client.post(
            f"/admin/tasks/{task['task_id']}/status",
            data={"csrf_token": token, "action": "pause"},
            headers=HTML,
        )
        assert post.status_code == 403
    async with await psycopg.AsyncConnection.connect(env.url) as c:
        status = (await (await c.execute("SELECT status FROM tasks")).fetchone())[0]
    assert status == "active"


async def test_an_admin_changes_a_rule_and_pauses_a_task(env):
    task = await make_task(env)
    admin = await sign_in(env, "boss", "admin")
    url = f"/admin/tasks/{task['task_id']}"
    token = csrf_from((await admin.get(url, headers=HTML)).text)
    saved = await admin.post(
        f"{url}/rule",
        data={
            "csrf_token": token,
            "threshold": "5",
            "min_agreement": "80",
            "priority": "1",
            "allow_tie": "yes",
            "expires_at": "2031-01-02T03:04",
        },
        headers=HTML,
    )
    assert saved.status_code == 303
    shown = await admin.get(saved.headers["location"], headers=HTML)
    assert "The rule was saved" in shown.text and 'value="2031-01-02T03:04"' in shown.text
    bad = await admin.post(
        f"{url}/rule", data={"csrf_token": token, "min_agreement": "120"}, headers=HTML
    )
    assert bad.status_code == 422 and "Minimum agreement" in bad.text
    paused = await admin.post(
        f"{url}/status", data={"csrf_token": token, "action": "pause"}, headers=HTML
    )
    assert paused.status_code == 303
    again = await admin.post(
        f"{url}/status", data={"csrf_token": token, "action": "pause"}, headers=HTML
    )
    assert again.status_code == 409 and "cannot pause a task that is paused" in again.text
    async with await psycopg.AsyncConnection.connect(env.url) as c:
        row = await (
            await c.execute(
                "SELECT consensus_threshold, min_agreement_percentage, priority, allow_tie, "
                "status, expires_at FROM tasks"
            )
        ).fetchone()
    assert row[:5] == (5, 80, 1, True, "paused")
    assert row[5].isoformat().startswith("2031-01-02T03:04:00+00")


async def test_an_admin_creates_and_deactivates_accounts_with_clear_errors(env):
    admin = await sign_in(env, "boss", "admin")
    token = csrf_from((await admin.get("/admin/users", headers=HTML)).text)
    made = await admin.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "carol",
            "password": "long enough pw",
            "role": "reviewer",
        },
        headers=HTML,
    )
    assert made.status_code == 303
    listed = await admin.get(made.headers["location"], headers=HTML)
    assert "Account carol created" in listed.text and 'data-username="carol"' in listed.text
    short = await admin.post(
        "/admin/users",
        data={"csrf_token": token, "username": "dave", "password": "short", "role": "annotator"},
        headers=HTML,
    )
    assert short.status_code == 422 and "Password" in short.text
    taken = await admin.post(
        "/admin/users",
        data={"csrf_token": token, "username": "carol", "password": "long enough pw"},
        headers=HTML,
    )
    assert taken.status_code == 409 and "already exists" in taken.text
    gone = await admin.post(
        "/admin/users/carol/deactivate", data={"csrf_token": token}, headers=HTML
    )
    assert gone.status_code == 303
    self_off = await admin.post(
        "/admin/users/boss/deactivate", data={"csrf_token": token}, headers=HTML
    )
    assert self_off.status_code == 409
    async with await psycopg.AsyncConnection.connect(env.url) as c:
        rows = dict(await (await c.execute("SELECT username, is_active FROM users")).fetchall())
    assert rows == {"boss": True, "carol": False}


async def test_everyone_manages_their_own_tokens_and_sees_the_secret_once(env):
    client = await sign_in(env, "ann")
    token = csrf_from((await client.get("/tokens", headers=HTML)).text)
    created = await client.post(
        "/tokens", data={"csrf_token": token, "name": "laptop"}, headers=HTML
    )
    assert created.status_code == 201
    secret = re.search(r'id="new-token">(whs_[^<]+)<', created.text).group(1)
    me = await env.client_with(secret).get("/api/me")
    assert me.json()["username"] == "ann"
    assert secret not in (await client.get("/tokens", headers=HTML)).text
    blank = await client.post("/tokens", data={"csrf_token": token, "name": "  "}, headers=HTML)
    assert blank.status_code == 422 and "Name" in blank.text
    token_id = re.search(r'action="/tokens/([0-9a-f-]+)/revoke"', created.text).group(1)
    revoked = await client.post(
        f"/tokens/{token_id}/revoke", data={"csrf_token": token}, headers=HTML
    )
    assert revoked.status_code == 303
    assert (await env.client_with(secret).get("/api/me")).status_code == 401


async def test_the_dashboard_shows_ones_own_answers_in_the_labels_one_saw(env):
    task = await make_task(env, "Pick one", consensus_threshold=1)
    client = await sign_in(env, "ann")
    view = (await client.get(f"/api/tasks/{task['task_id']}")).json()
    token = csrf_from((await client.get("/tokens", headers=HTML)).text)
    answered = await client.post(
        f"/api/tasks/{task['task_id']}/submit",
        json={"chosen_response": "B", "confidence": 5, "time_spent_seconds": 7},
        headers={"X-CSRF-Token": token},
    )
    assert answered.status_code == 201, answered.text
    page = await client.get("/dashboard", headers=HTML)
    assert page.status_code == 200
    assert "My dashboard" in page.text and 'id="answers-table"' in page.text
    row = re.search(r"Pick one</a>.*?<td>(\w+)</td>\s*<td>5</td>\s*<td>7 s</td>", page.text, re.S)
    assert row and row.group(1) == "B", view["shown_order"]


async def test_the_dashboard_pages_through_all_answers(env):
    client = await sign_in(env, "pager")
    token = csrf_from((await client.get("/tokens", headers=HTML)).text)
    for i in range(53):
        task = await make_task(env, f"Paged question {i:02d}", consensus_threshold=1)
        answered = await client.post(
            f"/api/tasks/{task['task_id']}/submit",
            json={"chosen_response": "A", "confidence": 3, "time_spent_seconds": 4},
            headers={"X-CSRF-Token": token},
        )
        assert answered.status_code == 201
    first = await client.get("/dashboard", headers=HTML)
    assert first.text.count("Paged question") == 50
    older = re.search(r'id="older-answers" href="([^"]+)"', first.text)
    assert older, "no link to older answers"
    second = await client.get(older.group(1).replace("&amp;", "&"), headers=HTML)
    assert second.status_code == 200
    assert second.text.count("Paged question") == 3 and 'id="older-answers"' not in second.text
    assert "Paged question 00" in second.text and "Newest answers" in second.text
    bad = await client.get("/dashboard?cursor=nonsense", headers=HTML)
    assert bad.status_code == 422


async def test_only_staff_open_another_annotators_dashboard(env):
    await env.make_user("bob")
    ann = await sign_in(env, "ann")
    refused = await ann.get("/dashboard/bob", headers=HTML)
    assert refused.status_code == 403 and "another annotator" in refused.text
    assert (await ann.get("/dashboard/ann", headers=HTML)).status_code == 200
    reviewer = await sign_in(env, "rev", "reviewer")
    seen = await reviewer.get("/dashboard/bob", headers=HTML)
    assert seen.status_code == 200 and "Dashboard of bob" in seen.text
    missing = await reviewer.get("/dashboard/nobody", headers=HTML)
    assert missing.status_code == 404


async def _answer(client: httpx.AsyncClient, task_id, canonical: str) -> None:
    view = (await client.get(f"/api/tasks/{task_id}")).json()
    swap = {"A": "B", "B": "A"}
    shown = canonical if view["shown_order"] == "AB" else swap[canonical]
    token = csrf_from((await client.get("/tokens", headers=HTML)).text)
    response = await client.post(
        f"/api/tasks/{task_id}/submit",
        json={"chosen_response": shown, "confidence": 3, "time_spent_seconds": 5},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 201, response.text


async def test_a_reviewer_adjudicates_a_disputed_task_from_the_queue(env):
    task = await make_task(env, "Disputed one", consensus_threshold=2)
    await _answer(await sign_in(env, "ann"), task["task_id"], "A")
    await _answer(await sign_in(env, "bob"), task["task_id"], "B")
    ann = await sign_in(env, "cat")
    assert (await ann.get("/review", headers=HTML)).status_code == 403
    assert (await ann.get(f"/review/{task['task_id']}", headers=HTML)).status_code == 403
    reviewer = await sign_in(env, "rev", "reviewer")
    queue = await reviewer.get("/review", headers=HTML)
    assert f'data-task-id="{task["task_id"]}"' in queue.text and "disputed" in queue.text
    url = f"/review/{task['task_id']}"
    shown = await reviewer.get(url, headers=HTML)
    assert "ann" in shown.text and "bob" in shown.text
    token = csrf_from(shown.text)
    no_note = await reviewer.post(
        f"{url}/adjudicate", data={"csrf_token": token, "chosen_response": "B"}, headers=HTML
    )
    assert no_note.status_code == 422 and "write a note" in no_note.text
    bad = await reviewer.post(
        f"{url}/adjudicate",
        data={"csrf_token": token, "chosen_response": "tie", "note": "n"},
        headers=HTML,
    )
    assert bad.status_code == 422 and "does not allow a tie" in bad.text
    done = await reviewer.post(
        f"{url}/adjudicate",
        data={"csrf_token": token, "chosen_response": "B", "note": "B cites its source"},
        headers=HTML,
    )
    assert done.status_code == 303
    after = await reviewer.get(done.headers["location"], headers=HTML)
    assert "The final answer was recorded" in after.text and "B cites its source" in after.text
    again = await reviewer.post(
        f"{url}/adjudicate",
        data={"csrf_token": token, "chosen_response": "A", "note": "again"},
        headers=HTML,
    )
    assert again.status_code == 409
    async with await psycopg.AsyncConnection.connect(env.url) as c:
        row = await (
            await c.execute(
                "SELECT a.final_answer, t.status FROM task_adjudications a "
                "JOIN tasks t ON t.id = a.task_id"
            )
        ).fetchone()
    assert row == ({"chosen_response": "B"}, "completed")
    assert (
        f'data-task-id="{task["task_id"]}"'
        not in (await reviewer.get("/review", headers=HTML)).text
    )


async def test_the_export_page_sends_its_choices_to_the_export_api(env):
    task = await make_task(env, "Export me", consensus_threshold=1)
    await _answer(await sign_in(env, "ann"), task["task_id"], "A")
    admin = await sign_in(env, "boss", "admin")
    page = await admin.get("/admin/export", headers=HTML)
    assert page.status_code == 200 and 'action="/admin/export/preferences"' in page.text
    hop = await admin.get(
        "/admin/export/preferences?format=jsonl&dataset=&min_agreement=0&method=majority",
        headers=HTML,
    )
    assert hop.status_code == 303
    assert hop.headers["location"] == (
        "/api/export/preferences?format=jsonl&min_agreement=0&method=majority"
    )
    download = await admin.get(hop.headers["location"])
    assert download.status_code == 200
    [line] = download.text.splitlines()
    assert json.loads(line)["chosen"] == "yes" and json.loads(line)["rejected"] == "no"
    ann = await sign_in(env, "cat")
    assert (await ann.get("/admin/export", headers=HTML)).status_code == 403
    assert (await ann.get("/admin/export/quality", headers=HTML)).status_code == 403
    bad = await admin.get("/admin/export/everything", headers=HTML)
    assert bad.status_code == 422


async def test_analytics_figures_count_answers_agreement_and_datasets(env):
    agreed = await make_task(env, "Agreed", consensus_threshold=2)
    split = await make_task(env, "Split", consensus_threshold=2)
    ann, bob = await sign_in(env, "ann"), await sign_in(env, "bob")
    await _answer(ann, agreed["task_id"], "A")
    await _answer(bob, agreed["task_id"], "A")
    await _answer(ann, split["task_id"], "A")
    await _answer(bob, split["task_id"], "B")
    admin = await sign_in(env, "boss", "admin")
    figures = (await admin.get("/admin/analytics.json")).json()
    assert sum(d["answers"] for d in figures["throughput"]) == 4
    buckets = {b["range"]: b["tasks"] for b in figures["agreement_distribution"]}
    assert buckets["90–100%"] == 1 and buckets["40–50%"] == 0 and buckets["50–60%"] == 1
    assert figures["datasets"] == [
        {"dataset": "pages-test", "tasks": 2, "reached": 1, "waiting": 0, "progress": 50.0}
    ]
    success = figures["success"]
    assert success["consensus_agreement_rate"] == 50.0 and success["task_completion_rate"] == 50.0
    assert success["median_completion_seconds_latest_week"] >= 0
    assert {a["username"] for a in figures["annotators"]} >= {"ann", "bob"}
    page = await admin.get("/admin/analytics", headers=HTML)
    assert page.status_code == 200 and 'id="analytics-data"' in page.text
    assert "50.0%" in page.text and "not met" in page.text
    assert "'unsafe-inline'" in page.headers["content-security-policy"]
    assert "script-src 'self';" in page.headers["content-security-policy"]
    script = await admin.get("/vendor/plotly.min.js")
    assert script.status_code == 200 and "plotly" in script.text[:2000].lower()
    for path in ("/admin/analytics", "/admin/analytics.json"):
        assert (await ann.get(path, headers=HTML)).status_code == 403
    assert (await admin.get("/admin/analytics.json?days=0")).status_code == 422


async def test_costly_analytics_figures_are_kept_and_say_how_old_they_are(env):
    task = await make_task(env, "Kept", consensus_threshold=2)
    ann, bob = await sign_in(env, "ann"), await sign_in(env, "bob")
    admin = await sign_in(env, "boss", "admin")
    first = (await admin.get("/admin/analytics.json")).json()
    # figures this small are computed for every request
    assert first["cached"] is False and first["max_age_seconds"] == 60
    assert first["computed_at"].endswith("+00:00") and first["age_seconds"] >= 0
    await _answer(ann, task["task_id"], "A")
    assert (
        sum(d["answers"] for d in (await admin.get("/admin/analytics.json")).json()["throughput"])
        == 1
    )
    # as if they were costly: kept, and served as they were
    env.app.state.analytics.cheap_seconds = 0
    await admin.get("/admin/analytics.json")
    await _answer(bob, task["task_id"], "A")
    kept = (await admin.get("/admin/analytics.json")).json()
    assert kept["cached"] is True and sum(d["answers"] for d in kept["throughput"]) == 1
    page = await admin.get("/admin/analytics", headers=HTML)
    assert page.status_code == 200 and "compute now" in page.text
    fresh = (await admin.get("/admin/analytics.json?fresh=true")).json()
    assert fresh["cached"] is False and sum(d["answers"] for d in fresh["throughput"]) == 2
    assert (await ann.get("/admin/analytics.json?fresh=true")).status_code == 403
