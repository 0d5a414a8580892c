"""Which database we talk to, and whether it is one we can use."""

from __future__ import annotations

import psycopg

from whstudio.db.queries import QUERIES
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


async def goes_through_pooler(url: str, *, rounds: int = 5, timeout: int = 5) -> str | None:
    """Say why `url` reaches PostgreSQL through a transaction-mode pooler, or return None when
    each connection to it keeps one server session of its own (what session locks need).

    Two connections open at once read, by turns, the pid of the server session serving them.
    Straight to PostgreSQL, each keeps its pid and no two share one; a pooler gives one the
    session the other just released (PgBouncer hands out the last released first) or moves a
    connection between statements. Either sight is proof, so nothing direct is ever flagged, and
    several turns make missing it unlikely while other clients keep the pool busy. Proxies that
    keep a session per connection (an SSH tunnel, a session-mode pooler) pass, as they should;
    comparing the port PostgreSQL sees with ours, or the startup message's pid with the
    session's, would flag some of them.
    """
    try:
        return await _session_changes(url, rounds, timeout)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(f"cannot connect to {mask_url(url)}: {reason}") from exc


async def _session_changes(url: str, rounds: int, timeout: int) -> str | None:
    """The pid test of goes_through_pooler: the reason it saw, or None."""
    async with await _probe(url, timeout) as one, await _probe(url, timeout) as two:
        pids = [await _backend_pid(one), await _backend_pid(two)]
        if pids[0] == pids[1]:
            return f"two connections open at once were both served by server session {pids[0]}"
        for _ in range(rounds):
            for conn, pid in zip((one, two), pids, strict=True):
                now = await _backend_pid(conn)
                if now != pid:
                    return (
                        f"a connection moved from server session {pid} to {now} between statements"
                    )
    return None


async def _probe(url: str, timeout: int) -> psycopg.AsyncConnection:
    """A connection without prepared statements: through a pooler, a query run often would be
    answered with an error about a statement another session prepared, not with a pid."""
    return await psycopg.AsyncConnection.connect(
        url, autocommit=True, prepare_threshold=None, connect_timeout=timeout
    )


async def _backend_pid(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute(QUERIES["connect.backend_pid"])
    return (await cur.fetchone())[0]
