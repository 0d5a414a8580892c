"""Issue 16, item 8: concurrent wrong passwords for one name got 11-12 checks through where 5 are
free, since every try read the failure count from before any of them had failed. Tries for one
name are now checked one at a time. (Item 1's first part: the hashing runs in threads of its
own, off the event loop.) The test failed on the code before the fix."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
from psycopg.rows import dict_row

from tests.web.conftest import env, settings  # noqa: F401  (fixtures)
from tests.web.test_auth import _sign_in
from whstudio.domain import users as users_domain
from whstudio.errors import TooManyRequests


async def _try(url: str, name: str) -> str:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        try:
            async with conn.transaction():
                found = await users_domain.authenticate(conn, name, "wrong password!")
        except TooManyRequests:
            return "throttled"
        return "checked" if found is None else "signed in"


async def test_concurrent_wrong_passwords_get_only_the_free_tries(db_url):
    async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
        async with conn.transaction():
            await users_domain.create_user(conn, "target", "the right one 42", "admin")
    outcomes = await asyncio.gather(*(_try(db_url, "target") for _ in range(12)))
    assert outcomes.count("checked") == 5, outcomes  # the free tries, no more
    assert outcomes.count("throttled") == 7, outcomes


async def test_others_failures_never_keep_a_person_out_of_their_own_account(env):  # noqa: F811
    """Issue 16, item 9: anyone could keep any account (admin included) from signing in, by
    failing with its name in another letter case. A browser that signed in to the account before
    keeps its own count (the device cookie); a stranger's failures throttle only strangers."""
    await env.make_user("root", "admin")
    assert (await _sign_in(env.client, "root")).status_code == 303  # the admin's own browser
    assert "whs_device" in env.client.cookies
    env.client.cookies.delete("whs_session")  # signed out; the browser keeps its device cookie
    transport = httpx.ASGITransport(app=env.app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as stranger:
        codes = [
            (await _sign_in(stranger, "ROOT", "wrong guess " + str(i))).status_code
            for i in range(6)
        ]
        assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429, 429], codes
        # the right password from an unknown browser waits too: the name is throttled for it
        assert (await _sign_in(stranger, "root")).status_code == 429
    # the admin's browser is not held by the stranger's failures
    assert (await _sign_in(env.client, "root")).status_code == 303
    # its cookie is for that account only: another name is counted as from anyone
    env.client.cookies.delete("whs_session")
    await env.make_user("other")
    for i in range(3):
        assert (await _sign_in(env.client, "other", f"no {i}")).status_code == 401
    assert (await _sign_in(env.client, "other")).status_code == 429


async def test_sign_in_tries_are_limited_per_address_before_any_hash(env):  # noqa: F811
    """Issue 16, item 1: a flood of sign-ins with random names cost a password hash each. Tries
    from one address past WHSTUDIO_LOGIN_RATE_PER_IP a minute are refused (429 with
    Retry-After) without a check; another address is not held by them."""
    env.app.state.limits.login_ip.rate = 3 / 60
    env.app.state.limits.login_ip.burst = 3
    env.app.state.limits.login_ip._level.clear()
    transport = httpx.ASGITransport(app=env.app, client=("198.51.100.4", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as flood:
        codes = [
            (await _sign_in(flood, f"name-{i}", "some guess 123")).status_code for i in range(5)
        ]
        assert codes == [401, 401, 401, 429, 429], codes
        refused = await _sign_in(flood, "name-9", "some guess 123")
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 20
        assert "Too many sign-in attempts" in refused.text
    async with await psycopg.AsyncConnection.connect(env.url) as conn:
        checked = (await (await conn.execute("SELECT count(*) FROM login_failures")).fetchone())[0]
    assert checked == 3  # the refused tries cost no hash
    await env.make_user("casey")
    assert (await _sign_in(env.client, "casey")).status_code == 303  # another address
