"""A normalised description of a database's schema, to compare two databases structurally."""

from __future__ import annotations

import difflib
import re
import subprocess

import psycopg

_SCHEMA = "public"
# Lines that vary with the server or the client, not with our schema. Some servers attach column
# options of their own (seen: pg_attver); we never set column options, so they are not ours.
_NOISE = re.compile(
    r"^(-- Dumped (from|by) |\\(un)?restrict |ALTER TABLE ONLY \S+ ALTER COLUMN \S+ SET \()"
)

_QUERIES = {
    "column": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attgenerated, a.attidentity
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm')
           AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> ALL(%(skip)s)
    """,
    "constraint": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.convalidated,
               k.condeferrable, k.condeferred
          FROM pg_constraint k
          JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND c.relname <> ALL(%(skip)s)
    """,
    "index": """
        SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid), x.indisvalid
          FROM pg_index x
          JOIN pg_class i ON i.oid = x.indexrelid
          JOIN pg_class t ON t.oid = x.indrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = %(schema)s AND t.relname <> ALL(%(skip)s)
    """,
    "trigger": """
        SELECT c.relname, g.tgname, pg_get_triggerdef(g.oid), g.tgenabled
          FROM pg_trigger g
          JOIN pg_class c ON c.oid = g.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND NOT g.tgisinternal AND c.relname <> ALL(%(skip)s)
    """,
    "function": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = %(schema)s AND p.prokind IN ('f', 'p')
    """,
    "view": """
        SELECT c.relname, pg_get_viewdef(c.oid, true)
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND c.relkind IN ('v', 'm')
    """,
    "sequence": """
        SELECT c.relname
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND c.relkind = 'S'
    """,
    "table": """
        SELECT c.relname, c.relkind, c.relpersistence
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND c.relname <> ALL(%(skip)s)
    """,
}


def describe(url: str, *, skip_tables: tuple[str, ...] = ("alembic_version",)) -> list[str]:
    """Return one sorted line per table, column, constraint, index, trigger, function and view.

    Column order is left out on purpose: a table that gained columns online has them in another
    order than a freshly created one, and nothing of ours depends on that order.
    """
    lines: list[str] = []
    params = {"schema": _SCHEMA, "skip": list(skip_tables)}
    with psycopg.connect(url, autocommit=True) as conn:
        for kind, sql in _QUERIES.items():
            for row in conn.execute(sql, params):
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
