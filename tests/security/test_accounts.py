"""Issue 16, item 14: accounts. `password` and `12345678` were accepted; the API let an admin
deactivate itself (the last admin too); a password reset left API tokens working. Each test
failed on the code before the fix."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.web.conftest import env, settings  # noqa: F401  (fixtures)
from tests.web.test_auth import _sign_in
from whstudio.domain import users as users_domain
from whstudio.errors import Conflict


async def test_passwords_every_guessing_list_tries_are_refused(env):  # noqa: F811
    """Issue 16, item 14: `password` and `12345678` were accepted."""
    admin = await env.token_for("root", "admin")
    async with env.client_with(admin) as client:
        for weak in ("password", "12345678", "Password1", "aaaaaaaa", "abcdefgh", "xx-casey-xx"):
            made = await client.post("/api/users", json={"username": "casey", "password": weak})
            assert made.status_code == 422, (weak, made.text)
            assert made.json()["field"] == "password", weak
        fine = await client.post(
            "/api/users", json={"username": "casey", "password": "tulip-4-rain"}
        )
        assert fine.status_code == 201, fine.text


async def test_an_admin_cannot_deactivate_itself_nor_the_last_admin(env):  # noqa: F811
    """Issue 16, item 14: the API let an admin deactivate itself, the last admin too."""
    root = await env.token_for("root", "admin")
    second = await env.token_for("second", "admin")
    async with env.client_with(root) as client:
        own = await client.post("/api/users/root/deactivate")
        assert own.status_code == 409 and own.json()["field"] == "username"
        assert (await client.post("/api/users/second/deactivate")).status_code == 204
    async with env.client_with(second) as client:  # deactivated: its token is gone
        assert (await client.get("/api/me")).status_code == 401
    # root is now the only active admin: no one, not the server's operator, may deactivate it
    async with await psycopg.AsyncConnection.connect(env.url, row_factory=dict_row) as conn:
        with pytest.raises(Conflict, match="last active admin"):
            async with conn.transaction():
                await users_domain.deactivate(conn, "root")
    async with env.client_with(root) as client:
        assert (await client.get("/api/me")).status_code == 200


async def test_a_new_password_revokes_the_accounts_api_tokens(env):  # noqa: F811
    """Issue 16, item 14: a password reset left API tokens working."""
    token = await env.token_for("resetme")
    async with env.client_with(token) as client:
        assert (await client.get("/api/me")).status_code == 200
    async with await psycopg.AsyncConnection.connect(env.url, row_factory=dict_row) as conn:
        async with conn.transaction():
            await users_domain.set_password(conn, "resetme", "a-new-long-secret")
    env.app.state.token_cache.clear()
    async with env.client_with(token) as client:
        assert (await client.get("/api/me")).status_code == 401
    assert (await _sign_in(env.client, "resetme", "a-new-long-secret")).status_code == 303


async def test_a_new_api_token_is_never_cached(env):  # noqa: F811
    """Issue 16, item 16: `POST /api/tokens` had no `Cache-Control: no-store`."""
    token = await env.token_for("keeper")
    async with env.client_with(token) as client:
        made = await client.post("/api/tokens", json={"name": "laptop"})
        assert made.status_code == 201 and made.json()["token"].startswith("whs_")
        assert made.headers["cache-control"] == "no-store"


async def test_a_name_differing_only_in_case_is_taken(env):  # noqa: F811
    """Issue 16, item 14: `Alice` and `ALICE` could be created beside `alice`."""
    admin = await env.token_for("root", "admin")
    async with env.client_with(admin) as client:
        first = await client.post(
            "/api/users", json={"username": "alice", "password": "tulip-4-rain"}
        )
        assert first.status_code == 201
        for name in ("Alice", "ALICE", "aLiCe"):
            again = await client.post(
                "/api/users", json={"username": name, "password": "tulip-4-rain"}
            )
            assert again.status_code == 409 and again.json()["field"] == "username", name


async def test_cookies_set_over_https_are_https_only(env):  # noqa: F811
    """Issue 16, item 16: cookies were sent without `Secure` behind TLS unless a setting said so."""
    import httpx

    from tests.web.test_auth import PASSWORD

    await env.make_user("tls-user", password=PASSWORD)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.app), base_url="https://test"
    ) as client:
        signed = await _sign_in(client, "tls-user")
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert "whs_session=" in cookie and "Secure" in cookie
    plain = await _sign_in(env.client, "tls-user")  # plain HTTP, the default settings
    assert "Secure" not in plain.headers["set-cookie"]
