"""Webhook subscriptions and their delivery log (admins)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from whstudio.domain import webhooks as webhooks_domain
from whstudio.domain.destinations import AllowList
from whstudio.domain.users import Principal
from whstudio.schemas import Bool
from whstudio.web.deps import Conn, require
from whstudio.web.errors import error_responses
from whstudio.web.policies import ADMIN

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"], responses=error_responses())

Admin = Annotated[Principal, Depends(require(ADMIN))]
Event = Literal["task.consensus_reached", "task.adjudicated", "response.created"]


class WebhookCreate(BaseModel):
    """A receiver URL and the events it wants."""

    url: str = Field(min_length=8, max_length=2000, examples=["https://example.org/hooks/whs"])
    events: list[Event] = Field(min_length=1, max_length=3)
    description: str = Field(default="", max_length=500)
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="Signing secret; generated when left out. Returned once.",
    )


class WebhookChange(BaseModel):
    is_active: Bool


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook; the answer holds its signing secret, shown once (admins)",
)
async def create_webhook(request: Request, body: WebhookCreate, user: Admin, conn: Conn):
    allowed = AllowList.parse(request.app.state.settings.webhook_allowed_hosts)
    async with conn.transaction():
        return await webhooks_domain.create(
            conn,
            url=body.url,
            events=list(body.events),
            description=body.description,
            secret=body.secret,
            created_by=user.id,
            allowed=allowed,
        )


@router.get("", summary="Every webhook with its delivery counts, secrets by prefix (admins)")
async def list_webhooks(user: Admin, conn: Conn):
    return await webhooks_domain.list_all(conn)


@router.patch("/{webhook_id}", summary="Pause or resume a webhook (admins)")
async def change_webhook(webhook_id: UUID, body: WebhookChange, user: Admin, conn: Conn):
    async with conn.transaction():
        return await webhooks_domain.set_active(conn, webhook_id, body.is_active)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a webhook and its undelivered events (admins)",
)
async def delete_webhook(webhook_id: UUID, user: Admin, conn: Conn):
    async with conn.transaction():
        await webhooks_domain.delete(conn, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/deliveries",
    summary="The newest deliveries with every attempt's outcome: the delivery log (admins)",
)
async def list_deliveries(
    user: Admin,
    conn: Conn,
    webhook_id: UUID | None = None,
    status_: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
):
    return await webhooks_domain.deliveries(
        conn, webhook_id=webhook_id, status=status_, limit=limit
    )


@router.post(
    "/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a delivery that gave up for a fresh round of attempts (admins)",
)
async def retry_delivery(
    delivery_id: Annotated[int, PathParam(ge=1, le=2**62)], user: Admin, conn: Conn
):
    async with conn.transaction():
        await webhooks_domain.redeliver(conn, delivery_id)
    return {"delivery_id": delivery_id, "status": "pending"}
