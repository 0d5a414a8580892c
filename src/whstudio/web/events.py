"""Consensus changes pushed to browsers: one LISTEN connection per app, fanned out to Server-Sent
Events subscribers. Events carry the consensus row's version, a global sequence, so a client that
reconnects with Last-Event-ID gets the current state of everything that changed meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from psycopg import AsyncConnection

log = structlog.get_logger("whstudio.events")
CHANNEL = "whstudio_consensus"
RESYNC: dict[str, Any] = {"resync": True}
QUEUE_SIZE = 1000


class ConsensusBroker:
    def __init__(self, url: str) -> None:
        self.url = url
        self.subscribers: set[asyncio.Queue] = set()
        self.listening = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="consensus-broker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

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
                conn = await AsyncConnection.connect(self.url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.5
                    # Anything published while we were away is fetched by each subscriber.
                    self._publish(RESYNC)
                    async for notice in conn.notifies():
                        try:
                            self._publish(json.loads(notice.payload))
                        except ValueError:
                            log.warning("unreadable notification", payload=notice.payload[:200])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: retry with backoff
                self.listening.clear()
                log.warning("consensus listener lost its connection", error=str(exc)[:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)


def format_event(event: dict[str, Any]) -> str:
    """Return one SSE message whose id is the event's version."""
    return f"id: {event['version']}\nevent: consensus\ndata: {json.dumps(event, default=str)}\n\n"
