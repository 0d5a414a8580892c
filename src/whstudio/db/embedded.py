"""The embedded PostgreSQL (pgserver) used when DATABASE_URL is not set."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from whstudio.db.queries import QUERIES

DATABASE_NAME = "whstudio"

_servers: dict[Path, object] = {}


def pgdata_dir(home: Path) -> Path:
    """Return the folder where the embedded server keeps its data."""
    return home / "pgdata"


def embedded_server(home: Path):
    """Return a running pgserver instance for this data folder, starting it if needed."""
    path = pgdata_dir(home).resolve()
    if path in _servers:
        return _servers[path]
    path.mkdir(parents=True, exist_ok=True)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        # 'stop': the server stops when the last process that asked for it exits.
        server = pgserver.get_server(path, cleanup_mode="stop")
    _servers[path] = server
    return server


def embedded_url(home: Path, database: str = DATABASE_NAME) -> str:
    """Start (or reuse) the embedded server and return the URL of our database in it."""
    server = embedded_server(home)
    admin_url = server.get_uri("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(QUERIES["embedded.database_exists"], {"name": database}).fetchone()
        if not exists:
            create = sql.SQL(QUERIES["embedded.create_database"])
            conn.execute(create.format(name=sql.Identifier(database)))
    return server.get_uri(database)


def pg_bin_dir() -> Path:
    """Return the folder of PostgreSQL client programs shipped with pgserver (pg_dump, pgbench)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)
