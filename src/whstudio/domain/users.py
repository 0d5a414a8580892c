"""Accounts: creation, sign-in with throttling, deactivation, API tokens."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation

from whstudio.db import queries as q
from whstudio.domain import security
from whstudio.errors import Conflict, InvalidInput, NotFound, TooManyRequests

ROLES = ("annotator", "reviewer", "admin")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user, through a session cookie or an API token."""

    id: UUID
    username: str
    role: str
    display_name: str | None = None
    session_id: UUID | None = None
    via_token: bool = False

    @classmethod
    def from_row(
        cls, row: dict[str, Any], *, via_token: bool = False, session_id: UUID | None = None
    ) -> Principal:
        return cls(
            id=row["id"],
            username=row["username"],
            role=row["role"],
            display_name=row.get("display_name"),
            session_id=session_id,
            via_token=via_token,
        )


async def create_user(
    conn: AsyncConnection,
    username: str,
    password: str | None,
    role: str = "annotator",
    display_name: str | None = None,
) -> dict[str, Any]:
    """Create an account; return its public row. Raises Conflict if the name is taken, and
    InvalidInput for a password too easy to guess."""
    if password is not None:
        _check_password(password, username)
    await q.execute(conn, "users.lock_new_name", {"username": username})
    row = await q.fetch_one(
        conn,
        "users.insert",
        {
            "username": username,
            "display_name": display_name,
            "role": role,
            "password_hash": security.hash_password(password) if password else None,
        },
    )
    if row is None:
        raise Conflict(
            f"user {username!r} already exists (names are told apart without their case)",
            field="username",
        )
    return row


async def list_users(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Return every account, by name."""
    return await q.fetch_all(conn, "users.list")


async def get_user(conn: AsyncConnection, username: str) -> dict[str, Any]:
    """Return one account by name, or raise NotFound."""
    row = await q.fetch_one(conn, "users.by_username", {"username": username})
    if row is None:
        raise NotFound(f"no user {username!r}", field="username")
    return row


async def set_groups(
    conn: AsyncConnection, username: str, groups: list[str] | None, kind: str | None = None
) -> dict[str, Any]:
    """Replace an account's groups (sorted, each once) and/or set its kind; return the account.
    Raises NotFound for an unknown name."""
    row = await q.fetch_one(
        conn,
        "users.set_groups",
        {
            "username": username,
            "groups": sorted(set(groups)) if groups is not None else None,
            "kind": kind,
        },
    )
    if row is None:
        raise NotFound(f"no user {username!r}", field="username")
    return row


def _check_password(password: str, username: str) -> None:
    if (why := security.password_problem(password, username)) is not None:
        raise InvalidInput(why, field="password")


async def set_password(conn: AsyncConnection, username: str, password: str) -> None:
    """Set a new password (reactivating the account), end its web sessions and revoke its API
    tokens: whoever held the old password may have made them. InvalidInput for a password too
    easy to guess."""
    _check_password(password, username)
    row = await q.fetch_one(
        conn,
        "users.set_password",
        {
            "username": username,
            "password_hash": security.hash_password(password),
        },
    )
    if row is None:
        raise NotFound(f"no user {username!r}", field="username")
    await q.execute(conn, "users.revoke_all_tokens", {"user_id": row["id"]})
    await q.execute(conn, "users.revoke_all_sessions", {"user_id": row["id"]})


async def set_role(
    conn: AsyncConnection, username: str, role: str, *, by: UUID | None = None
) -> None:
    """Give an account another role (it applies to its open sessions and tokens at once).
    Conflict for the caller's own account (`by`) and for the last active admin."""
    if role not in ("annotator", "reviewer", "admin"):
        raise InvalidInput("role must be annotator, reviewer or admin", field="role")
    target = await get_user(conn, username)
    if by is not None and target["id"] == by:
        raise Conflict("you cannot change your own role", field="role")
    if target["role"] == "admin" and role != "admin" and target["is_active"]:
        others = await q.fetch_all(conn, "users.other_active_admins", {"id": target["id"]})
        if not others:
            raise Conflict("the last active admin must stay an admin", field="role")
    await q.fetch_one(conn, "users.set_role", {"username": username, "role": role})


async def deactivate(conn: AsyncConnection, username: str, *, by: UUID | None = None) -> None:
    """Stop an account from signing in: sessions end and its tokens are revoked. Conflict for
    the caller's own account (`by`) and for the last active admin, which nobody could replace
    from the web app."""
    target = await get_user(conn, username)
    if by is not None and target["id"] == by:
        raise Conflict("you cannot deactivate your own account", field="username")
    if target["role"] == "admin" and target["is_active"]:
        others = await q.fetch_all(conn, "users.other_active_admins", {"id": target["id"]})
        if not others:
            raise Conflict("the last active admin cannot be deactivated", field="username")
    row = await q.fetch_one(conn, "users.deactivate", {"username": username})
    if row is None:
        raise NotFound(f"no user {username!r}", field="username")
    await q.execute(conn, "users.revoke_all_tokens", {"user_id": row["id"]})
    await q.execute(conn, "users.revoke_all_sessions", {"user_id": row["id"]})


def throttle_delay(failures: int, free: int) -> int:
    """Seconds a caller must wait after `failures` consecutive failures (0 while under `free`)."""
    if failures < free:
        return 0
    return min(2 ** (failures - free + 1), 15 * 60)


async def authenticate(
    conn: AsyncConnection,
    username: str,
    password: str,
    *,
    free_failures: int = 5,
    device: str | None = None,
) -> Principal | None:
    """Check a password; return the user, or None when wrong (the failure is recorded).

    Raises TooManyRequests, writing nothing, while the name is throttled. Failures are counted per
    user name, whether or not it exists, so the answer does not reveal which names exist. A
    `device` (a browser that signed in to this account before, by its device cookie) has its own
    count: failures from elsewhere never keep it out, and its own are throttled like any.
    """
    name = username.lower()
    key = f"device:{device}:{name}" if device else f"user:{name}"
    # One check at a time per name, each seeing the failures before it: concurrent tries
    # otherwise all read the count from before any of them failed (11-12 checks got through
    # where 5 are free). Held to the caller's commit.
    await q.execute(conn, "users.lock_name", {"key": key})
    state = await q.fetch_one(conn, "users.failures", {"key": key})
    if state is not None:
        wait = throttle_delay(state["failures"], free_failures)
        elapsed = (state["now"] - state["last_failure_at"]).total_seconds()
        if wait and elapsed < wait:
            raise TooManyRequests(
                "too many failed sign-ins; try again later",
                retry_after=max(1, math.ceil(wait - elapsed)),
            )
    row = await q.fetch_one(conn, "users.by_username", {"username": username})
    ok = await security.off_loop(
        security.verify_password, row["password_hash"] if row else None, password
    )
    if not ok or row is None or not row["is_active"]:
        await q.fetch_one(conn, "users.record_failure", {"key": key})
        return None
    await q.execute(conn, "users.clear_failures", {"key": key})
    if security.needs_rehash(row["password_hash"]):
        await q.execute(
            conn,
            "users.rehash_password",
            {
                "id": row["id"],
                "password_hash": await security.off_loop(security.hash_password, password),
            },
        )
    return Principal.from_row(row)


async def start_session(
    conn: AsyncConnection, user: Principal, *, max_age: int, user_agent: str | None
) -> UUID:
    """Record a new web session for a signed-in user and return its id."""
    row = await q.fetch_one(
        conn,
        "users.start_session",
        {
            "user_id": user.id,
            "max_age": max_age,
            "user_agent": user_agent or "",
        },
    )
    assert row is not None
    return row["id"]


async def principal_for_session(conn: AsyncConnection, session_id: UUID) -> Principal | None:
    """Return the active user of a live web session, or None."""
    row = await q.fetch_one(conn, "users.session_user", {"session_id": session_id})
    return Principal.from_row(row, session_id=session_id) if row else None


async def end_session(conn: AsyncConnection, session_id: UUID) -> None:
    """Revoke one web session (sign out)."""
    await q.execute(conn, "users.end_session", {"session_id": session_id})


async def create_token(conn: AsyncConnection, user_id: UUID, name: str) -> dict[str, Any]:
    """Create an API token; return its row with the token itself, which is never stored."""
    token, prefix, digest = security.new_api_token()
    try:
        async with conn.transaction():
            row = await q.fetch_one(
                conn,
                "tokens.insert",
                {
                    "user_id": user_id,
                    "name": name,
                    "token_prefix": prefix,
                    "token_hash": digest,
                },
            )
    except UniqueViolation as exc:
        raise Conflict(f"a live token named {name!r} exists", field="name") from exc
    assert row is not None
    return {**row, "token": token}


async def list_tokens(conn: AsyncConnection, user_id: UUID) -> list[dict[str, Any]]:
    """Return a user's tokens (never the secrets)."""
    return await q.fetch_all(conn, "tokens.for_user", {"user_id": user_id})


async def revoke_token(conn: AsyncConnection, user_id: UUID, token_id: UUID) -> None:
    """Revoke one of the user's own live tokens."""
    row = await q.fetch_one(conn, "tokens.revoke", {"id": token_id, "user_id": user_id})
    if row is None:
        raise NotFound("no such live token", field="token_id")


async def principal_for_token(conn: AsyncConnection, token: str) -> Principal | None:
    """Return the active user owning a live API token, or None."""
    if not token.startswith(security.TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await q.fetch_one(conn, "tokens.authenticate", {"token_hash": security.token_hash(token)})
    return Principal.from_row(row, via_token=True) if row else None
