"""The FastAPI application: wiring only; behaviour lives in the routers and the domain."""

from __future__ import annotations

import inspect
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from whstudio import __version__
from whstudio.db import migrate
from whstudio.db.pool import make_pool
from whstudio.domain import analytics, keyed
from whstudio.domain.group_commit import GroupCommit
from whstudio.settings import Settings
from whstudio.web import errors
from whstudio.web.api import consensus, events, guidelines, health, quality, review, tasks, users
from whstudio.web.api import export as export_api
from whstudio.web.api import import_items as import_items_api
from whstudio.web.api import rankings as rankings_api
from whstudio.web.api import webhooks as webhooks_api
from whstudio.web.deps import TokenCache
from whstudio.web.events import ConsensusBroker, EventPublisher
from whstudio.web.limits import Limits, RateLimitMiddleware
from whstudio.web.metrics import Metrics
from whstudio.web.middleware import RequestContextMiddleware, send_error
from whstudio.web.pages import (
    accounts,
    admin_datasets,
    admin_import,
    admin_tasks,
    apidocs,
    auth,
    dashboard,
    home,
)
from whstudio.web.pages import admin_export as export_pages
from whstudio.web.pages import analytics as analytics_pages
from whstudio.web.pages import review as review_pages
from whstudio.web.pages import tasks as task_pages
from whstudio.web.sessions import DeviceCodec, SessionCodec
from whstudio.web.templating import make_templates
from whstudio.web.timeouts import BodyTimeoutMiddleware
from whstudio.workers.webhooks import Policy, Worker

# Routes that take files bigger than the general limit, WHSTUDIO_MAX_BODY_BYTES: the import
# routes, up to WHSTUDIO_IMPORT_MAX_BYTES (plus room for the multipart framing).
IMPORT_PATHS = (import_items_api.PATH, import_items_api.ANSWERS_PATH)
ROUTERS = (
    health.router,
    users.router,
    tasks.router,
    consensus.router,
    events.router,
    quality.router,
    guidelines.router,
    review.router,
    export_api.router,
    import_items_api.router,
    rankings_api.router,
    webhooks_api.router,
    auth.router,
    home.router,
    apidocs.router,
    task_pages.router,
    admin_import.router,
    admin_tasks.router,
    admin_datasets.router,
    accounts.router,
    dashboard.router,
    review_pages.router,
    export_pages.router,
    analytics_pages.router,
)


def create_app(
    settings: Settings,
    database_url: str,
    pooled_url: str | None = None,
    read_url: str | None = None,
) -> FastAPI:
    """Return the app for one database; the pools open when the app starts.

    `database_url` reaches PostgreSQL directly (the live-update listener's own session);
    `pooled_url`, when given, is a transaction-mode pooler's in front of it (PgBouncer), which
    the request pool then uses; `read_url`, a read replica's, which staff's heavy reads use
    (exports, analytics, agreement, rankings: `deps.ReadConn`)."""
    pool = make_pool(
        pooled_url or database_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
        through_pooler=pooled_url is not None,
    )
    read_pool = (
        make_pool(
            read_url,
            min_size=1,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout,
        )
        if read_url
        else pool
    )
    metrics = Metrics()
    metrics.watch_pool(pool)
    token_cache = TokenCache(settings.token_cache_seconds, live=lambda: broker.listening.is_set())
    broker = ConsensusBroker(database_url, on_auth_change=token_cache.clear)
    publisher = EventPublisher(pool)

    async def compute_figures(days: int) -> dict:
        async with read_pool.connection() as conn:
            return await analytics.figures(conn, days=days)

    figures_cache = analytics.FiguresCache(settings.analytics_max_age, compute_figures)
    policy = Policy.from_settings(settings)
    webhooks = Worker(pool.connection, policy) if settings.webhook_worker else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await pool.open(wait=False)
        if read_pool is not pool:
            await read_pool.open(wait=False)
        await broker.start()
        await publisher.start()
        if webhooks is not None:
            webhooks.start()
        try:
            yield
        finally:
            if webhooks is not None:
                await webhooks.stop()
            await figures_cache.close()
            await publisher.stop()
            await broker.stop()
            if read_pool is not pool:
                await read_pool.close()
            await pool.close()

    app = FastAPI(
        title="WorldHuman Studio",
        version=__version__,
        description="Human feedback for RLHF: tasks, responses, live consensus and reputation. "
        "Every operation states in its summary who may call it.",
        lifespan=lifespan,
        docs_url=None,  # our own /docs (pages/apidocs.py): assets from a package, no CDN
        redoc_url=None,
        **telemetry_options(settings.fastapi_telemetry),
    )
    secret = settings.resolved_secret_key()
    keyed.configure(secret)
    app.state.settings = settings
    app.state.pool = pool
    app.state.read_pool = read_pool
    app.state.metrics = metrics
    app.state.broker = broker
    app.state.publisher = publisher
    app.state.token_cache = token_cache
    app.state.group_commit = GroupCommit(
        settings.submit_group_max,
        on_group=metrics.submit_groups.observe,
        in_flight=settings.submit_groups_in_flight,
    )
    app.state.analytics = figures_cache
    app.state.secret = secret
    app.state.sessions = SessionCodec(secret, settings.session_max_age)
    app.state.devices = DeviceCodec(secret)
    limits = Limits.from_settings(settings)
    app.state.limits = limits
    app.state.templates = make_templates()
    app.state.head_revision = migrate.head_revision()

    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(
        "/docs/assets",
        # Swagger UI 5 (OpenAPI 3.1) as shipped in the fastapi-offline package: only its files.
        StaticFiles(directory=str(resources.files("fastapi_offline") / "static")),
        name="apidocs-assets",
    )
    app.mount(
        "/static",
        StaticFiles(directory=str(resources.files("whstudio.web") / "static")),
        name="static",
    )
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        per_path={path: settings.import_max_bytes + 64 * 1024 for path in IMPORT_PATHS},
    )
    app.add_middleware(
        BodyTimeoutMiddleware, timeout=settings.body_timeout, min_rate=settings.body_min_rate
    )
    app.add_middleware(RateLimitMiddleware, limits=limits)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


def telemetry_options(enabled: bool) -> dict[str, Any]:
    """FastAPI's keyword for its native OpenTelemetry (from FastAPI 0.165): everything off unless
    `enabled`. Switched off, a request skips the check of the global providers (a look at the
    process's environment each time). Nothing on a FastAPI without the keyword."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    if enabled:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` worker processes: settings and DATABASE_URL from the
    environment (the parent `whstudio serve` resolved the database before starting them)."""
    from whstudio.db.connect import database_url, pooled_url, read_url
    from whstudio.settings import get_settings
    from whstudio.web.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings, database_url(settings), pooled_url(settings), read_url(settings))


# A refused body is still read (and dropped) up to this much, for this long, so that a client
# still sending it reads the 413 instead of a connection reset mid-upload; past either bound the
# connection closes after the answer.
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 30.0


class BodyLimitMiddleware:
    """Refuse request bodies over the limit with 413 before any handler reads them.

    A declared length over the limit is refused at once. A body without one (chunked) is
    counted as the handler reads it; past the limit the handler is told the client left, and
    whatever it answers is replaced by the 413. Either way the rest of the body is first read
    and dropped (bounded), so that a client still sending reads the answer instead of a reset;
    not when the client waits for `100 Continue`, which it is then never sent."""

    def __init__(self, app, limit: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.per_path = per_path or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.limit)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        waiting = headers.get(b"expect", b"").lower() == b"100-continue"
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            if not waiting and declared.isdigit() and int(declared) <= DRAIN_BYTES:
                await _drain(receive)
            await _too_large(send, limit)
            return
        if declared is not None:
            # The server reads no more than the declared length, which is within the limit.
            await self.app(scope, receive, send)
            return
        received = 0
        over = False
        answered = False

        async def counted():
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    if message.get("more_body", False) and not waiting:
                        await _drain(receive)
                    return {"type": "http.disconnect"}
            return message

        async def replaced(message):
            nonlocal answered
            if over:
                if message["type"] == "http.response.start" and not answered:
                    answered = True
                    await _too_large(send, limit)
                return  # the handler's own answer to a body cut short is not sent
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, replaced)
        except Exception:
            if not over:
                raise  # a body cut short may make a handler raise: that is the 413's doing
        if over and not answered:
            await _too_large(send, limit)


async def _drain(receive) -> None:
    """Read and drop what is left of a request body, within DRAIN_BYTES and DRAIN_SECONDS."""
    import asyncio

    async def read() -> None:
        left = DRAIN_BYTES
        while left > 0:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            left -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    try:
        await asyncio.wait_for(read(), DRAIN_SECONDS)
    except TimeoutError:
        return


async def _too_large(send, limit: int) -> None:
    await send_error(
        send, 413, "too_large", f"request body is larger than {limit} bytes", close=True
    )
