"""Timing HTTP requests against the app under test: sequential samples and a closed loop of
concurrent clients.

The load generator shares the machine's cores with the app and PostgreSQL, so it must cost as
little as possible per request: a general-purpose client (httpx) spends about as much CPU per
request as the app does, which both slows the app and adds its own time to every latency
measured. This is a minimal HTTP/1.1 keep-alive client over asyncio streams: one connection per
concurrent client, requests written as bytes, responses read by Content-Length (or chunked).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

TIMEOUT_S = 30.0


class HTTPError(Exception):
    """No HTTP answer: the connection failed, closed early or timed out."""


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


# The server closes a keep-alive connection idle this long (uvicorn's default is 5 s); a
# connection idle for longer is opened again rather than used and found closed.
IDLE_S = 4.0


class _StaleConnection(Exception):
    """A reused keep-alive connection was closed by the server before it answered."""


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used_at = 0.0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> Response:
        if self.writer is not None and time.monotonic() - self.used_at > IDLE_S:
            self.close()
        reused = self.writer is not None
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        reader = self.reader
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            got_nothing = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
            if reused and got_nothing:
                raise _StaleConnection from exc
            raise
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            self.close()
        self.used_at = time.monotonic()
        return Response(status, headers, body)


class Client:
    """An httpx-like client (`get`, `post`) over a small pool of keep-alive connections."""

    def __init__(self, base_url: str, *, connections: int = 8) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._host_header = f"{self.host}:{self.port}".encode()
        self._idle: asyncio.LifoQueue[_Connection] = asyncio.LifoQueue()
        for _ in range(connections):
            self._idle.put_nowait(_Connection(self.host, self.port))

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()

    def _encode(
        self, method: str, path: str, params: dict[str, Any] | None, headers, body: bytes | None
    ) -> bytes:
        if params:
            query = {
                k: ("true" if v is True else "false" if v is False else v)
                for k, v in params.items()
            }
            path = f"{path}?{urlencode(query)}"
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self._host_header]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}".encode())
        if body is not None:
            lines.append(b"Content-Type: application/json")
            lines.append(b"Content-Length: " + str(len(body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
    ) -> Response:
        body = None if json is None else jsonlib.dumps(json).encode()
        raw = self._encode(method, path, params, headers, body)
        connection = await self._idle.get()
        try:
            try:
                return await asyncio.wait_for(connection.request(raw), TIMEOUT_S)
            except _StaleConnection:
                # The server had closed it without reading the request: send it once more on a
                # new connection (what any HTTP client does; nothing was processed).
                connection.close()
                return await asyncio.wait_for(connection.request(raw), TIMEOUT_S)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            connection.close()
            raise HTTPError(type(exc).__name__) from exc
        except TimeoutError as exc:
            connection.close()
            raise HTTPError("Timeout") from exc
        finally:
            self._idle.put_nowait(connection)

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self.request("POST", path, **kwargs)


def client(base_url: str, *, connections: int = 8) -> Client:
    return Client(base_url, connections=connections)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sample(
    http: Client,
    path: str,
    *,
    token: str,
    params: dict[str, Any] | None = None,
    count: int,
    warmup: int = 3,
    budget_s: float = 30.0,
    at_least: int = 10,
) -> tuple[list[float], Counter, Any]:
    """GET `path` `count` times one after another (fewer, but at least `at_least`, once
    `budget_s` seconds have passed); return (latencies s, statuses, last body)."""
    headers = bearer(token)
    statuses: Counter = Counter()
    latencies = []
    body = None
    stop_at = time.perf_counter() + budget_s
    for i in range(warmup + count):
        if i >= warmup + min(at_least, count) and time.perf_counter() > stop_at:
            break
        began = time.perf_counter()
        response = await http.get(path, params=params, headers=headers)
        elapsed = time.perf_counter() - began
        if i >= warmup:
            latencies.append(elapsed)
            statuses[response.status_code] += 1
        body = response.json() if response.status_code == 200 else response.text
    return latencies, statuses, body


@dataclass
class LoadStats:
    """What a closed-loop run saw: latencies by kind of request, status counts, errors."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, kind: str, elapsed: float, status: int | str) -> None:
        self.latencies.setdefault(kind, []).append(elapsed)
        self.statuses[f"{kind} {status}"] += 1


async def closed_loop(
    clients: int,
    seconds: float,
    step: Callable[[int, LoadStats], Awaitable[bool]],
    *,
    warmup: float = 0.0,
    on_start: Callable[[], object] | None = None,
) -> LoadStats:
    """Run `clients` workers, each calling `step(worker, stats)` in a loop until `seconds` pass
    (or it returns False). Requests during the first `warmup` seconds are not kept;
    `on_start` is called once when the kept period begins."""
    kept = LoadStats()
    scratch = LoadStats()
    began = time.perf_counter()
    warm_until = began + warmup
    deadline = warm_until + seconds
    if on_start is not None and warmup <= 0:
        on_start()
        on_start = None

    async def worker(index: int) -> None:
        nonlocal on_start
        while time.perf_counter() < deadline:
            warm = time.perf_counter() < warm_until
            if not warm and on_start is not None:
                on_start()
                on_start = None
            stats = scratch if warm else kept
            try:
                more = await step(index, stats)
            except HTTPError as exc:
                stats.errors[str(exc)] += 1
                more = True
            if not more:
                return

    await asyncio.gather(*(worker(i) for i in range(clients)))
    kept.seconds = time.perf_counter() - warm_until
    return kept
