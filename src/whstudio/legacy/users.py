"""Letting legacy users in: they kept their ids, identities and reputation, but never had a
password (the old application signed them in through an external identity service)."""

from __future__ import annotations

import re
from typing import Any

from whstudio.domain import security
from whstudio.legacy.common import connect, require
from whstudio.legacy.queries import QUERIES

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class LetInError(ValueError):
    """The operator's request names no single user or gives a value the schema refuses."""


def let_in(
    url: str,
    identity: str,
    *,
    username: str | None = None,
    password: str | None = None,
    token_name: str | None = None,
) -> dict[str, Any]:
    """Give one legacy user a sign-in name and a password and/or an API token.

    `identity` is the user's id, world_id, nullifier_hash or username. Returns the user's id,
    username and the token (shown once) when one was asked for.
    """
    if password is None and token_name is None:
        raise LetInError("give a password, a token name, or both")
    if password is not None and len(password) < 8:
        raise LetInError("password: must be at least 8 characters")
    if username is not None and not USERNAME.match(username):
        raise LetInError(f"username: {username!r} is not a valid sign-in name")
    with connect(url) as conn:
        require(conn, ("expanded", "backfilled", "verified"), "let-in")
        rows = conn.execute(QUERIES["users.find"], {"i": identity}).fetchall()
        if len(rows) != 1:
            raise LetInError(f"identity: {len(rows)} users match {identity!r}; need exactly one")
        user_id, current = rows[0]
        name = username or current
        if name is None or not USERNAME.match(name):
            raise LetInError(
                f"username: the user's name {current!r} cannot sign in; give --username"
            )
        out: dict[str, Any] = {"id": user_id, "username": name}
        with conn.transaction():
            if name != current:
                taken = conn.execute(QUERIES["users.name_taken"], (name, user_id)).fetchone()
                if taken:
                    raise LetInError(f"username: {name!r} is taken")
                conn.execute(QUERIES["users.rename"], (name, user_id))
            if password is not None:
                conn.execute(
                    QUERIES["users.set_password"], (security.hash_password(password), user_id)
                )
            if token_name is not None:
                token, prefix, digest = security.new_api_token()
                conn.execute(QUERIES["users.add_token"], (user_id, token_name, prefix, digest))
                out["token"] = token
        return out
