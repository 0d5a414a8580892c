"""The admin's datasets page: rules of every task at once, reveal policy and gold feedback, the
gold-check rate and guidelines, edited in the web app (issue 15); only admins."""

from __future__ import annotations

import html
import re

import psycopg

from tests.web.test_pages import HTML, csrf_from, make_task, sign_in


async def _one(env, sql: str):
    with psycopg.connect(env.url) as conn:
        return conn.execute(sql).fetchone()


async def test_an_admin_sets_a_datasets_rules_policy_gold_rate_and_guidelines(env):
    for i in range(3):
        await make_task(env, f"Question {i}")
    admin = await sign_in(env, "boss", "admin")
    listing = await admin.get("/admin/datasets", headers=HTML)
    assert listing.status_code == 200 and 'href="/admin/datasets/pages-test"' in listing.text
    page = await admin.get("/admin/datasets/pages-test", headers=HTML)
    assert page.status_code == 200 and "3 tasks" in page.text
    token = csrf_from(page.text)
    base = "/admin/datasets/pages-test"

    rules = await admin.post(
        f"{base}/rules", data={"csrf_token": token, "threshold": "5"}, headers=HTML
    )
    assert rules.status_code == 303
    assert await _one(env, "SELECT array_agg(DISTINCT consensus_threshold) FROM tasks") == ([5],)
    bad = await admin.post(
        f"{base}/rules", data={"csrf_token": token, "threshold": "0"}, headers=HTML
    )
    assert bad.status_code == 422 and "Answers needed" in bad.text
    nothing = await admin.post(f"{base}/rules", data={"csrf_token": token}, headers=HTML)
    assert nothing.status_code == 422

    policy = await admin.post(
        f"{base}/policy",
        data={"csrf_token": token, "reveal": "after_close", "gold_feedback": "yes"},
        headers=HTML,
    )
    assert policy.status_code == 303
    assert await _one(env, "SELECT reveal, gold_feedback FROM dataset_policies") == (
        "after_close",
        True,
    )
    wrong = await admin.post(
        f"{base}/policy", data={"csrf_token": token, "reveal": "sometimes"}, headers=HTML
    )
    assert wrong.status_code == 422

    gold = await admin.post(
        f"{base}/gold-rate", data={"csrf_token": token, "gold_rate": "0.2"}, headers=HTML
    )
    assert gold.status_code == 303
    assert (
        await admin.post(f"{base}/gold-rate", data={"csrf_token": token, "gold_rate": "2"})
    ).status_code == 422

    text = "## Read both answers\r\n\r\nPrefer the correct one."
    published = await admin.post(
        f"{base}/guidelines",
        data={"csrf_token": token, "body": text, "criteria": "Accuracy, clarity"},
        headers=HTML,
    )
    assert published.status_code == 303 and published.headers["location"].endswith("guidelines")
    again = await admin.post(
        f"{base}/guidelines",
        data={"csrf_token": token, "body": text, "criteria": "accuracy, clarity"},
        headers=HTML,
    )
    assert again.headers["location"].endswith("unchanged")
    row = await _one(env, "SELECT version, body, criteria FROM dataset_guidelines")
    assert row == (1, "## Read both answers\n\nPrefer the correct one.", ["accuracy", "clarity"])
    shown = await admin.get(base, headers=HTML)
    assert "version 1" in shown.text and "Prefer the correct one." in shown.text
    refused = await admin.post(
        f"{base}/guidelines", data={"csrf_token": token, "body": "x", "criteria": "Has Space"}
    )
    assert refused.status_code == 422 and "Criteria" in refused.text
    no_csrf = await admin.post(f"{base}/guidelines", data={"body": "y"}, headers=HTML)
    assert no_csrf.status_code == 403


async def test_only_admins_open_the_datasets_pages(env):
    await make_task(env)
    for role in ("annotator", "reviewer"):
        client = await sign_in(env, f"not-{role}", role)
        for path in ("/admin/datasets", "/admin/datasets/pages-test"):
            assert (await client.get(path, headers=HTML)).status_code == 403
        token = csrf_from((await client.get("/tokens", headers=HTML)).text)
        posted = await client.post(
            "/admin/datasets/pages-test/policy",
            data={"csrf_token": token, "reveal": "never"},
            headers=HTML,
        )
        assert posted.status_code == 403


async def test_error_pages_keep_the_navigation_and_speak_plainly(env):
    ann = await sign_in(env, "lost")
    for path, status in (("/admin/datasets", 403), ("/no-such-page", 404)):
        page = await ann.get(path, headers=HTML)
        assert page.status_code == status
        assert 'href="/dashboard"' in page.text and "Sign out" in page.text, path
    bad = await ann.get("/tasks?sort=sideways", headers=HTML)
    assert bad.status_code == 422 and "sort must be one of" in bad.text
    assert "Input should be" not in bad.text
    anonymous = await env.client.get("/no-such-page", headers=HTML)
    assert anonymous.status_code == 404 and "Sign out" not in anonymous.text


async def test_an_admin_changes_roles_and_reactivates_with_a_new_password(env):
    admin = await sign_in(env, "chief", "admin")
    carol = await sign_in(env, "carol")
    token = csrf_from((await admin.get("/admin/users", headers=HTML)).text)
    promoted = await admin.post(
        "/admin/users/carol/role", data={"csrf_token": token, "role": "reviewer"}, headers=HTML
    )
    assert promoted.status_code == 303
    assert (await carol.get("/review", headers=HTML)).status_code == 200  # at once
    own = await admin.post(
        "/admin/users/chief/role", data={"csrf_token": token, "role": "annotator"}, headers=HTML
    )
    assert own.status_code == 409 and "own role" in own.text
    wrong = await admin.post(
        "/admin/users/carol/role", data={"csrf_token": token, "role": "owner"}, headers=HTML
    )
    assert wrong.status_code == 422
    await admin.post("/admin/users/carol/deactivate", data={"csrf_token": token}, headers=HTML)
    assert (await carol.get("/review", headers=HTML)).status_code in (303, 401)
    weak = await admin.post(
        "/admin/users/carol/password", data={"csrf_token": token, "password": "password"}
    )
    assert weak.status_code == 422
    back = await admin.post(
        "/admin/users/carol/password",
        data={"csrf_token": token, "password": "a new long passphrase"},
        headers=HTML,
    )
    assert back.status_code == 303
    assert await _one(env, "SELECT is_active, role FROM users WHERE username = 'carol'") == (
        True,
        "reviewer",
    )
    form = await env.client.get("/login", headers=HTML)
    signed = await env.client.post(
        "/login",
        data={
            "username": "carol",
            "password": "a new long passphrase",
            "csrf_token": csrf_from(form.text),
        },
        headers=HTML,
    )
    assert signed.status_code == 303
    ann = await sign_in(env, "plain")
    ann_token = csrf_from((await ann.get("/tokens", headers=HTML)).text)
    refused = await ann.post(
        "/admin/users/carol/role", data={"csrf_token": ann_token, "role": "admin"}, headers=HTML
    )
    assert refused.status_code == 403


async def test_the_import_page_takes_every_question_type(env):
    admin = await sign_in(env, "importer", "admin")
    form = await admin.get("/admin/import", headers=HTML)
    token = csrf_from(form.text)
    assert 'value="ranking"' in form.text and 'value="voice_transcription"' in form.text
    files = {
        "ranking": '{"question": "Rank them", "candidates": ["x", "y", "z"]}\n'
        '{"question": "Broken", "candidates": "not a list"}\n',
        "text_generation": '{"prompt": "Write a haiku"}\n',
        "voice_transcription": '{"prompt": "Transcribe", "audio_url": "https://a.test/1.wav"}\n',
    }
    for kind, text in files.items():
        checked = await admin.post(
            "/admin/import",
            data={"csrf_token": token, "question_type": kind, "dataset": f"web-{kind}"},
            files={"file": (f"{kind}.jsonl", text.encode(), "application/jsonl")},
            headers=HTML,
        )
        assert checked.status_code == 200, checked.text
        assert 'id="report-good">1 (1 distinct item)' in checked.text, kind
        commit = csrf_from(checked.text)
        fields = {
            name: value
            for name, value in re.findall(r'name="(\w+)" value="([^"]*)"', checked.text)
            if name in ("filename", "checked", "question_type", "mapping", "dataset")
        }
        text_field = re.search(r'name="text" value="([^"]*)"', checked.text).group(1)
        done = await admin.post(
            "/admin/import/commit",
            data={**fields, "csrf_token": commit, "text": html.unescape(text_field)},
            headers=HTML,
        )
        assert done.status_code == 200 and 'id="done-created">1<' in done.text, done.text
    kinds = await _one(
        env, "SELECT array_agg(DISTINCT question_type ORDER BY question_type) FROM questions"
    )
    assert kinds == (["ranking", "text_generation", "voice_transcription"],)
    mapped = await admin.post(
        "/admin/import",
        data={"csrf_token": token, "question_type": "text_generation", "mapping": "prompt=ask"},
        files={"file": ("m.csv", b"ask\nWrite a limerick\n", "text/csv")},
        headers=HTML,
    )
    assert 'id="report-good">1 (1 distinct item)' in mapped.text
    unknown = await admin.post(
        "/admin/import",
        data={"csrf_token": token, "question_type": "text_generation", "mapping": "colour=x"},
        files={"file": ("m.csv", b"ask\nWrite\n", "text/csv")},
        headers=HTML,
    )
    assert unknown.status_code == 422 and "Column mapping" in unknown.text


async def test_the_task_rules_page_changes_every_task_a_filter_picks(env):
    for i in range(3):
        await make_task(env, f"Bulk {i}")
    admin = await sign_in(env, "bulk", "admin")
    page = await admin.get("/admin/tasks?source_dataset=pages-test&status=", headers=HTML)
    token = csrf_from(page.text)
    done = await admin.post(
        "/admin/tasks/rules",
        data={
            "csrf_token": token,
            "source_dataset": "pages-test",
            "min_agreement": "60",
            "allow_tie": "yes",
        },
        headers=HTML,
    )
    assert done.status_code == 303 and "changed=3" in done.headers["location"]
    assert await _one(
        env, "SELECT array_agg(DISTINCT (min_agreement_percentage, allow_tie)::text) FROM tasks"
    ) == (["(60.00,t)"],)
    shown = await admin.get(done.headers["location"], headers=HTML)
    assert "The rule of 3 tasks was changed" in shown.text
    unfiltered = await admin.post(
        "/admin/tasks/rules", data={"csrf_token": token, "threshold": "4"}, headers=HTML
    )
    assert unfiltered.status_code == 422 and "every task" in unfiltered.text
    bad = await admin.post(
        "/admin/tasks/rules",
        data={"csrf_token": token, "source_dataset": "pages-test", "threshold": "0"},
        headers=HTML,
    )
    assert bad.status_code == 422 and "Answers needed" in bad.text
