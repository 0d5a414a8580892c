"""Jinja2 templates with autoescaping, and the one way pages are rendered."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from whstudio.domain import security

# Pages run only our own scripts and styles: data shown on them can never execute, even if a
# template forgot to escape it. Recordings may come from any web address an admin imported.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' https: http:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

TYPE_LABELS = {
    "pairwise_ab": "A/B comparison",
    "ranking": "Ranking",
    "text_generation": "Writing",
    "voice_transcription": "Transcription",
}


def _amount(value: Any) -> str:
    """Return a reward amount without trailing zeros ('0.5', '12')."""
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return text


def make_templates() -> Jinja2Templates:
    path = str(resources.files("whstudio.web") / "templates")
    templates = Jinja2Templates(directory=path)
    templates.env.autoescape = True
    templates.env.filters["amount"] = _amount
    templates.env.globals["type_labels"] = TYPE_LABELS
    return templates


def csrf_for(request: Request, user: Any) -> str:
    """Return the CSRF token pages embed in their forms for this session ('' without one: a
    caller with an API token posts no forms)."""
    if user is None or getattr(user, "session_id", None) is None:
        return ""
    return security.csrf_token(request.app.state.secret, str(user.session_id))


def page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: Any,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    csrf: str | None = None,
) -> Response:
    """Return a rendered page for `user` with its CSRF token and the security headers."""
    token = csrf if csrf is not None else csrf_for(request, user)
    response = request.app.state.templates.TemplateResponse(
        request,
        name,
        {"user": user, "csrf_token": token, **context},
        status_code=status_code,
        headers=headers,
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
