"""Which database we talk to, and whether it is one we can use."""

from __future__ import annotations

import psycopg

from whstudio.errors import ConfigurationError
from whstudio.settings import Settings, mask_url

MIN_SERVER_VERSION = 150000


def normalize_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs too and return a plain libpq URL."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def database_url(settings: Settings) -> str:
    """Return the URL of sessions of our own (migrations, LISTEN, locks, the CLI): the direct URL
    when one is set, else DATABASE_URL, else the embedded server's (started on demand)."""
    direct = settings.direct_database_url
    if direct is not None and direct.get_secret_value():
        return normalize_url(direct.get_secret_value())
    if settings.database_url is not None and settings.database_url.get_secret_value():
        return normalize_url(settings.database_url.get_secret_value())
    from whstudio.db.embedded import embedded_url

    try:
        return embedded_url(settings.home)
    except Exception as exc:  # pgserver raises many kinds; the operator needs one line
        raise ConfigurationError(
            f"could not start the embedded PostgreSQL in {settings.home / 'pgdata'}: {exc}"
        ) from exc


def pooled_url(settings: Settings) -> str | None:
    """DATABASE_URL when it goes through a transaction-mode pooler (a direct URL is set beside
    it): the web app's request pool uses it. None otherwise."""
    direct, pooled = settings.direct_database_url, settings.database_url
    if direct is None or not direct.get_secret_value():
        return None
    if pooled is None or not pooled.get_secret_value():
        return None
    return normalize_url(pooled.get_secret_value())


def read_url(settings: Settings) -> str | None:
    """The read replica's URL (WHSTUDIO_READ_DATABASE_URL), or None: staff's heavy reads."""
    given = settings.read_database_url
    if given is None or not given.get_secret_value():
        return None
    return normalize_url(given.get_secret_value())


def check_server(url: str, *, timeout: int = 5) -> int:
    """Connect once; return the server version number or raise one clear ConfigurationError."""
    try:
        with psycopg.connect(url, connect_timeout=timeout, autocommit=True) as conn:
            version = conn.info.server_version
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(f"cannot connect to {mask_url(url)}: {reason}") from exc
    if version < MIN_SERVER_VERSION:
        raise ConfigurationError(
            f"{mask_url(url)} runs PostgreSQL {version // 10000}; "
            "whstudio needs PostgreSQL 15 or newer"
        )
    return version
