"""Sign in and sign out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from whstudio.domain import security
from whstudio.domain import users as users_domain
from whstudio.web.deps import Conn, MaybeUser, check_csrf
from whstudio.web.sessions import LOGIN_CSRF_COOKIE, SESSION_COOKIE

router = APIRouter(tags=["pages"], include_in_schema=False)


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
) -> Response:
    token = secrets.token_urlsafe(24)
    response = request.app.state.templates.TemplateResponse(
        request,
        "login.html",
        {
            "error": error,
            "csrf_token": token,
            "username": username,
            "next": safe_next(next_url),
            "user": None,
        },
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.cookie_secure,
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
    conn: Conn,
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
    async with conn.transaction():
        principal = await users_domain.authenticate(
            conn, username.strip(), password, free_failures=settings.login_free_failures
        )
        session_id = None
        if principal is not None:
            session_id = await users_domain.start_session(
                conn,
                principal,
                max_age=settings.session_max_age,
                user_agent=request.headers.get("user-agent"),
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
        secure=settings.cookie_secure,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
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


def csrf_for(request: Request, user) -> str:
    """Return the CSRF token pages embed in their forms for this session ('' without one: a
    caller with an API token posts no forms)."""
    if user is None or user.session_id is None:
        return ""
    return security.csrf_token(request.app.state.secret, str(user.session_id))
