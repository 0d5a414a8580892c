"""Domain errors. The web layer maps each class to one HTTP status in one place."""

from __future__ import annotations


class WhError(Exception):
    """Base of every error the domain raises on purpose."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(WhError):
    status = 422
    code = "invalid"


class NotFound(WhError):
    status = 404
    code = "not_found"


class Conflict(WhError):
    status = 409
    code = "conflict"


class Unauthenticated(WhError):
    status = 401
    code = "unauthenticated"


class Forbidden(WhError):
    status = 403
    code = "forbidden"


class TooManyRequests(WhError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseUnavailable(WhError):
    status = 503
    code = "database_unavailable"


class ConfigurationError(WhError):
    """The service cannot start as configured (bad URL, old server, unreachable)."""

    status = 500
    code = "configuration"
