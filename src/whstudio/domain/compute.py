"""CPU-heavy analysis (the rankings' bootstrap, the agreement metrics) in threads of its own.

Run in the default thread pool, eight reviewers asking for rankings with 2,000 bootstrap rounds
took every thread of it, and an admin's export, which needs one, waited a minute. Here they
queue behind WHSTUDIO_ANALYSIS_THREADS threads (one by default) and the rest of the service
keeps its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from whstudio.settings import get_settings

T = TypeVar("T")


@functools.cache
def _pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=get_settings().analysis_threads, thread_name_prefix="analysis"
    )


async def run(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run `function` in the analysis threads; wait for it without holding the event loop."""
    call = functools.partial(function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool(), call)
