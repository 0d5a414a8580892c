"""Accounts and API tokens."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response, status

from whstudio.domain import quality
from whstudio.domain import users as users_domain
from whstudio.domain.users import Principal
from whstudio.schemas import (
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserGroupsChange,
    UserPublic,
)
from whstudio.web.deps import Conn, require
from whstudio.web.errors import error_responses
from whstudio.web.policies import ADMIN, ANYONE_SIGNED_IN, STAFF

router = APIRouter(prefix="/api", tags=["accounts"], responses=error_responses())

SignedIn = Annotated[Principal, Depends(require(ANYONE_SIGNED_IN))]
Admin = Annotated[Principal, Depends(require(ADMIN))]


@router.get("/me", response_model=UserPublic, summary="The caller's own account (anyone signed in)")
async def me(user: SignedIn, conn: Conn):
    row = await users_domain.get_user(conn, user.username)
    if user.role not in STAFF:
        # As annotators read their own reputation: at the start of the day (see quality).
        row = {**row, "reputation_score": (await quality.own_score(conn, user.id))["score"]}
    return row


@router.get("/users", response_model=list[UserPublic], summary="Every account (admin)")
async def list_users(user: Admin, conn: Conn):
    return await users_domain.list_users(conn)


@router.post(
    "/users",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create an account (admin)",
)
async def create_user(body: UserCreate, user: Admin, conn: Conn):
    async with conn.transaction():
        return await users_domain.create_user(
            conn, body.username, body.password, body.role, body.display_name
        )


@router.patch(
    "/users/{username}",
    response_model=UserPublic,
    summary="Set an account's groups (replaced whole) and kind, person or model (admin)",
)
async def change_user(username: str, body: UserGroupsChange, user: Admin, conn: Conn):
    async with conn.transaction():
        return await users_domain.set_groups(conn, username, body.groups, body.kind)


@router.post(
    "/users/{username}/deactivate",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop an account from signing in; revoke its tokens (admin; not one's own account,"
    " not the last active admin: 409)",
)
async def deactivate_user(request: Request, username: str, user: Admin, conn: Conn) -> None:
    async with conn.transaction():
        await users_domain.deactivate(conn, username, by=user.id)
    # This process forgets at once; the others on the notification the change raised.
    request.app.state.token_cache.clear()


@router.get(
    "/tokens",
    response_model=list[TokenPublic],
    summary="The caller's API tokens (anyone signed in)",
)
async def list_tokens(user: SignedIn, conn: Conn):
    return await users_domain.list_tokens(conn, user.id)


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token for the caller; shown once (anyone signed in)",
)
async def create_token(body: TokenCreate, user: SignedIn, conn: Conn, response: Response):
    # the token is in this answer and nowhere else: no cache, shared or private, may keep it
    response.headers["Cache-Control"] = "no-store"
    async with conn.transaction():
        return await users_domain.create_token(conn, user.id, body.name)


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke one of the caller's API tokens (anyone signed in)",
)
async def revoke_token(request: Request, token_id: UUID, user: SignedIn, conn: Conn) -> None:
    async with conn.transaction():
        await users_domain.revoke_token(conn, user.id, token_id)
    request.app.state.token_cache.clear()
