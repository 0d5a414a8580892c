"""FastAPI dependencies: a pooled connection, the caller, and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection

from whstudio.domain import security
from whstudio.domain import users as users_domain
from whstudio.domain.users import Principal
from whstudio.errors import Forbidden, Unauthenticated
from whstudio.web.sessions import SESSION_COOKIE

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """A pooled autocommit connection for this request. Handlers that write do it inside
    `conn.transaction()`, which commits before the response is sent."""
    async with request.app.state.pool.connection() as conn:
        try:
            yield conn
        finally:
            if not conn.closed and conn.info.transaction_status != 0:  # not IDLE
                await conn.rollback()


Conn = Annotated[AsyncConnection, Depends(get_conn)]


async def get_principal(request: Request, conn: Conn) -> Principal | None:
    """Return the caller from a bearer token or a session cookie, or None when anonymous."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        principal = await users_domain.principal_for_token(conn, token.strip())
        if principal is None:
            raise Unauthenticated("the API token is unknown, revoked or expired")
        return principal
    session_id = request.app.state.sessions.decode(request.cookies.get(SESSION_COOKIE))
    if session_id is None:
        return None
    return await users_domain.principal_for_session(conn, session_id)


MaybeUser = Annotated[Principal | None, Depends(get_principal)]


async def check_csrf(request: Request, principal: Principal) -> None:
    """Refuse a state-changing request made with a session cookie but without its CSRF token."""
    if principal.via_token or request.method not in UNSAFE_METHODS:
        return
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    secret = request.app.state.secret
    if not security.csrf_valid(secret, str(principal.session_id), presented):
        raise Forbidden("missing or wrong CSRF token", field=CSRF_FIELD)


def require(roles: Iterable[str]):
    """Return a dependency admitting only signed-in callers whose role is in `roles`."""
    allowed = frozenset(roles)

    # The caller is looked up here rather than through a nested `Depends(get_principal)`: one
    # dependency less for FastAPI to solve on every request.
    async def dependency(request: Request, conn: Conn) -> Principal:
        principal = await get_principal(request, conn)
        if principal is None:
            raise Unauthenticated("sign in or send an API token")
        if principal.role not in allowed:
            raise Forbidden(f"this needs the role {' or '.join(sorted(allowed))}")
        await check_csrf(request, principal)
        return principal

    dependency.roles = allowed  # type: ignore[attr-defined]  # read by the route-policy test
    return dependency


def require_briefly(roles: Iterable[str]):
    """Like `require`, but borrows a pooled connection only while checking the caller, for
    long-lived responses (event streams) that must not hold one."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        async with request.app.state.pool.connection() as conn:
            principal = await get_principal(request, conn)
        if principal is None:
            raise Unauthenticated("sign in or send an API token")
        if principal.role not in allowed:
            raise Forbidden(f"this needs the role {' or '.join(sorted(allowed))}")
        return principal

    dependency.roles = allowed  # type: ignore[attr-defined]
    return dependency
