"""Consensus changes pushed to browsers: one LISTEN connection per app, fanned out to Server-Sent
Events subscribers. Events carry the consensus row's version, a global sequence, so a client that
reconnects with Last-Event-ID gets the current state of everything that changed meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import structlog

from whstudio.db import listen
from whstudio.db.listen import AUTH_CHANNEL
from whstudio.db.listen import CONSENSUS_CHANNEL as CHANNEL
from whstudio.domain import consensus as consensus_domain

log = structlog.get_logger("whstudio.events")
RESYNC: dict[str, Any] = {"resync": True}
QUEUE_SIZE = 1000


class ConsensusBroker:
    """Listens for consensus notifications and fans them out to subscribers.

    Not every change is notified: writers that must not serialise their commits on NOTIFY's
    lock defer their events (the legacy migration's old-path writes and its backfill), and a
    publication after the commit can be lost. So a watch reads the versions of the consensus
    rows changed since it last looked, every `watch_seconds` (a range of the version index);
    one that no notification announced within the next period makes the subscribers
    resynchronise from the database.
    """

    def __init__(
        self,
        url: str,
        *,
        on_auth_change: Callable[[], None] | None = None,
        watch_seconds: float = 0.5,
    ) -> None:
        self.url = url
        # Called on every auth change, and whenever the listener (re)connects: changes may have
        # been missed while it was away.
        self.on_auth_change = on_auth_change or (lambda: None)
        self.watch_seconds = watch_seconds
        self.subscribers: set[asyncio.Queue] = set()
        self.listening = asyncio.Event()
        self._notified: set = set()  # versions notified since the watch last looked
        self.resyncs = 0  # resynchronisations the watch asked for
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="consensus-broker"),
            asyncio.create_task(self._watch(), name="consensus-watch"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)

    def _publish(self, event: dict[str, Any]) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # A slow reader: drop its backlog and have it catch up from the database.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(RESYNC)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with listen.listening(self.url, (CHANNEL, AUTH_CHANNEL)) as notices:
                    self.on_auth_change()
                    self.listening.set()
                    delay = 0.5
                    # Anything published while we were away is fetched by each subscriber.
                    self._publish(RESYNC)
                    async for notice in notices:
                        if notice.channel == AUTH_CHANNEL:
                            self.on_auth_change()
                            continue
                        try:
                            event = json.loads(notice.payload)
                            self._publish(event)
                            self._notified.add(event.get("version"))
                        except (ValueError, AttributeError, TypeError):
                            log.warning("unreadable notification", payload=notice.payload[:200])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: retry with backoff
                self.listening.clear()
                self.on_auth_change()
                log.warning("consensus listener lost its connection", error=str(exc)[:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    async def _watch(self) -> None:
        while True:
            try:
                async with listen.watching(self.url) as conn:
                    # the past is the listener's business
                    checked = await consensus_domain.newest_version(conn)
                    pending: list[int] = []
                    while True:
                        await asyncio.sleep(self.watch_seconds)
                        # versions read last period that no notification has announced since
                        if any(v not in self._notified for v in pending):
                            self.resyncs += 1
                            self._publish(RESYNC)
                        self._notified = {v for v in self._notified if v > checked}
                        fresh = await consensus_domain.versions_since(conn, checked)
                        if fresh:
                            checked = fresh[-1]
                        pending = [v for v in fresh if v not in self._notified]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: the listener resyncs on return
                log.debug("consensus watch lost its connection", error=str(exc)[:200])
                await asyncio.sleep(max(self.watch_seconds, 1.0))


class EventPublisher:
    """Publishes the consensus events of committed API submissions.

    A NOTIFY inside a transaction serialises its commit with every other notifying transaction
    (PostgreSQL holds a database-wide lock from before the commit until its WAL flush), which
    capped submissions at one flush at a time. So `submit_answer_v2` hands its events back, and
    this sends those of many submissions together, after they committed, in one short
    transaction with synchronous_commit off: a lost notification is harmless (subscribers that
    reconnect resynchronise from response_consensus), a slow commit is not.
    """

    MAX_BATCH = 1000

    def __init__(self, pool, *, linger: float = 0.002) -> None:
        self.pool = pool
        self.linger = linger
        self.pending: list[str] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.sent = 0
        self.dropped = 0

    def publish(self, events) -> None:
        """Queue events (dicts) of a committed transaction for publication."""
        if not events:
            return
        self.pending.extend(json.dumps(e, default=str) for e in events)
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="consensus-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> None:
        """Send everything queued now."""
        while self.pending:
            batch = self.pending[: self.MAX_BATCH]
            del self.pending[: self.MAX_BATCH]
            try:
                await listen.notify_all(self.pool, CHANNEL, batch)
                self.sent += len(batch)
            except Exception as exc:  # the database is away: the events are dropped, not the app
                self.dropped += len(batch)
                log.warning(
                    "consensus events not published", count=len(batch), error=str(exc)[:200]
                )

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.linger:
                await asyncio.sleep(self.linger)  # let concurrent submissions join the batch
            await self.flush()


def format_event(event: dict[str, Any]) -> str:
    """Return one SSE message whose id is the event's version."""
    return f"id: {event['version']}\nevent: consensus\ndata: {json.dumps(event, default=str)}\n\n"
