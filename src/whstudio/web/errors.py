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
from starlette.routing import Match, Mount

from whstudio.errors import TooManyRequests, Unauthenticated, WhError
from whstudio.schemas import ErrorBody
from whstudio.web.disconnects import ClientGone
from whstudio.web.templating import CONTENT_SECURITY_POLICY, csrf_for

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
        user = getattr(request.state, "page_user", None)
        page = templates.TemplateResponse(
            request,
            "error.html",
            {
                "status": status,
                "title": _TITLES.get(status, "Error"),
                "message": message,
                "user": user,
                "csrf_token": csrf_for(request, user),
            },
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


async def _find_page_user(request: Request) -> None:
    """Keep the signed-in caller of a page that fails (request.state.page_user), so that its
    error page keeps the navigation. Looked up only for pages, never for the API."""
    if not wants_html(request) or getattr(request.state, "page_user", None) is not None:
        return
    principal = getattr(request.state, "principal", None)
    if principal is None:
        from whstudio.domain import users as users_domain
        from whstudio.web.sessions import SESSION_COOKIE

        session_id = request.app.state.sessions.decode(request.cookies.get(SESSION_COOKIE))
        if session_id is None:
            return
        try:
            async with request.app.state.pool.connection(timeout=2) as conn:
                principal = await users_domain.principal_for_session(conn, session_id)
        except (OperationalError, PoolTimeout):
            return  # the database is down: the error page goes without navigation
    request.state.page_user = principal


def plain_reason(error: dict) -> str:
    """A validation error in people's words ("must be at least 1"), from pydantic's type."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    words = {
        "missing": "is required",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "greater_than": f"must be more than {ctx.get('gt')}",
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "less_than": f"must be less than {ctx.get('lt')}",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters",
        "string_too_short": f"must be at least {ctx.get('min_length')} characters",
        "int_parsing": "must be a whole number",
        "float_parsing": "must be a number",
        "bool_parsing": "must be yes or no",
        "bool_type": "must be true or false",
        "uuid_parsing": "is not a valid id",
        "literal_error": f"must be one of {ctx.get('expected', '').replace(' or ', ', ')}",
        "enum": f"must be one of {ctx.get('expected', '').replace(' or ', ', ')}",
    }
    return words.get(kind) or error.get("msg", "is not valid")


def _json_reason(error: dict) -> str:
    """Why a body is not JSON, and where: "is not valid JSON (Expecting value at character 0)"."""
    loc = error.get("loc", ())
    where = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
    problem = (error.get("ctx") or {}).get("error") or "syntax error"
    return f"is not valid JSON ({problem}{where})"


# What FastAPI says of a body it could not parse, without the reason (kept as the cause).
_FASTAPI_PARSE_ERROR = "There was an error parsing the body"


def _unreadable_body(request: Request, exc: StarletteHTTPException) -> str:
    """Why a request body could not be parsed, in words: "body is not UTF-8 text (byte 3 cannot
    be decoded)", "body cannot be read as multipart/form-data: Missing boundary in multipart."."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, UnicodeDecodeError):
        return f"body is not UTF-8 text (byte {cause.start} cannot be decoded)"
    kind = request.headers.get("content-type", "").split(";")[0].strip() or "its content type"
    detail = (
        exc.detail if isinstance(exc.detail, str) and exc.detail != _FASTAPI_PARSE_ERROR else ""
    )
    return f"body cannot be read as {kind}" + (f": {detail}" if detail else "")


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at this request's path, asked of the routes
    as the router asks them (mounted static files left out: they answer GET and HEAD alone)."""
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    return [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ClientGone)
    async def _gone(request: Request, exc: ClientGone):
        # Nobody reads it (uvicorn drops what is sent to a closed connection): 499, as nginx
        # logs a client that closed its request, is for the access log and the metrics.
        return Response(status_code=499)

    @app.exception_handler(WhError)
    async def _domain(request: Request, exc: WhError):
        await _find_page_user(request)
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
        await _find_page_user(request)
        # The field and what it must be, in words ("confidence must be at most 5"), for the
        # person who reads it on a page or in a script's output.
        details = [
            {"field": _field_of(e.get("loc", ())), "reason": plain_reason(e)}
            if e.get("type") != "json_invalid"
            # FastAPI places a JSON syntax error at ("body", <character offset>).
            else {"field": "body", "reason": _json_reason(e)}
            for e in exc.errors()
        ]
        first = details[0] if details else {"field": None, "reason": "is not a valid request"}
        message = f"{first['field'] or 'the request'} {first['reason']}"
        return error_response(
            request, 422, "invalid", message, field=first["field"], details=details
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        await _find_page_user(request)
        if exc.status_code == 400:
            # Starlette and FastAPI answer 400 to a body they cannot parse at all (bytes that are
            # not UTF-8 in a JSON body, a broken multipart form); our own code never raises it.
            # Bad input like any other: 422 naming the body, as for a body that is not JSON.
            return error_response(
                request, 422, "invalid", _unreadable_body(request, exc), field="body"
            )
        message = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette names the methods of the first route whose path matched, but a path can
            # have a route per method (GET and POST /api/tokens): name them all.
            allowed = _allowed_methods(request)
            if allowed:
                headers = {**(headers or {}), "Allow": ", ".join(allowed)}
                message = f"{request.method} is not allowed here; use {' or '.join(allowed)}"
        return error_response(
            request,
            exc.status_code,
            _TITLES.get(exc.status_code, "error").lower().replace(" ", "_"),
            message,
            headers=headers,
        )

    @app.exception_handler(UniqueViolation)
    async def _unique(request: Request, exc: UniqueViolation):
        await _find_page_user(request)
        # What the domain does not turn into a named conflict itself is a race it lost after its
        # retries (db/retry.py), e.g. many revisions of one answer at once: said in words the
        # caller can act on, without the names of the database's indexes.
        log.info("unique violation answered 409", constraint=_constraint(exc))
        return error_response(
            request,
            409,
            "conflict",
            "another request changed the same thing at the same moment; send this one again",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(CheckViolation)
    @app.exception_handler(NotNullViolation)
    @app.exception_handler(ForeignKeyViolation)
    async def _integrity(request: Request, exc: Exception):
        await _find_page_user(request)
        return error_response(
            request, 422, "invalid", _constraint_message(exc), field=_constraint(exc)
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError):
        await _find_page_user(request)
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
        await _find_page_user(request)
        return error_response(
            request, 422, "invalid", "text must be valid Unicode (no lone surrogates)"
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _unavailable(request: Request, exc: Exception):
        await _find_page_user(request)
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
