"""Sign-in, sessions, CSRF, API tokens and role checks."""

from __future__ import annotations

import re

import httpx
import psycopg

from tests.web.conftest import PASSWORD


def _csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def _sign_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, next_url: str = "/"
) -> httpx.Response:
    form = await client.get("/login", headers={"accept": "text/html"})
    token = _csrf_from(form.text)
    return await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_url},
        headers={"accept": "text/html"},
    )


async def test_sign_in_sets_an_httponly_samesite_cookie_and_opens_the_start_page(env):
    await env.make_user("alice")
    response = await _sign_in(env.client, "alice", next_url="/")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "whs_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = await env.client.get("/", headers={"accept": "text/html"})
    assert home.status_code == 200 and "alice" in home.text
    me = await env.client.get("/api/me")
    assert me.json()["username"] == "alice"


async def test_a_wrong_password_is_refused_with_a_clear_message(env):
    await env.make_user("alice")
    response = await _sign_in(env.client, "alice", "not the password")
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    assert "whs_session" not in response.headers.get("set-cookie", "")
    assert (await env.client.get("/api/me")).status_code == 401


async def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(env):
    response = await _sign_in(env.client, "nobody", "whatever1")
    assert response.status_code == 401 and "Wrong user name or password" in response.text


async def test_repeated_failures_are_slowed_down_even_for_the_right_password(env):
    await env.make_user("alice")
    for _ in range(3):  # the test settings allow 3 free failures
        assert (await _sign_in(env.client, "alice", "bad-guess")).status_code == 401
    throttled = await _sign_in(env.client, "alice", PASSWORD)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1


async def test_sign_in_without_the_form_token_is_refused(env):
    await env.make_user("alice")
    response = await env.client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": "forged"},
        headers={"accept": "text/html"},
    )
    assert response.status_code == 403 and "expired" in response.text


async def test_next_never_leaves_the_site(env):
    await env.make_user("alice")
    response = await _sign_in(env.client, "alice", next_url="//evil.example/x")
    assert response.headers["location"] == "/"


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(env):
    await env.make_user("alice")
    await _sign_in(env.client, "alice")
    cookie = env.client.cookies.get("whs_session")
    refused = await env.client.post("/logout", headers={"accept": "text/html"})
    assert refused.status_code == 403
    page = await env.client.get("/", headers={"accept": "text/html"})
    done = await env.client.post("/logout", data={"csrf_token": _csrf_from(page.text)})
    assert done.status_code == 303
    # The old cookie, replayed, no longer signs anyone in.
    replay = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.app),
        base_url="http://test",
        cookies={"whs_session": cookie},
    )
    async with replay:
        assert (await replay.get("/api/me")).status_code == 401


async def test_cookie_writes_to_the_api_need_the_csrf_header(env):
    await env.make_user("alice")
    await _sign_in(env.client, "alice")
    refused = await env.client.post("/api/tokens", json={"name": "laptop"})
    assert refused.status_code == 403 and refused.json()["field"] == "csrf_token"
    page = await env.client.get("/", headers={"accept": "text/html"})
    created = await env.client.post(
        "/api/tokens", json={"name": "laptop"}, headers={"x-csrf-token": _csrf_from(page.text)}
    )
    assert created.status_code == 201 and created.json()["token"].startswith("whs_")


async def test_a_forged_session_cookie_signs_nobody_in(env):
    env.client.cookies.set("whs_session", "eyJmb3JnZWQiOjF9.abc.def")
    assert (await env.client.get("/api/me")).status_code == 401


async def test_api_tokens_work_until_revoked(env):
    token = await env.token_for("scripter")
    async with env.client_with(token) as client:
        assert (await client.get("/api/me")).json()["username"] == "scripter"
        tokens = (await client.get("/api/tokens")).json()
        assert len(tokens) == 1 and "token" not in tokens[0]
        assert (await client.delete(f"/api/tokens/{tokens[0]['id']}")).status_code == 204
        revoked = await client.get("/api/me")
        assert revoked.status_code == 401
        assert "revoked" in revoked.json()["message"]


async def test_a_malformed_authorization_header_is_refused(env):
    response = await env.client.get("/api/me", headers={"authorization": "Basic abc"})
    assert response.status_code == 401 and "Bearer" in response.json()["message"]


async def test_deactivation_revokes_tokens_and_sessions(env):
    admin = await env.token_for("root", "admin")
    token = await env.token_for("leaver")
    async with env.client_with(admin) as client:
        assert (await client.post("/api/users/leaver/deactivate")).status_code == 204
    async with env.client_with(token) as client:
        assert (await client.get("/api/me")).status_code == 401
    assert (await _sign_in(env.client, "leaver")).status_code == 401


async def test_an_annotator_is_refused_admin_routes(env):
    token = await env.token_for("alice", "annotator")
    async with env.client_with(token) as client:
        listing = await client.get("/api/users")
        assert listing.status_code == 403 and "admin" in listing.json()["message"]
        create = await client.post(
            "/api/users", json={"username": "mallory", "password": "x" * 12, "role": "admin"}
        )
        assert create.status_code == 403


async def test_a_reviewer_is_refused_admin_routes_but_an_admin_is_admitted(env):
    reviewer = await env.token_for("rita", "reviewer")
    admin = await env.token_for("root", "admin")
    async with env.client_with(reviewer) as client:
        assert (await client.get("/api/users")).status_code == 403
    async with env.client_with(admin) as client:
        listing = await client.get("/api/users")
        assert listing.status_code == 200
        assert {u["username"] for u in listing.json()} == {"rita", "root"}


async def test_anonymous_callers_are_sent_to_sign_in(env):
    api = await env.client.get("/api/users")
    assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
    page = await env.client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/"


async def test_an_admin_creates_a_user_who_can_then_sign_in(env):
    admin = await env.token_for("root", "admin")
    async with env.client_with(admin) as client:
        made = await client.post(
            "/api/users",
            json={"username": "newbie", "password": "long enough pw", "role": "reviewer"},
        )
        assert made.status_code == 201 and made.json()["role"] == "reviewer"
        dup = await client.post(
            "/api/users", json={"username": "newbie", "password": "long enough pw"}
        )
        assert dup.status_code == 409 and dup.json()["field"] == "username"
        bad = await client.post("/api/users", json={"username": "has space", "password": "short"})
        assert bad.status_code == 422 and bad.json()["field"] in ("username", "password")
    assert (await _sign_in(env.client, "newbie", "long enough pw")).status_code == 303


async def _eventually(check, seconds: float = 1.0) -> float:
    """Return how long it took until `check()` held; fail after `seconds`."""
    import asyncio
    import time

    began = time.monotonic()
    while not await check():
        assert time.monotonic() - began < seconds, f"still not true after {seconds} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - began


async def test_a_cached_token_is_forgotten_when_changed_by_another_process(env):
    """Tokens are kept in memory for a few seconds; a change made elsewhere (another app
    process, the CLI, SQL) reaches this process through PostgreSQL within a second."""
    import asyncio

    await asyncio.wait_for(env.app.state.broker.listening.wait(), 10)
    token = await env.token_for("cached")
    admin = await env.token_for("boss", "admin")
    cache = env.app.state.token_cache
    async with env.client_with(token) as client, env.client_with(admin) as boss:
        assert (await client.get("/api/me")).status_code == 200
        assert (await boss.get("/api/users")).status_code == 200
        assert len(cache._items) == 2  # both checks are now answered from memory

        async def sql(statement: str) -> None:
            async with await psycopg.AsyncConnection.connect(env.url, autocommit=True) as c:
                await c.execute(statement)

        await sql("UPDATE users SET role = 'annotator' WHERE username = 'boss'")
        await _eventually(lambda: _status(boss, "/api/users", 403))
        await sql(
            "UPDATE api_tokens SET revoked_at = now() FROM users u"
            " WHERE u.id = api_tokens.user_id AND u.username = 'cached'"
        )
        await _eventually(lambda: _status(client, "/api/me", 401))
        # A reputation update (frequent) does not empty the cache.
        assert (await boss.get("/api/me")).status_code == 200
        await sql("UPDATE users SET reputation_score = 900 WHERE username = 'boss'")
        await asyncio.sleep(0.2)
        assert len(cache._items) == 1


async def _status(client, path: str, expected: int) -> bool:
    return (await client.get(path)).status_code == expected


def test_the_token_cache_is_bypassed_when_not_listening_and_expires():
    import time
    import uuid

    from whstudio.domain.users import Principal
    from whstudio.web.deps import TokenCache

    live = {"on": False}
    cache = TokenCache(0.05, live=lambda: live["on"])
    who = Principal(id=uuid.uuid4(), username="u", role="annotator", via_token=True)
    cache.put(b"k", who)
    assert cache.get(b"k") is None  # not listening: nothing kept, nothing served
    live["on"] = True
    cache.put(b"k", who)
    assert cache.get(b"k") == who
    live["on"] = False
    assert cache.get(b"k") is None
    live["on"] = True
    time.sleep(0.06)
    assert cache.get(b"k") is None  # expired
    assert TokenCache(0, live=lambda: True).get(b"k") is None
