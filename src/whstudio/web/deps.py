"""FastAPI dependencies: a pooled connection, the caller, and role checks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection

from whstudio.domain import security
from whstudio.domain import users as users_domain
from whstudio.domain.users import Principal
from whstudio.errors import Forbidden, Unauthenticated
from whstudio.web.policies import STAFF
from whstudio.web.sessions import SESSION_COOKIE

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@asynccontextmanager
async def _borrowed(pool) -> AsyncIterator[AsyncConnection]:
    """A connection of `pool` for one request, given back with no transaction left open."""
    async with pool.connection() as conn:
        try:
            yield conn
        finally:
            if not conn.closed and conn.info.transaction_status != 0:  # not IDLE
                await conn.rollback()


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """A pooled autocommit connection for this request. Handlers that write do it inside
    `conn.transaction()`, which commits before the response is sent."""
    async with _borrowed(request.app.state.pool) as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(get_conn)]


async def get_read_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """A pooled connection to the read replica (WHSTUDIO_READ_DATABASE_URL) for staff's heavy
    reads, which may lag the primary; the primary's pool when there is no replica. Never for
    what an annotator reads after writing, nor for writes."""
    async with _borrowed(request.app.state.read_pool) as conn:
        yield conn


ReadConn = Annotated[AsyncConnection, Depends(get_read_conn)]


@asynccontextmanager
async def read_for(request: Request, user: Principal) -> AsyncIterator[AsyncConnection]:
    """For a read both staff and annotators make: the replica's connection for staff, who may
    see a list a moment old; the primary's for an annotator, who must never see a state older
    than their own answer."""
    pool = request.app.state.read_pool if user.role in STAFF else request.app.state.pool
    async with _borrowed(pool) as conn:
        yield conn


class TokenCache:
    """API tokens this process checked in the last `ttl` seconds (by hash) and their caller.

    Every change that could end or alter a token's rights (revocation, expiry change, a user
    deactivated, a role changed, a row deleted) is announced by PostgreSQL on `whstudio_auth`
    (revision 0007); the consensus listener clears this cache when one arrives and whenever its
    connection drops or returns, and the cache is bypassed (`live()` false) while it is not
    listening. What remains is the delivery delay of a notification (milliseconds) and a token
    that expires by the clock, which the TTL bounds. Only successful checks are kept.
    """

    MAX_ENTRIES = 50_000

    def __init__(self, ttl: float, live: Callable[[], bool]) -> None:
        self.ttl = ttl
        self.live = live
        self._items: dict[bytes, tuple[Principal, float]] = {}

    def get(self, digest: bytes) -> Principal | None:
        if self.ttl <= 0 or not self.live():
            return None
        item = self._items.get(digest)
        if item is None:
            return None
        if item[1] < time.monotonic():
            self._items.pop(digest, None)
            return None
        return item[0]

    def put(self, digest: bytes, principal: Principal) -> None:
        if self.ttl <= 0 or not self.live():
            return
        if len(self._items) >= self.MAX_ENTRIES:
            self._items.clear()
        self._items[digest] = (principal, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._items.clear()


async def _principal_for_token(request: Request, conn: AsyncConnection, token: str):
    cache: TokenCache = request.app.state.token_cache
    digest = security.token_hash(token)
    principal = cache.get(digest)
    if principal is None:
        principal = await users_domain.principal_for_token(conn, token)
        if principal is not None:
            cache.put(digest, principal)
    return principal


async def get_principal(request: Request, conn: Conn) -> Principal | None:
    """Return the caller from a bearer token or a session cookie, or None when anonymous."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        principal = await _principal_for_token(request, conn, token.strip())
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
        request.state.principal = principal  # an error page keeps its navigation
        # The account's rate and the requests it has holding a connection (web/limits.py).
        request.app.state.limits.admit_user(request.scope, principal.id)
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
