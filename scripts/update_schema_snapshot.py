"""Regenerate src/whstudio/migrations/schema.sql from `upgrade head` on a scratch database.

Run: .venv/bin/python scripts/update_schema_snapshot.py  (uses DATABASE_URL's server when set,
else an embedded PostgreSQL in a temporary folder).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from whstudio.db import catalog, migrate
from whstudio.db.embedded import embedded_server, pg_bin_dir

TARGET = Path(__file__).resolve().parent.parent / "src/whstudio/migrations/schema.sql"


def main() -> None:
    given = os.environ.get("DATABASE_URL")
    if given:
        server_url = make_conninfo(**{**conninfo_to_dict(given), "dbname": "postgres"})
    else:
        server_url = embedded_server(Path(tempfile.mkdtemp())).get_uri("postgres")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS whs_snapshot WITH (FORCE)")
        conn.execute("CREATE DATABASE whs_snapshot")
    url = make_conninfo(**{**conninfo_to_dict(server_url), "dbname": "whs_snapshot"})
    try:
        migrate.upgrade(url, "head")
        TARGET.write_text(catalog.dump_schema(url, str(pg_bin_dir() / "pg_dump")))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS whs_snapshot WITH (FORCE)")
    print(f"wrote {TARGET}", file=sys.stderr)


if __name__ == "__main__":
    main()
