"""Server-Sent Events: live consensus for one task, and for every task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from whstudio.domain import consensus as consensus_domain
from whstudio.domain import responses
from whstudio.domain.users import Principal
from whstudio.errors import Forbidden, InvalidInput
from whstudio.web.deps import require_briefly
from whstudio.web.errors import error_responses
from whstudio.web.events import RESYNC, format_event
from whstudio.web.policies import ANYONE_SIGNED_IN, STAFF

router = APIRouter(prefix="/api", tags=["events"], responses=error_responses())

SignedIn = Annotated[Principal, Depends(require_briefly(ANYONE_SIGNED_IN))]
KEEPALIVE_SECONDS = 15
# What an annotator may see of a task they have not answered: progress, not answers.
PROGRESS_FIELDS = ("task_id", "version", "total_responses", "remaining", "consensus_reached")


def _last_event_id(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or "0"
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidInput(
            "Last-Event-ID must be an event id this stream sent", field="Last-Event-ID"
        )
    return int(raw)


async def _stream(
    request: Request,
    last: int,
    task_id: UUID | None,
    shape: Callable[[dict[str, Any]], dict[str, Any]],
    send_current: bool,
) -> AsyncIterator[str]:
    broker = request.app.state.broker
    pool = request.app.state.pool
    queue = broker.subscribe()

    async def catch_up(since: int) -> list[dict[str, Any]]:
        async with pool.connection() as conn:
            rows = await consensus_domain.changed_since(conn, since, task_id=task_id)
            if not rows and send_current and task_id is not None and since == 0:
                state = await consensus_domain.read(conn, task_id)
                rows = [
                    {
                        k: state.get(k)
                        for k in (
                            "task_id",
                            "version",
                            "total_responses",
                            "remaining",
                            "consensus_reached",
                            "agreement_percentage",
                            "final_answer",
                        )
                    }
                    | {
                        "count_a": state["counts"]["A"]["count"],
                        "count_b": state["counts"]["B"]["count"],
                        "count_tie": state["counts"]["tie"]["count"],
                    }
                ]
            return rows

    try:
        yield "retry: 2000\n\n"
        if not last and not send_current:
            # From now on: a resynchronisation must not replay the whole history.
            async with pool.connection() as conn:
                last = await consensus_domain.newest_version(conn)
        elif last or send_current:
            for row in await catch_up(last):
                last = max(last, row["version"])
                yield format_event(shape(row))
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            if event is RESYNC:
                for row in await catch_up(last):
                    last = max(last, row["version"])
                    yield format_event(shape(row))
                continue
            if task_id is not None and event.get("task_id") != str(task_id):
                continue
            if event["version"] <= last:
                continue
            last = event["version"]
            yield format_event(shape(event))
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
    pool = request.app.state.pool
    order = None
    async with pool.connection() as conn:
        state = await consensus_domain.read(conn, task_id)
        if user.role not in STAFF:
            if not await responses.has_answered(conn, task_id, user.id):
                raise Forbidden("answer this task before following its consensus")
            if state["question_type"] == "pairwise_ab":
                order = responses.shown_order(task_id, user.id)

    def shape(event: dict[str, Any]) -> dict[str, Any]:
        if order != "BA":
            return event
        swapped = dict(event)
        swapped["count_a"], swapped["count_b"] = event.get("count_b"), event.get("count_a")
        final = event.get("final_answer")
        if final and final.get("chosen_response") in ("A", "B"):
            swapped["final_answer"] = {
                "chosen_response": responses.to_shown(final["chosen_response"], order)
            }
        return swapped

    return _sse(_stream(request, last, task_id, shape, send_current=True))


@router.get(
    "/events",
    summary="Server-Sent Events for every task: progress for annotators, full consensus "
    "for reviewers and admins; resumes from Last-Event-ID (anyone signed in)",
)
async def all_events(request: Request, user: SignedIn):
    last = _last_event_id(request)
    staff = user.role in STAFF

    def shape(event: dict[str, Any]) -> dict[str, Any]:
        return event if staff else {k: event.get(k) for k in PROGRESS_FIELDS}

    return _sse(_stream(request, last, None, shape, send_current=False))
