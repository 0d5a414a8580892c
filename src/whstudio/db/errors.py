"""Errors the database functions raise on purpose, mapped to the domain's own."""

from __future__ import annotations

import psycopg

from whstudio.errors import Conflict, InvalidInput, NotFound

_ERRORS = {"WH404": NotFound, "WH409": Conflict, "WH422": InvalidInput}


def domain_error(exc: psycopg.Error) -> Exception:
    """Return the domain error a database function raised on purpose (SQLSTATE WHnnn), or the
    original error."""
    kind = _ERRORS.get(exc.sqlstate or "")
    if kind is None:
        return exc
    return kind(exc.diag.message_primary or str(exc), field=exc.diag.message_hint)
