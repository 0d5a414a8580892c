"""Limits that keep one caller from slowing the others: request rates per client address and per
user, requests holding a database connection per user, and sign-in tries per address and in all.

Every count is kept in the memory of one app process (a deployment of N processes admits up to N
times each rate); they are cheap enough to check before anything else a request costs. A refused
request gets 429 with `Retry-After`, the seconds after which it would be admitted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from whstudio.errors import TooManyRequests
from whstudio.web.middleware import send_error


class Buckets:
    """Token buckets by key: `rate` per second, up to `burst` at once. A rate of 0 admits all.

    Only keys that spent something are kept; a key whose bucket has refilled is forgotten when
    the table is swept (every `SWEEP_EVERY` checks past `MAX_KEYS`), so many distinct keys (a
    flood of addresses or names) cost memory for at most a bucket's refill time."""

    MAX_KEYS = 100_000
    SWEEP_EVERY = 10_000

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._level: dict[object, tuple[float, float]] = {}  # key: (tokens, at)
        self._checks = 0

    def take(self, key: object, now: float | None = None) -> float:
        """Spend one token of `key`; return 0 when admitted, else the seconds until one is due."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, at = self._level.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1:
            self._level[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self._level[key] = (tokens - 1, now)
        self._checks += 1
        if len(self._level) > self.MAX_KEYS and self._checks >= self.SWEEP_EVERY:
            self._sweep(now)
        return 0.0

    def _sweep(self, now: float) -> None:
        self._checks = 0
        full = [k for k, (t, at) in self._level.items() if t + (now - at) * self.rate >= self.burst]
        for k in full:
            del self._level[k]
        if len(self._level) > self.MAX_KEYS:  # still too many: forget the lot rather than grow
            self._level.clear()


def retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))


@dataclass
class Limits:
    """The limits of one app process (from the settings)."""

    ip: Buckets
    user: Buckets
    user_concurrency: int
    login_ip: Buckets
    login_all: Buckets

    @classmethod
    def from_settings(cls, settings) -> Limits:
        return cls(
            ip=Buckets(settings.rate_per_ip, settings.rate_per_ip_burst),
            user=Buckets(settings.rate_per_user, settings.rate_per_user_burst),
            user_concurrency=settings.user_concurrency,
            login_ip=Buckets(settings.login_rate_per_ip / 60, settings.login_rate_per_ip),
            login_all=Buckets(settings.login_rate, 5 * settings.login_rate),
        )

    def __post_init__(self) -> None:
        self._in_flight: dict[object, int] = {}

    def admit_user(self, scope: dict, user_id: object) -> None:
        """Count a signed-in request against its user: refuse it (TooManyRequests) past the
        user's rate, or while the user already has `user_concurrency` requests holding a
        database connection. An admitted request is released by `release` (the middleware)."""
        state = scope.setdefault("state", {})
        if state.get("limit_user") is not None:
            return  # counted once per request
        wait = self.user.take(user_id)
        if wait:
            raise TooManyRequests(
                "too many requests from this account; slow down", retry_after=retry_after(wait)
            )
        held = self._in_flight.get(user_id, 0)
        if self.user_concurrency and held >= self.user_concurrency:
            raise TooManyRequests(
                f"this account already has {held} requests in progress; wait for them to finish",
                retry_after=1,
            )
        self._in_flight[user_id] = held + 1
        state["limit_user"] = user_id

    def release(self, scope: dict) -> None:
        user_id = (scope.get("state") or {}).pop("limit_user", None)
        if user_id is None:
            return
        left = self._in_flight.get(user_id, 1) - 1
        if left > 0:
            self._in_flight[user_id] = left
        else:
            self._in_flight.pop(user_id, None)

    def in_flight(self, user_id: object) -> int:
        return self._in_flight.get(user_id, 0)

    def admit_sign_in(self, address: str, *, trusted: bool) -> None:
        """A password check from `address`: refused past the tries allowed per address and in
        all (each costs a password hash). A browser that signed in to the account before
        (`trusted`: it holds that account's device cookie) is not held by either, so a flood
        from elsewhere never keeps a person out of their own account."""
        if trusted:
            return
        wait = self.login_ip.take(address)
        if wait:
            raise TooManyRequests(
                "too many sign-in attempts from your address", retry_after=retry_after(wait)
            )
        wait = self.login_all.take("all")
        if wait:
            raise TooManyRequests(
                "too many sign-in attempts at the moment", retry_after=retry_after(wait)
            )


def client_address(scope: dict) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


# Paths every address may ask for without counting (probes and the files pages load).
UNCOUNTED = ("/healthz", "/readyz", "/static/", "/docs/assets/")


class RateLimitMiddleware:
    """Requests per client address (`WHSTUDIO_RATE_PER_IP`), before anything else is done for
    them; and the end of each request's count against its user (see `Limits.admit_user`)."""

    def __init__(self, app, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if not path.startswith(UNCOUNTED):
            wait = self.limits.ip.take(client_address(scope))
            if wait:
                await _refuse(scope, send, retry_after(wait))
                return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limits.release(scope)


async def _refuse(scope, send, seconds: int) -> None:
    message = "too many requests from your address; slow down"
    page = not scope.get("path", "").startswith("/api/")
    await send_error(
        send,
        429,
        "too_many_requests",
        f"{message} (retry in {seconds} s)" if page else message,
        headers=[(b"retry-after", str(seconds).encode())],
        text=page,
    )
