"""A normalised description of a database's schema, to compare two databases structurally."""

from __future__ import annotations

import difflib
import re
import subprocess

import psycopg

from whstudio.db.queries import QUERIES

_SCHEMA = "public"
# Lines that vary with the server or the client, not with our schema. Some servers attach column
# options of their own (seen: pg_attver); we never set column options, so they are not ours.
_NOISE = re.compile(
    r"^(-- Dumped (from|by) |\\(un)?restrict |ALTER TABLE ONLY \S+ ALTER COLUMN \S+ SET \()"
)

# The kinds of object described, each the name of its query in db/sql/catalog.sql.
_KINDS = ("column", "constraint", "index", "trigger", "function", "view", "sequence", "table")


def describe(url: str, *, skip_tables: tuple[str, ...] = ("alembic_version",)) -> list[str]:
    """Return one sorted line per table, column, constraint, index, trigger, function and view.

    Column order is left out on purpose: a table that gained columns online has them in another
    order than a freshly created one, and nothing of ours depends on that order.
    """
    lines: list[str] = []
    params = {"schema": _SCHEMA, "skip": list(skip_tables)}
    with psycopg.connect(url, autocommit=True) as conn:
        for kind in _KINDS:
            for row in conn.execute(QUERIES[f"catalog.{kind}"], params):
                lines.append(kind + " " + " | ".join(str(v) for v in row))
    return sorted(lines)


def diff(left_url: str, right_url: str, **kw) -> list[str]:
    """Return a unified diff between two databases' descriptions; empty when identical."""
    return list(
        difflib.unified_diff(
            describe(left_url, **kw), describe(right_url, **kw), "left", "right", lineterm=""
        )
    )


def dump_schema(url: str, pg_dump: str) -> str:
    """Return the schema as SQL (pg_dump --schema-only), without lines that name server versions."""
    out = subprocess.run(
        [
            pg_dump,
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-table=alembic_version",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    keep = [line for line in out.splitlines() if not _NOISE.match(line)]
    return "\n".join(keep).strip() + "\n"
