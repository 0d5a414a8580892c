"""Group commit for answers: the answers an app process receives while it stores a group are
stored together, in one statement and one transaction, each request answered after that
transaction commits.

Each request brings its own pooled connection. A request that finds fewer than `in_flight`
groups being stored leads one: it takes the queue's answers (its own first, up to `max_group`)
and stores them with one call of `submit_answers_v1` on its connection. Answers arriving while
`in_flight` groups are being stored queue; when a group is done, the oldest waiting request is
promoted and leads the next group with its own connection. Two groups at once (the default) let
one group's commit wait for its WAL flush while the next one runs. No connection is borrowed
for a group beyond those the requests already hold, and with few answers in flight nothing
waits at all: a group of one is the single statement an answer always was.

What each answer gets is what `responses.submit` alone gives it: the database function runs
`submit_answer_v1` for each answer in the order they arrived (sorted by task, stably, so that
two groups lock their tasks' consensus rows in the same order), each in its own subtransaction,
its consensus events deferred as `submit_answer_v2` defers them. The events of the whole group
come back with the first answer stored, and its request publishes them once the group has
committed; an answer rolled back takes its events with it.
An answer refused on purpose (SQLSTATE WH404 / WH409 / WH422) gets that domain error; any other
error of one answer (a unique violation from a concurrent duplicate, a deadlock) rolls back that
answer alone, and its request stores it again by itself through `retrying`, exactly as before.
An error of the whole statement (the connection lost, a timeout) is every member's error, as it
would have been each request's alone: nothing is stored twice, and nothing is acknowledged before
its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.db.errors import refusal
from whstudio.db.retry import RETRYABLE, in_transaction, retrying
from whstudio.domain import responses
from whstudio.schemas import TaskResponse

# Most answers one statement stores: each is a subtransaction, and a backend caches 64.
MAX_GROUP = 64

_LEAD = object()  # a waiting request's turn to lead the next group
_ALONE = object()  # store this answer by itself (an error only a retry alone can sort out)

_COLUMNS = (
    ("tasks", "task_id"),
    ("users", "user_id"),
    ("chosen", "chosen_response"),
    ("rankings", "ranking"),
    ("texts", "text"),
    ("transcripts", "transcript"),
    ("confidences", "confidence"),
    ("explanations", "explanation"),
    ("times", "time_spent_seconds"),
    ("shown_orders", "shown_order"),
    ("keys", "idempotency_key"),
)


@dataclass(eq=False)
class _Waiting:
    params: dict[str, Any]
    future: asyncio.Future = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    """The answers of one app process, stored in groups (see the module's docstring).

    `max_group` 1 stores every answer alone. `on_group` is told each group's size (a metric)."""

    def __init__(
        self,
        max_group: int,
        on_group: Callable[[int], None] | None = None,
        *,
        in_flight: int = 2,
    ) -> None:
        if not 1 <= max_group <= MAX_GROUP:
            raise ValueError(f"max_group must be 1..{MAX_GROUP}, not {max_group}")
        if in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, not {in_flight}")
        self.max_group = max_group
        self.in_flight = in_flight
        self.on_group = on_group
        self._queue: deque[_Waiting] = deque()
        # Groups being stored or whose leader was promoted; the queue is empty while fewer
        # than `in_flight` (a leader leaves only when nobody waits).
        self._leaders = 0

    async def submit(
        self,
        conn: AsyncConnection,
        *,
        task_id: UUID,
        user_id: UUID,
        answer: TaskResponse,
        idempotency_key: str | None = None,
    ) -> responses.Submitted:
        """Store one answer as `responses.submit(..., defer_events=True)` does, retried after
        a race: a single statement (`responses.single_statement`) in a group with the answers
        that arrive meanwhile, any other answer in a transaction of its own."""

        async def alone(c: AsyncConnection) -> responses.Submitted:
            return await responses.submit(
                c,
                task_id=task_id,
                user_id=user_id,
                answer=answer,
                idempotency_key=idempotency_key,
                defer_events=True,
            )

        if not responses.single_statement(answer):
            return await in_transaction(conn, alone)
        if self.max_group == 1:
            return await retrying(conn, alone)
        params = responses.submit_params(task_id, user_id, answer, idempotency_key)
        outcome = await self._outcome(conn, params)
        if outcome is _ALONE:
            return await retrying(conn, alone)
        if isinstance(outcome, BaseException):
            raise outcome
        return await responses.finish_submitted(conn, task_id, outcome, params)

    async def _outcome(self, conn: AsyncConnection, params: dict[str, Any]) -> Any:
        me = _Waiting(params)
        self._queue.append(me)
        if self._leaders < self.in_flight:
            self._leaders += 1
        else:
            try:
                got = await me.future
            except asyncio.CancelledError:
                # Promoted just as this request was cancelled: hand the lead on.
                if me.future.done() and not me.future.cancelled() and me.future.result() is _LEAD:
                    with contextlib.suppress(ValueError):
                        self._queue.remove(me)
                    self._promote()
                raise
            if got is not _LEAD:
                return got
        return await self._lead(conn, me)

    async def _lead(self, conn: AsyncConnection, me: _Waiting) -> Any:
        group = [me]
        with contextlib.suppress(ValueError):
            self._queue.remove(me)
        while self._queue and len(group) < self.max_group:
            other = self._queue.popleft()
            if not other.future.done():  # a request cancelled while it waited is dropped
                group.append(other)
        outcomes: list[Any] | None = None
        failure: BaseException | None = None
        try:
            outcomes = await self._store(conn, [w.params for w in group])
        except BaseException as exc:  # every member gets the group's error
            failure = exc
            raise
        finally:
            for i, waiting in enumerate(group[1:], start=1):
                if waiting.future.done():
                    continue
                if outcomes is not None:
                    waiting.future.set_result(outcomes[i])
                elif isinstance(failure, Exception):
                    waiting.future.set_result(failure)
                else:  # the leader was cancelled: what the statement did is unknown
                    waiting.future.set_result(
                        RuntimeError("the group storing this answer was interrupted")
                    )
            self._promote()
        return outcomes[0]

    def _promote(self) -> None:
        while self._queue:
            head = self._queue[0]
            if head.future.done():
                self._queue.popleft()
                continue
            head.future.set_result(_LEAD)
            return
        self._leaders -= 1

    async def _store(self, conn: AsyncConnection, group: list[dict[str, Any]]) -> list[Any]:
        if self.on_group is not None:
            self.on_group(len(group))
        if len(group) == 1:
            # One answer: today's single statement, its errors raised as they are.
            try:
                result = await responses.store_one(conn, group[0])
            except RETRYABLE:
                return [_ALONE]
            except Exception as exc:  # handed to the request it belongs to
                return [exc]
            return [result]
        order = sorted(range(len(group)), key=lambda i: str(group[i]["task_id"]))
        args = {name: [group[i][key] for i in order] for name, key in _COLUMNS}
        row = await q.fetch_one(conn, "responses.submit_grouped", args)
        outcomes: list[Any] = [None] * len(group)
        reached: set[UUID] = set()
        for position, result in zip(order, row["results"], strict=True):
            error = result.get("error") if isinstance(result, dict) else None
            if error is not None:
                outcomes[position] = refusal(error["sqlstate"], error["message"], error["hint"])
                if outcomes[position] is None:
                    outcomes[position] = _ALONE
                continue
            # reached_now compares reached_at with the transaction's start, the same for the
            # whole group: only the first answer of a task that settled here reports it.
            task = group[position]["task_id"]
            if result.get("reached_now"):
                if task in reached:
                    result["reached_now"] = False
                reached.add(task)
            outcomes[position] = result
        return outcomes
