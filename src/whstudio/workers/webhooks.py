"""The webhook delivery worker: claims due deliveries from the outbox, posts them signed, and
records each attempt. Runs inside the web app (one per process) or as `whstudio webhooks work`;
any number of workers can share one database (FOR UPDATE SKIP LOCKED plus a lease)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx
import structlog
from psycopg import AsyncConnection

from whstudio import __version__
from whstudio.domain import destinations, webhooks
from whstudio.domain.destinations import NOTHING_ALLOWED, AllowList

log = structlog.get_logger("whstudio.webhooks")
RESPONSE_KEPT = 2000  # bytes of a receiver's answer read and kept in the delivery log


@dataclass(frozen=True)
class Policy:
    """How deliveries are retried."""

    max_attempts: int = 8
    backoff_base: float = 10.0
    timeout: float = 10.0
    batch: int = 20
    poll_seconds: float = 1.0
    lease: float | None = None
    # non-public destinations deliveries may reach (WHSTUDIO_WEBHOOK_ALLOWED_HOSTS)
    allowed: AllowList = NOTHING_ALLOWED

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """Return the policy the settings ask for (WHSTUDIO_WEBHOOK_*)."""
        return cls(
            max_attempts=settings.webhook_max_attempts,
            backoff_base=settings.webhook_backoff_seconds,
            timeout=settings.webhook_timeout,
            allowed=AllowList.parse(settings.webhook_allowed_hosts),
        )

    @property
    def lease_seconds(self) -> float:
        # A claimed delivery comes back to the queue if its worker has not recorded an outcome
        # well after the request would have timed out.
        return self.lease if self.lease is not None else self.timeout + 30.0


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Open TCP connections only to addresses that passed the destination check.

    httpcore asks its network backend for a connection to the URL's host by name. This one
    resolves the name once, refuses it (`destinations.Refused`) when any address it resolves to
    is not public and not allowed, and then connects to one of those very addresses, by number:
    there is no second look-up, so a name that answers a public address to the check and an
    internal one to the connection (DNS rebinding) still reaches only what was checked. The
    request is not rewritten: its Host header is the URL's, and httpcore starts TLS on the
    returned stream with the URL's host name, so SNI and certificate checks are for that name.
    """

    def __init__(self, allowed: AllowList) -> None:
        self.allowed = allowed
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await destinations.checked_addresses(host, port, self.allowed)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no address for {host} within {timeout:g} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        failure: Exception = httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a connection pool whose network backend is `_CheckedBackend`.

    httpx takes no network backend, so the pool it makes is replaced by one made the way it
    makes it (the same TLS verification, which honours SSL_CERT_FILE) with ours; the requests
    still pass through httpx's own code and error mapping. The send-time tests in
    tests/security/test_webhooks.py fail if httpx ever stops sending requests through `_pool`.
    A client given a transport ignores HTTP(S)_PROXY, so no proxy reaches around the check.
    """

    def __init__(self, allowed: AllowList) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_CheckedBackend(allowed),
        )


class Worker:
    """Deliver webhooks using connections from `connection()` (a pool's or a single one's).

    Deliveries reach public addresses only, and what `policy.allowed` names; a `transport`
    given replaces that check with its own way of sending (tests)."""

    def __init__(
        self,
        connection: Callable[[], AbstractAsyncContextManager[AsyncConnection]],
        policy: Policy | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.connection = connection
        self.policy = policy or Policy()
        self.transport = transport
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    async def _post(self, client: httpx.AsyncClient, delivery: dict[str, Any]) -> dict[str, Any]:
        body = webhooks.body_of(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"whstudio-webhooks/{__version__}",
            "X-WHStudio-Event": delivery["event"],
            "X-WHStudio-Event-Id": str(delivery["event_id"]),
            "X-WHStudio-Delivery": str(delivery["id"]),
            "X-WHStudio-Attempt": str(delivery["attempts"]),
            webhooks.SIGNATURE_HEADER: webhooks.sign(delivery["secret"], int(time.time()), body),
        }
        started = datetime.now(UTC)
        began = time.perf_counter()
        outcome: dict[str, Any] = {"status_code": None, "error": None, "response_body": None}
        try:
            # The whole exchange has one deadline (a receiver dripping a byte at a time got
            # past a per-read timeout), and only the start of the answer is read.
            async with asyncio.timeout(self.policy.timeout):
                async with client.stream(
                    "POST", delivery["url"], content=body, headers=headers
                ) as answer:
                    outcome["status_code"] = answer.status_code
                    kept = b""
                    async for chunk in answer.aiter_bytes():
                        kept += chunk
                        if len(kept) >= RESPONSE_KEPT:
                            break
                    outcome["response_body"] = kept[:RESPONSE_KEPT].decode("utf-8", "replace")
        except TimeoutError:
            outcome["error"] = f"no complete answer within {self.policy.timeout:g} s"
        except destinations.Refused as exc:
            outcome["error"] = str(exc)
        except Exception as exc:  # one receiver's failure is its own, never its batch's
            outcome["error"] = f"{type(exc).__name__}: {exc}"[:2000] or type(exc).__name__
        outcome["started_at"] = started
        outcome["duration_ms"] = int((time.perf_counter() - began) * 1000)
        return outcome

    async def run_once(self) -> int:
        """Claim one batch of due deliveries, post them, record the outcomes; return how many."""
        policy = self.policy
        async with self.connection() as conn:
            claimed = await webhooks.claim(
                conn, limit=policy.batch, lease_seconds=policy.lease_seconds
            )
        if not claimed:
            return 0
        # Redirects are not followed (a 3xx answer is a failed attempt), so a receiver cannot
        # send the worker on to an address the check did not see.
        transport = self.transport or _CheckedTransport(policy.allowed)
        async with httpx.AsyncClient(
            timeout=policy.timeout, transport=transport, follow_redirects=False
        ) as client:
            outcomes = await asyncio.gather(*(self._post(client, d) for d in claimed))
        async with self.connection() as conn:
            for delivery, outcome in zip(claimed, outcomes, strict=True):
                async with conn.transaction():
                    status = await webhooks.record(
                        conn,
                        delivery,
                        max_attempts=policy.max_attempts,
                        backoff_base=policy.backoff_base,
                        **outcome,
                    )
                log.info(
                    "webhook delivery",
                    delivery=delivery["id"],
                    kind=delivery["event"],
                    attempt=delivery["attempts"],
                    status_code=outcome["status_code"],
                    outcome=status,
                )
        return len(claimed)

    async def drain(self) -> int:
        """Deliver until nothing is due; return how many attempts were made."""
        total = 0
        while made := await self.run_once():
            total += made
        return total

    async def run(self) -> None:
        """Deliver until stopped; errors (a database restart, a schema not migrated yet) are
        logged and retried, waiting longer after each one in a row (at most 30 s)."""
        errors = 0
        while not self._stop.is_set():
            try:
                made = await self.run_once()
                errors = 0
            except Exception as exc:  # keep the loop alive through outages
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.warning("webhook worker error", error=first, in_a_row=errors + 1)
                made = 0
                errors += 1
            if made:
                continue
            wait = min(30.0, self.policy.poll_seconds * 2**errors)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)

    def request_stop(self) -> None:
        """Ask `run` to return after the batch in hand."""
        self._stop.set()

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self.run(), name="whstudio-webhooks")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
