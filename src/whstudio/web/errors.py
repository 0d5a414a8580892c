"""One place that turns errors into HTTP answers: JSON for the API, a page for people."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from psycopg import DataError, OperationalError
from psycopg.errors import CheckViolation, ForeignKeyViolation, NotNullViolation, UniqueViolation
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from whstudio.errors import TooManyRequests, Unauthenticated, WhError
from whstudio.schemas import ErrorBody
from whstudio.web.templating import CONTENT_SECURITY_POLICY

log = structlog.get_logger("whstudio.errors")

_TITLES = {
    400: "Bad request",
    401: "Sign in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    429: "Slow down",
    500: "Server error",
    503: "Temporarily unavailable",
}


def error_responses() -> dict[int | str, dict]:
    """The error answers every API route may give, documented with their one body shape."""
    return {
        code: {"model": ErrorBody, "description": _TITLES[code]}
        for code in (401, 403, 404, 409, 413, 422, 429, 503)
    }


def wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/") or request.url.path in ("/healthz", "/readyz"):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: list | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if status == 401 and wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={target}", status_code=303)
    if wants_html(request):
        templates = request.app.state.templates
        page = templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "title": _TITLES.get(status, "Error"), "message": message},
            status_code=status,
            headers=headers,
        )
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return page
    body: dict = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def _field_of(loc: tuple | list) -> str:
    """The field an error is about, without where it came from: ("body", "x") names "x" (and
    ("body", "body") a body field of that name)."""
    where = ("body", "query", "path", "header", "cookie")
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in where else loc)]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(WhError)
    async def _domain(request: Request, exc: WhError):
        headers = None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": "Bearer"}
        return error_response(
            request, exc.status, exc.code, exc.message, field=exc.field, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        details = [
            {"field": _field_of(e.get("loc", ())), "reason": e.get("msg", "invalid")}
            for e in exc.errors()
        ]
        first = details[0] if details else {"field": None, "reason": "invalid request"}
        message = f"{first['field']}: {first['reason']}" if first["field"] else first["reason"]
        return error_response(
            request, 422, "invalid", message, field=first["field"], details=details
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return error_response(
            request,
            exc.status_code,
            _TITLES.get(exc.status_code, "error").lower().replace(" ", "_"),
            message,
            headers=exc.headers,
        )

    @app.exception_handler(UniqueViolation)
    async def _unique(request: Request, exc: UniqueViolation):
        return error_response(
            request, 409, "conflict", _constraint_message(exc), field=_constraint(exc)
        )

    @app.exception_handler(CheckViolation)
    @app.exception_handler(NotNullViolation)
    @app.exception_handler(ForeignKeyViolation)
    async def _integrity(request: Request, exc: Exception):
        return error_response(
            request, 422, "invalid", _constraint_message(exc), field=_constraint(exc)
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError):
        # Values PostgreSQL cannot store (a NUL character, a number out of range) are bad input.
        return error_response(
            request,
            422,
            "invalid",
            f"value cannot be stored: {_constraint_message(exc)}",
            field=_constraint(exc),
        )

    @app.exception_handler(UnicodeEncodeError)
    async def _encoding(request: Request, exc: UnicodeEncodeError):
        return error_response(
            request, 422, "invalid", "text must be valid Unicode (no lone surrogates)"
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _unavailable(request: Request, exc: Exception):
        log.warning("database unavailable", error=str(exc).splitlines()[0] if str(exc) else "")
        return error_response(
            request,
            503,
            "database_unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "2"},
        )


def _constraint(exc) -> str | None:
    diag = getattr(exc, "diag", None)
    return getattr(diag, "constraint_name", None) or getattr(diag, "column_name", None)


def _constraint_message(exc) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).splitlines()[0]
    return primary
