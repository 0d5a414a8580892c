"""CPU-heavy analysis (the rankings' bootstrap, the agreement metrics) in threads of its own.

Run in the default thread pool, eight reviewers asking for rankings with 2,000 bootstrap rounds
took every thread of it, and an admin's export, which needs one, waited a minute. Here they
queue behind WHSTUDIO_ANALYSIS_THREADS threads (one by default) and the rest of the service
keeps its own.

Work nobody waits for any more (the caller's task was cancelled, e.g. because its HTTP client
went away) stops: still queued, it is dropped without running; running, it stops at its next
checkpoint. A thread cannot be stopped from outside, so each function run here takes a `stop`
event and calls `checkpoint(stop)` between its rounds or blocks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from whstudio.settings import get_settings

T = TypeVar("T")


class Abandoned(Exception):
    """Raised in an analysis thread at a checkpoint once nobody waits for the result."""


def checkpoint(stop: threading.Event | None) -> None:
    """Raise Abandoned if `stop` is set (None: never stopped, for callers outside `run`)."""
    if stop is not None and stop.is_set():
        raise Abandoned("the analysis was stopped: nobody waits for its result")


@functools.cache
def _pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=get_settings().analysis_threads, thread_name_prefix="analysis"
    )


async def run(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run `function(*args, **kwargs, stop=event)` in the analysis threads; wait for it without
    holding the event loop. If this wait is cancelled, the call is dropped when it has not
    started, and `event` is set so that a running one stops at its next `checkpoint`."""
    stop = threading.Event()
    call = functools.partial(function, *args, stop=stop, **kwargs)
    # Cancelling the future run_in_executor returns cancels the executor's own future too,
    # which takes a call that has not started off the queue.
    try:
        return await asyncio.get_running_loop().run_in_executor(_pool(), call)
    except asyncio.CancelledError:
        stop.set()
        raise
