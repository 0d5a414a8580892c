"""Webhooks: subscriptions, signing, and the outbox's delivery bookkeeping.

Events are written by database triggers in the transaction of the change they report (see
revision 0006); code that raises one itself calls `enqueue` (SQL: `webhook_enqueue_v1`) inside
its own transaction. Posting is done by `whstudio.workers.webhooks`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from whstudio.db import queries as q
from whstudio.domain.destinations import NOTHING_ALLOWED, AllowList, check_url_host
from whstudio.errors import InvalidInput, NotFound

EVENTS = ("task.consensus_reached", "task.adjudicated", "response.created")
SIGNATURE_HEADER = "X-WHStudio-Signature"
MAX_URL = 2000


def backoff_seconds(attempt: int, base: float, cap: float = 3600.0) -> float:
    """Return the wait after failed attempt number `attempt` (1-based): base·2^(attempt−1),
    at most `cap`."""
    return min(cap, base * 2 ** (attempt - 1))


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value: `t=<unix time>,v1=<hex HMAC-SHA256>` of
    `<t>.<body>` under the webhook's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """Return whether a signature header is valid for the body and recent enough (the
    receiver's side; documented in docs/webhooks.md)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def body_of(delivery: dict[str, Any]) -> bytes:
    """Return the JSON body posted for one claimed delivery."""
    created: datetime = delivery["event_created_at"]
    return json.dumps(
        {
            "id": delivery["event_id"],
            "type": delivery["event"],
            "created_at": created.isoformat(),
            "data": delivery["payload"],
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def check_url(url: str, allowed: AllowList = NOTHING_ALLOWED) -> str:
    """Return the URL if it is an absolute http(s) URL with a host and a valid port, with no
    space or control character anywhere, whose host is not written as a non-public address
    nor is `localhost` (unless `allowed` names it), else raise InvalidInput. (A URL that cannot
    be sent to used to fail its whole delivery batch at send time; host names are checked
    against what they resolve to when each delivery is sent.)"""
    if len(url) > MAX_URL:
        raise InvalidInput(f"url is longer than {MAX_URL} characters", field="url")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidInput("url must not hold spaces or control characters", field="url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an absolute http:// or https:// URL", field="url")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise InvalidInput("url's port must be a number from 1 to 65535", field="url")
    try:
        check_url_host(url, allowed)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="url") from None
    return url


def check_events(events: list[str]) -> list[str]:
    """Return the distinct events, in a stable order, or raise InvalidInput naming a bad one."""
    if not events:
        raise InvalidInput("events must name at least one event", field="events")
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise InvalidInput(f"unknown event {unknown[0]!r}; use {', '.join(EVENTS)}", field="events")
    return [e for e in EVENTS if e in events]


async def create(
    conn: AsyncConnection,
    *,
    url: str,
    events: list[str],
    description: str = "",
    secret: str | None = None,
    created_by: UUID | None = None,
    allowed: AllowList = NOTHING_ALLOWED,
) -> dict[str, Any]:
    """Register a webhook; return it with its signing secret (shown this once). `allowed` is
    the allow-list of non-public destinations (WHSTUDIO_WEBHOOK_ALLOWED_HOSTS)."""
    if secret is not None and not 16 <= len(secret) <= 200:
        raise InvalidInput("secret must have 16 to 200 characters", field="secret")
    key = secret or "whsec_" + secrets.token_urlsafe(32)
    row = await q.fetch_one(
        conn,
        "webhooks.insert",
        {
            "url": check_url(url, allowed),
            "events": check_events(events),
            "secret": key,
            "description": description,
            "created_by": created_by,
        },
    )
    assert row is not None
    return {**row, "secret": key}


async def list_all(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Return every webhook with its delivery counts (secrets shown by prefix only)."""
    return await q.fetch_all(conn, "webhooks.list")


async def set_active(conn: AsyncConnection, webhook_id: UUID, active: bool) -> dict[str, Any]:
    """Pause or resume a webhook; return it."""
    row = await q.fetch_one(conn, "webhooks.set_active", {"id": webhook_id, "active": active})
    if row is None:
        raise NotFound("no such webhook", field="webhook_id")
    return row


async def delete(conn: AsyncConnection, webhook_id: UUID) -> None:
    """Remove a webhook and its pending deliveries."""
    if await q.fetch_one(conn, "webhooks.delete", {"id": webhook_id}) is None:
        raise NotFound("no such webhook", field="webhook_id")


async def enqueue(conn: AsyncConnection, event: str, payload: dict[str, Any]) -> int | None:
    """Raise an event in the caller's transaction; return its outbox id (None: no subscriber)."""
    check_events([event])
    row = await q.fetch_one(conn, "webhooks.enqueue", {"event": event, "payload": Jsonb(payload)})
    return row["event_id"] if row else None


async def deliveries(
    conn: AsyncConnection,
    *,
    webhook_id: UUID | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Return the newest deliveries, each with its attempt log."""
    return await q.fetch_all(
        conn,
        "webhooks.deliveries",
        {"webhook_id": webhook_id, "status": status, "limit": limit},
    )


async def redeliver(conn: AsyncConnection, delivery_id: int) -> None:
    """Queue a delivery that gave up for a fresh round of attempts."""
    if await q.fetch_one(conn, "webhooks.redeliver", {"id": delivery_id}) is None:
        raise NotFound("no failed delivery with that id", field="delivery_id")


async def claim(conn: AsyncConnection, *, limit: int, lease_seconds: float) -> list[dict]:
    """Lease up to `limit` due deliveries (one statement; commit before posting them)."""
    return await q.fetch_all(
        conn, "webhooks.claim", {"limit": limit, "lease_seconds": lease_seconds}
    )


async def record(
    conn: AsyncConnection,
    delivery: dict[str, Any],
    *,
    started_at: datetime,
    duration_ms: int,
    status_code: int | None,
    error: str | None,
    response_body: str | None,
    max_attempts: int,
    backoff_base: float,
) -> str:
    """Log one attempt and move the delivery on; return its new status."""
    attempt = delivery["attempts"]
    await q.execute(
        conn,
        "webhooks.record_attempt",
        {
            "delivery_id": delivery["id"],
            "attempt": attempt,
            "started_at": started_at,
            "duration_ms": duration_ms,
            "status_code": status_code,
            "error": error[:2000] if error else None,
            "response_body": response_body[:2000] if response_body else None,
        },
    )
    if status_code is not None and 200 <= status_code < 300:
        await q.execute(
            conn,
            "webhooks.delivered",
            {"id": delivery["id"], "status_code": status_code, "attempt": attempt},
        )
        return "delivered"
    give_up = attempt >= max_attempts
    await q.execute(
        conn,
        "webhooks.retry_later",
        {
            "id": delivery["id"],
            "attempt": attempt,
            "give_up": give_up,
            "delay_seconds": backoff_seconds(attempt, backoff_base),
            "status_code": status_code,
            "error": (error or f"HTTP {status_code}")[:2000],
        },
    )
    return "failed" if give_up else "pending"
