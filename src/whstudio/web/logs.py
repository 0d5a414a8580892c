"""Structured logs: JSON lines when not on a terminal, readable lines on one (and always in the
demo: one short line per request)."""

from __future__ import annotations

import logging
import sys

import structlog

_CONSOLE = structlog.dev.ConsoleRenderer(colors=False)


def _readable(logger, name: str, event: dict) -> str:
    """One short line per request ("12:01:02 POST /api/tasks/…/submit 201 12 ms"); other
    records as structlog's console lines."""
    if event.get("event") == "request" and "status" in event:
        when = str(event.get("timestamp", ""))[11:19]
        ms = event.get("duration_ms")
        took = f" {ms:.0f} ms" if isinstance(ms, int | float) else ""
        return f"{when} {event.get('method', '')} {event.get('path', '')} {event['status']}{took}"
    return _CONSOLE(logger, name, event)


def configure_logging(level: str = "INFO", *, json: bool | None = None) -> None:
    """Route stdlib and structlog records through one renderer at the given level."""
    if json is None:
        json = not sys.stderr.isatty()
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer() if json else _readable
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Each request is logged once by our middleware, with its request id.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))
