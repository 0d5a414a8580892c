"""Timing HTTP requests against the app under test: sequential samples and a closed loop of
concurrent clients."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


def client(base_url: str, *, connections: int = 8) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(30.0),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sample(
    http: httpx.AsyncClient,
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
) -> LoadStats:
    """Run `clients` workers, each calling `step(worker, stats)` in a loop until `seconds` pass
    (or it returns False). Requests during the first `warmup` seconds are not kept."""
    kept = LoadStats()
    scratch = LoadStats()
    began = time.perf_counter()
    warm_until = began + warmup
    deadline = warm_until + seconds

    async def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            stats = scratch if time.perf_counter() < warm_until else kept
            try:
                more = await step(index, stats)
            except httpx.HTTPError as exc:
                stats.errors[type(exc).__name__] += 1
                more = True
            if not more:
                return

    await asyncio.gather(*(worker(i) for i in range(clients)))
    kept.seconds = time.perf_counter() - warm_until
    return kept
