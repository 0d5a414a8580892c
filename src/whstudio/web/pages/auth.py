"""Sign in and sign out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from whstudio.domain import users as users_domain
from whstudio.errors import TooManyRequests
from whstudio.web.deps import Conn, MaybeUser, check_csrf
from whstudio.web.limits import client_address
from whstudio.web.sessions import (
    DEVICE_COOKIE,
    DEVICE_MAX_AGE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
)
from whstudio.web.templating import csrf_for, page

__all__ = ["csrf_for", "router", "safe_next"]

router = APIRouter(tags=["pages"], include_in_schema=False)


def _secure(request: Request) -> bool:
    """Cookies are HTTPS-only when the settings say so, and whenever the request came over
    HTTPS (behind a TLS proxy, as its X-Forwarded-Proto says to uvicorn): a cookie first set
    over TLS must never travel in clear."""
    return request.app.state.settings.cookie_secure or request.url.scheme == "https"


def safe_next(target: str | None) -> str:
    """Return a same-site path to go to after signing in; anything else becomes '/'."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(
    request: Request,
    *,
    error: str | None = None,
    status: int = 200,
    username: str = "",
    next_url: str = "/",
    headers: dict[str, str] | None = None,
) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        {"error": error, "username": username, "next": safe_next(next_url)},
        user=None,
        status_code=status,
        headers=headers,
        csrf=token,  # no session yet to derive it from: a cookie holds it instead
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/login")
async def login_form(request: Request, user: MaybeUser, next: str = "/"):
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=next)


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
):
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return _login_page(
            request,
            error="Your sign-in form expired; please try again.",
            status=403,
            username=username,
            next_url=next,
        )
    if not username.strip() or not password:
        return _login_page(
            request,
            error="Enter your user name and password.",
            status=422,
            username=username,
            next_url=next,
        )
    settings = request.app.state.settings
    name = username.strip()
    devices = request.app.state.devices
    device = devices.device_for(request.cookies.get(DEVICE_COOKIE), name)
    try:
        # Before anything is spent on it (a connection, a password hash): the tries allowed
        # from this address and in all, unless this browser signed in to the account before.
        request.app.state.limits.admit_sign_in(
            client_address(request.scope), trusted=device is not None
        )
    except TooManyRequests as exc:
        return _login_page(
            request,
            error=f"Too many sign-in attempts: {exc.message}. Try again in {exc.retry_after} s.",
            status=429,
            username=username,
            next_url=next,
            headers={"Retry-After": str(exc.retry_after)},
        )
    try:
        async with request.app.state.pool.connection() as conn, conn.transaction():
            principal = await users_domain.authenticate(
                conn,
                name,
                password,
                free_failures=settings.login_free_failures,
                device=device,
            )
            session_id = None
            if principal is not None:
                session_id = await users_domain.start_session(
                    conn,
                    principal,
                    max_age=settings.session_max_age,
                    user_agent=request.headers.get("user-agent"),
                )
    except TooManyRequests as exc:
        return _login_page(
            request,
            error=f"Too many failed sign-ins for this name: {exc.message}",
            status=429,
            username=username,
            next_url=next,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if principal is None or session_id is None:
        request.app.state.metrics.login_failures.inc()
        return _login_page(
            request,
            error="Wrong user name or password.",
            status=401,
            username=username,
            next_url=next,
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        request.app.state.sessions.encode(session_id),
        max_age=settings.session_max_age,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    response.set_cookie(
        DEVICE_COOKIE,
        devices.encode(name, device or secrets.token_urlsafe(16)),
        max_age=DEVICE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.post("/logout")
async def logout(request: Request, conn: Conn, user: MaybeUser):
    response = RedirectResponse("/login", status_code=303)
    if user is not None and user.session_id is not None:
        await check_csrf(request, user)
        async with conn.transaction():
            await users_domain.end_session(conn, user.session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
