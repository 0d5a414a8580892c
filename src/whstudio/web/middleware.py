"""Request id, access log and metrics for every request (plain ASGI, so streams pass through),
and the one way plain ASGI middleware answers a request itself."""

from __future__ import annotations

import json
import re
import time
import uuid

import structlog

from whstudio.web.metrics import Metrics

log = structlog.get_logger("whstudio.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status_holder = {"status": 500}
        started = time.perf_counter()

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            status = status_holder["status"]
            self.metrics.requests.labels(label, method, str(status)).inc()
            self.metrics.latency.labels(label, method).observe(elapsed)
            log.info(
                "request",
                method=method,
                path=scope.get("path"),
                route=label,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


async def send_error(
    send,
    status: int,
    code: str,
    message: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
    text: bool = False,
) -> None:
    """Answer from a plain ASGI middleware: the API's JSON error shape ({"error", "message"}), or
    `message` as plain text for pages (`text`); `close` ends the connection after it."""
    if text:
        body, kind = (message + "\n").encode(), b"text/plain; charset=utf-8"
    else:
        body, kind = json.dumps({"error": code, "message": message}).encode(), b"application/json"
    head = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})
