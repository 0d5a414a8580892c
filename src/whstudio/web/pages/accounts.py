"""Accounts: the admin's user list, and every user's own API tokens."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from whstudio.domain import users as users_domain
from whstudio.domain.users import Principal
from whstudio.errors import Conflict, InvalidInput, NotFound
from whstudio.schemas import TokenCreate, UserCreate
from whstudio.web.deps import Conn, require
from whstudio.web.policies import ADMIN, ANYONE_SIGNED_IN
from whstudio.web.templating import page

router = APIRouter(tags=["pages"], include_in_schema=False)

Admin = Annotated[Principal, Depends(require(ADMIN))]
SignedIn = Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]
FIELD_LABELS = {"username": "User name", "password": "Password", "role": "Role", "name": "Name"}


def _problem(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first.get("loc") else "form"
    reason = first["msg"]
    if field == "username" and first.get("type") == "string_pattern_mismatch":
        reason = "use letters, digits and . _ @ - (at most 64), starting with a letter or digit"
    return field, f"{FIELD_LABELS.get(field, field)}: {reason}"


async def _users_page(request, conn, user, *, error=None, field=None, status=200, form=None):
    context = {
        "users": await users_domain.list_users(conn),
        "error": error,
        "error_field": field,
        "form": form or {"username": "", "display_name": "", "role": "annotator"},
        "saved": request.query_params.get("saved"),
    }
    return page(request, "admin_users.html", context, user=user, status_code=status)


@router.get("/admin/users")
async def users_page(request: Request, user: Admin, conn: Conn):
    return await _users_page(request, conn, user)


@router.post("/admin/users")
async def users_create(
    request: Request,
    user: Admin,
    conn: Conn,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=20)] = "annotator",
    display_name: Annotated[str, Form(max_length=300)] = "",
):
    form = {"username": username, "display_name": display_name, "role": role}
    try:
        body = UserCreate.model_validate(
            {
                "username": username,
                "password": password,
                "role": role,
                "display_name": display_name.strip() or None,
            }
        )
    except ValidationError as exc:
        field, message = _problem(exc)
        return await _users_page(
            request, conn, user, error=message, field=field, status=422, form=form
        )
    try:
        async with conn.transaction():
            await users_domain.create_user(
                conn, body.username, body.password, body.role, body.display_name
            )
    except Conflict as exc:
        return await _users_page(
            request, conn, user, error=exc.message, field="username", status=409, form=form
        )
    except InvalidInput as exc:  # a password too easy to guess
        return await _users_page(
            request, conn, user, error=exc.message, field=exc.field, status=422, form=form
        )
    return RedirectResponse(f"/admin/users?saved=created:{body.username}", status_code=303)


@router.post("/admin/users/{username}/deactivate")
async def users_deactivate(request: Request, username: str, user: Admin, conn: Conn):
    if username == user.username:
        return await _users_page(
            request,
            conn,
            user,
            error="You cannot deactivate your own account.",
            field="username",
            status=409,
        )
    try:
        async with conn.transaction():
            await users_domain.deactivate(conn, username, by=user.id)
    except Conflict as exc:
        return await _users_page(
            request, conn, user, error=exc.message, field="username", status=409
        )
    request.app.state.token_cache.clear()
    return RedirectResponse(f"/admin/users?saved=deactivated:{username}", status_code=303)


@router.post("/admin/users/{username}/role")
async def users_role(
    request: Request,
    username: str,
    user: Admin,
    conn: Conn,
    role: Annotated[str, Form(max_length=20)] = "",
):
    try:
        async with conn.transaction():
            await users_domain.set_role(conn, username, role, by=user.id)
    except (Conflict, InvalidInput, NotFound) as exc:
        return await _users_page(
            request, conn, user, error=exc.message, field="role", status=exc.status
        )
    request.app.state.token_cache.clear()
    return RedirectResponse(f"/admin/users?saved=role:{username}", status_code=303)


@router.post("/admin/users/{username}/password")
async def users_password(
    request: Request,
    username: str,
    user: Admin,
    conn: Conn,
    password: Annotated[str, Form(max_length=1000)] = "",
):
    """Set a new password: the account can sign in again (reactivated), its sessions end and
    its tokens are revoked."""
    try:
        async with conn.transaction():
            await users_domain.set_password(conn, username, password)
    except (InvalidInput, NotFound) as exc:
        return await _users_page(
            request,
            conn,
            user,
            error=f"{username}: {exc.message}",
            field="password",
            status=exc.status,
        )
    request.app.state.token_cache.clear()
    return RedirectResponse(f"/admin/users?saved=password:{username}", status_code=303)


async def _tokens_page(request, conn, user, *, created=None, error=None, status=200):
    context = {
        "tokens": await users_domain.list_tokens(conn, user.id),
        "created": created,
        "error": error,
    }
    return page(request, "tokens.html", context, user=user, status_code=status)


@router.get("/tokens")
async def tokens_page(request: Request, user: SignedIn, conn: Conn):
    return await _tokens_page(request, conn, user)


@router.post("/tokens")
async def tokens_create(
    request: Request, user: SignedIn, conn: Conn, name: Annotated[str, Form(max_length=300)] = ""
):
    try:
        body = TokenCreate.model_validate({"name": name})
    except ValidationError as exc:
        return await _tokens_page(request, conn, user, error=_problem(exc)[1], status=422)
    try:
        async with conn.transaction():
            created = await users_domain.create_token(conn, user.id, body.name)
    except Conflict as exc:
        return await _tokens_page(request, conn, user, error=exc.message, status=409)
    # The secret is shown on this one answer only; it is never stored.
    response = await _tokens_page(request, conn, user, created=created, status=201)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/tokens/{token_id}/revoke")
async def tokens_revoke(request: Request, token_id: UUID, user: SignedIn, conn: Conn):
    try:
        async with conn.transaction():
            await users_domain.revoke_token(conn, user.id, token_id)
    except NotFound as exc:
        return await _tokens_page(request, conn, user, error=exc.message, status=404)
    request.app.state.token_cache.clear()
    return RedirectResponse("/tokens", status_code=303)
