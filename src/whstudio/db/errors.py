"""Errors the database functions raise on purpose, mapped to the domain's own."""

from __future__ import annotations

import psycopg

from whstudio.errors import Conflict, InvalidInput, NotFound

_ERRORS = {"WH404": NotFound, "WH409": Conflict, "WH422": InvalidInput}


def domain_error(exc: psycopg.Error) -> Exception:
    """Return the domain error a database function raised on purpose (SQLSTATE WHnnn), or the
    original error."""
    found = refusal(exc.sqlstate, exc.diag.message_primary or str(exc), exc.diag.message_hint)
    return exc if found is None else found


def refusal(sqlstate: str | None, message: str, hint: str | None) -> Exception | None:
    """The domain error for a refusal on purpose (SQLSTATE WHnnn) reported as its parts (as
    `submit_answers_v1` reports each answer's error), or None for any other SQLSTATE."""
    kind = _ERRORS.get(sqlstate or "")
    return None if kind is None else kind(message, field=hint)
