"""Regenerate what is derived from `upgrade head` on a scratch database:
src/whstudio/migrations/schema.sql (the schema snapshot) and the map of the database's rules in
docs/consensus.md (`whstudio.db.rules`).

Run: .venv/bin/python scripts/update_schema_snapshot.py  (uses DATABASE_URL's server when set,
else an embedded PostgreSQL in a temporary folder). Tests fail while either is stale.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from whstudio.db import catalog, migrate, rules
from whstudio.db.embedded import embedded_server, pg_bin_dir

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "src/whstudio/migrations/schema.sql"
CONSENSUS_DOC = ROOT / "docs/consensus.md"


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
        SNAPSHOT.write_text(catalog.dump_schema(url, str(pg_bin_dir() / "pg_dump")))
        print(f"wrote {SNAPSHOT}", file=sys.stderr)
        found = rules.load(url)
        for problem in rules.problems(found):
            print(f"warning: {problem}", file=sys.stderr)
        doc = CONSENSUS_DOC.read_text(encoding="utf-8")
        CONSENSUS_DOC.write_text(rules.replace_section(doc, rules.render(found)), encoding="utf-8")
        print(f"wrote the rules map in {CONSENSUS_DOC}", file=sys.stderr)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS whs_snapshot WITH (FORCE)")


if __name__ == "__main__":
    main()
