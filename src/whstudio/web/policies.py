"""Who may call what. Every route declares one of these role sets (or is listed as public)."""

from __future__ import annotations

ANYONE_SIGNED_IN = frozenset({"annotator", "reviewer", "admin"})
STAFF = frozenset({"reviewer", "admin"})
ADMIN = frozenset({"admin"})

# Routes open without signing in, and why.
PUBLIC_ROUTES = {
    "/healthz": "liveness probe",
    "/readyz": "readiness probe",
    "/metrics": "Prometheus scrape; bind the service to a private interface in production",
    "/login": "the sign-in form",
    "/openapi.json": "API description",
    "/docs": "API documentation",
    "/docs/assets": "the API documentation's scripts and styles (from fastapi-offline)",
    "/static": "stylesheets and scripts",
    "/assets/code.css": "the colours of highlighted code",
}
