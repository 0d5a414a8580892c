"""Liveness, readiness and metrics: open to anyone (see policies.PUBLIC_ROUTES)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from whstudio.db import health as db_health

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="The process is up (anyone)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and its schema is at head (anyone)")
async def readyz(request: Request) -> JSONResponse:
    head = request.app.state.head_revision
    try:
        async with request.app.state.pool.connection(timeout=1) as conn:
            current = await db_health.schema_revision(conn)
    except Exception as exc:  # any failure here means not ready; say why
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return JSONResponse(
            {"status": "unavailable", "database": reason},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    if current != head:
        return JSONResponse(
            {"status": "migrating", "schema": current, "expected": head},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ready", "schema": current})


@router.get("/metrics", summary="Prometheus metrics (anyone)", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
