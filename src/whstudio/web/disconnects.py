"""Expensive reads that stop when their client goes away.

uvicorn does not cancel a request's task when the client disconnects: the handler runs to its
end and the answer is dropped. For a ranking with 2,000 bootstrap rounds, the agreement metrics
or the analytics figures that wastes seconds of an analysis thread, a database connection and
the query it runs, while other requests wait for them. `run_while_connected` races the work
against the client's disconnect and cancels the work when the client goes first.

The disconnect is read from the request's `receive`, not by polling `request.is_disconnected()`:
uvicorn's `receive()`, once the request body is whole, waits until the connection is lost (or
the answer is complete) and then returns `http.disconnect`, so the work is cancelled as soon as
the socket closes, without a poll interval and without waking up meanwhile. Waiting in
`receive()` also resumes reading from the socket (uvicorn pauses it for pipelined requests),
without which the end of the connection would not be seen. Polling `is_disconnected()` would
call the same `receive()` each time, only later. A client that keeps its connection open but
stops waiting cannot be told apart from a slow one; nothing is cancelled then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.types import Receive

T = TypeVar("T")


class ClientGone(Exception):
    """The client of a request went away before its answer was ready (answered 499, which
    nobody reads: the status is for the access log and the metrics)."""


async def _disconnected(receive: Receive) -> None:
    """Return when `receive` gives `http.disconnect`; request body parts are dropped."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def run_while_connected(
    request: Request, function: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any
) -> T:
    """Await `function(*args, **kwargs)`; if the client of `request` goes away first, cancel
    it and raise ClientGone once it has unwound.

    Cancelled, a query in flight is cancelled on the server (psycopg does it when the task
    awaiting the query is cancelled), analysis queued for the analysis threads is dropped and
    analysis running there stops at its next checkpoint (see domain/compute.py). The work is
    awaited to its end before ClientGone is raised, so that the request's database connection
    is idle again when the request's dependencies give it back to the pool. Work that others
    share and that must go on (the analytics cache's computations) must be shielded by the
    function itself, as the cache does.

    Only for requests whose body has been read (or that have none, as GET): waiting for the
    disconnect consumes what `receive()` gives."""
    work = asyncio.ensure_future(function(*args, **kwargs))
    gone = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # this request itself is cancelled (the server stops)
        work.cancel()
        gone.cancel()
        await asyncio.gather(work, gone, return_exceptions=True)
        raise
    if work.done() or gone.cancelled() or gone.exception() is not None:
        # Done (an answer ready when the client left too is still given), or no telling
        # whether the client is there (its `receive` failed): the work decides.
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        return await work
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    raise ClientGone("the client went away before the answer was ready")
