"""Read timeouts for slow clients: a request head and a request body must come in time.

Without them a client that sends a request slowly, or stops half-way, keeps its connection
(and, for a body, the task serving the request and any database connection it holds) for as
long as it likes. The head is timed by the HTTP protocol (`HeaderTimeoutProtocol`, given to
uvicorn), the body by an ASGI middleware (`BodyTimeoutMiddleware`).
"""

from __future__ import annotations

import asyncio
import functools

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from whstudio.web.middleware import send_error


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a time limit on request heads.

    A connection has `header_timeout` seconds to send a whole request head, from when it is made
    and from the end of each answer (when no request is already waiting); past that it is closed,
    after a 408 when part of a head came. uvicorn's own `timeout_keep_alive` closes a connection
    that sends nothing at all for 5 s after an answer, but any byte cancels it, and nothing times
    a new connection or the rest of a head."""

    def __init__(self, config, server_state, app_state, _loop=None, *, header_timeout: float):
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_begun = False  # bytes of a head came since the last whole head

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:  # the parser saw the first byte of a request
        super().on_message_begin()
        self.head_begun = True

    def on_headers_complete(self) -> None:
        self._disarm()
        self.head_begun = False
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next head is due from now, unless a whole one came already (a pipelined request,
        # which uvicorn has just started) or the connection is closing.
        if not self.transport.is_closing() and self.cycle.response_complete:
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.head_begun:
            message = b"the request head did not arrive in time\n"
            content = [STATUS_LINE[408]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend(
                [
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(message)).encode() + b"\r\n",
                    b"connection: close\r\n",
                    b"\r\n",
                    message,
                ]
            )
            self.transport.write(b"".join(content))
        self.transport.close()


def http_protocol(header_timeout: float) -> functools.partial:
    """The `http` option for uvicorn: the protocol class with its timeout. A partial of a
    module-level class pickles, so it also reaches the worker processes of `--workers N`."""
    return functools.partial(HeaderTimeoutProtocol, header_timeout=header_timeout)


class BodyTimeoutMiddleware:
    """Answer 408 and close the connection when a request body does not come in time.

    Each wait for the next part of the body lasts at most `timeout` seconds; and, with
    `min_rate` > 0, all the waits for one body together at most `timeout` plus one second per
    `min_rate` bytes received, so that a body sent a few bytes at a time is cut off too (a
    sender stalled after a quick start is cut off by the first bound). Only the time spent
    waiting for the client counts, not the time the handler takes between two reads.

    On a timeout the handler is told the client left, and whatever it answers is replaced by
    the 408, as the body limit does with its 413. Once the body is whole, waits (for a
    disconnect, as streaming answers do) are not timed."""

    def __init__(self, app, timeout: float, min_rate: int = 0) -> None:
        self.app = app
        self.timeout = timeout
        self.min_rate = min_rate

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        waited = 0.0
        received = 0
        whole = False
        timed_out = False
        started = False  # the handler's own answer began before any timeout
        answered = False

        async def timed():
            nonlocal waited, received, whole, timed_out
            if timed_out:
                return {"type": "http.disconnect"}
            if whole:
                return await receive()
            allowed = self.timeout
            if self.min_rate:
                allowed = min(allowed, self.timeout + received / self.min_rate - waited)
            begun = loop.time()
            try:
                # A part already received is returned even when no time is left: receiving it
                # does not wait, so the timeout cannot cut in.
                async with asyncio.timeout(max(allowed, 0.0)):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                return {"type": "http.disconnect"}
            finally:
                waited += loop.time() - begun
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                whole = not message.get("more_body", False)
            return message

        async def replaced(message):
            nonlocal started, answered
            if timed_out and not started:
                if message["type"] == "http.response.start" and not answered:
                    answered = True
                    await _timed_out(send)
                return  # the handler's own answer to a body cut short is not sent
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed, replaced)
        except Exception:
            if not timed_out:
                raise  # a body cut short may make a handler raise: that is the 408's doing
        if timed_out and not started and not answered:
            await _timed_out(send)


async def _timed_out(send) -> None:
    await send_error(
        send, 408, "request_timeout", "the request body did not arrive in time", close=True
    )
