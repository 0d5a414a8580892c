"""Server-Sent Events: live consensus for one task, and for every task."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from whstudio.domain import consensus as consensus_domain
from whstudio.domain import visibility
from whstudio.domain.users import Principal
from whstudio.errors import InvalidInput, Unauthenticated
from whstudio.web.deps import get_principal, require_briefly
from whstudio.web.errors import error_responses
from whstudio.web.events import RESYNC, format_event
from whstudio.web.policies import ANYONE_SIGNED_IN

router = APIRouter(prefix="/api", tags=["events"], responses=error_responses())

SignedIn = Annotated[Principal, Depends(require_briefly(ANYONE_SIGNED_IN))]
KEEPALIVE_SECONDS = 15


def _last_event_id(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or "0"
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidInput(
            "Last-Event-ID must be an event id this stream sent", field="Last-Event-ID"
        )
    return int(raw)


async def _still(request: Request, caller: Principal) -> bool:
    """Whether the stream's caller is still signed in, as the same account in the same role."""
    try:
        async with request.app.state.pool.connection() as conn:
            now = await get_principal(request, conn)
    except Unauthenticated:  # a token revoked or expired
        return False
    return now is not None and (now.id, now.role) == (caller.id, caller.role)


async def _stream(
    request: Request,
    caller: Principal,
    last: int,
    task_id: UUID | None,
    sight: visibility.Sight,
    send_current: bool,
) -> AsyncIterator[str]:
    broker = request.app.state.broker
    pool = request.app.state.pool
    queue = broker.subscribe()

    async def catch_up(since: int) -> list[dict]:
        async with pool.connection() as conn:
            return await visibility.events_since(
                conn, sight, since, task_id=task_id, send_current=send_current
            )

    try:
        yield "retry: 2000\n\n"
        if not last and not send_current:
            # From now on: a resynchronisation must not replay the whole history.
            async with pool.connection() as conn:
                last = await consensus_domain.newest_version(conn)
        elif last or send_current:
            for shown in await catch_up(last):
                last = max(last, shown["version"])
                yield format_event(shown)
        recheck = request.app.state.settings.stream_recheck_seconds
        checked = quiet = time.monotonic()
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), min(recheck, KEEPALIVE_SECONDS))
            except TimeoutError:
                event = None
            now = time.monotonic()
            if now - checked >= recheck:
                # the caller may have signed out, been deactivated or changed role meanwhile
                if not await _still(request, caller):
                    return
                checked = now
            if event is None:
                if await request.is_disconnected():
                    return
                if now - quiet >= KEEPALIVE_SECONDS:
                    quiet = now
                    yield ": keep-alive\n\n"
                continue
            quiet = now
            if event is RESYNC:
                for shown in await catch_up(last):
                    last = max(last, shown["version"])
                    yield format_event(shown)
                continue
            if task_id is not None and event.get("task_id") != str(task_id):
                continue
            if event["version"] <= last:
                continue
            last = event["version"]
            yield format_event(visibility.event_view(sight, event))
    finally:
        broker.unsubscribe(queue)


def _sse(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/consensus/{task_id}/stream",
    summary="Server-Sent Events with a task's consensus as it changes; resumes from "
    "Last-Event-ID (reviewers, admins, and annotators who answered the task)",
)
async def consensus_stream(task_id: UUID, request: Request, user: SignedIn):
    last = _last_event_id(request)
    async with request.app.state.pool.connection() as conn:
        sight, _ = await visibility.consensus_sight(
            conn, user, task_id, refusal=visibility.FOLLOW_REFUSAL
        )
    return _sse(_stream(request, user, last, task_id, sight, send_current=True))


@router.get(
    "/events",
    summary="Server-Sent Events for every task: progress for annotators, full consensus "
    "for reviewers and admins; resumes from Last-Event-ID (anyone signed in)",
)
async def all_events(request: Request, user: SignedIn):
    last = _last_event_id(request)
    sight = visibility.stream_sight(user)
    return _sse(_stream(request, user, last, None, sight, send_current=False))
