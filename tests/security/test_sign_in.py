"""Issue 16, item 8: concurrent wrong passwords for one name got 11-12 checks through where 5 are
free, since every try read the failure count from before any of them had failed. Tries for one
name are now checked one at a time. (Item 1's first part: the hashing runs in threads of its
own, off the event loop.) The test failed on the code before the fix."""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.rows import dict_row

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
