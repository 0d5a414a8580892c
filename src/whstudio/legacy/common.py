"""What every step of the migration shares: the connection, the recorded state and its history,
the legacy tables and their row checksums."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from whstudio.legacy.queries import QUERIES, compose

SCHEMA = "whs_legacy"
# The legacy tables the migration knows. It transforms the first three, which must exist; the
# others it leaves intact, and a deployment may lack some (the notification tables come from a
# script the old deployment may never have run).
REQUIRED_TABLES = ("users", "tasks", "submissions")
LEGACY_TABLES = (
    "users",
    "task_categories",
    "tasks",
    "submissions",
    "payments",
    "user_sessions",
    "task_reviews",
    "disputes",
    "notifications",
    "notification_preferences",
    "notification_templates",
)
# The order of the recorded steps; rollback is possible from every one before "contracted".
STEPS = ("expanded", "backfilled", "verified", "contracted")


class StepRefused(RuntimeError):
    """The database is not at a step from which the requested one may run."""


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def with_db(url: str, dbname: str) -> str:
    """Return the URL with another database name."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


def state(conn: psycopg.Connection) -> dict[str, Any] | None:
    """Return the recorded state row, or None when the migration never started."""
    if conn.execute(QUERIES["common.state_table"]).fetchone()[0] is None:
        return None
    row = conn.execute(QUERIES["common.state"]).fetchone()
    if row is None:
        return None
    return dict(zip(("step", "read_path", "fresh_head", "updated_at"), row, strict=True))


def record(conn: psycopg.Connection, step: str, started: float, ok: bool, detail: dict) -> None:
    """Append a run of a step to whs_legacy.history."""
    conn.execute(QUERIES["common.record"], (step, started, ok, psycopg.types.json.Jsonb(detail)))


def set_step(conn: psycopg.Connection, step: str, **extra: Any) -> None:
    """Record the step the database is at (and the fresh head, when given)."""
    conn.execute(QUERIES["common.set_step"], {"step": step, "head": extra.get("head")})


def require(conn: psycopg.Connection, allowed: tuple[str | None, ...], what: str) -> dict | None:
    """Return the state row, or raise StepRefused when the database is at no step in `allowed`
    or a legacy table appeared since the baseline."""
    st = state(conn)
    step = st["step"] if st else None
    if step not in allowed:
        shown = ", ".join(s or "not started" for s in allowed)
        raise StepRefused(f"{what} runs after {shown}; this database is at {step or 'not started'}")
    if st is not None:
        refuse_if_tables_appeared(conn, what)
    return st


def digest_sql(table: str, columns: list[str], key: list[str]) -> sql.Composed:
    """Return a query of each row's key as text (`id`) and the md5 of the given columns.

    The key is the one `whs_legacy.row_key_v1` gives the change log: one key column's JSON text,
    several columns' JSON array, or for a table without a primary key the md5 of the whole row
    and its ordinal among identical rows.
    """
    row = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    if not key:
        return compose("common.digest_by_row", row=row, table=ident(table))
    if len(key) == 1:
        rid = compose("common.key_of_one_column", column=sql.Identifier(key[0]))
    else:
        rid = compose(
            "common.key_of_columns",
            columns=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in key),
        )
    return compose("common.digest_by_key", id=rid, row=row, table=ident(table))


def legacy_columns(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Return each legacy table present at the baseline with its columns, in order."""
    out: dict[str, list[str]] = {}
    for t, c in conn.execute(QUERIES["common.legacy_columns"]):
        out.setdefault(t, []).append(c)
    return out


def legacy_keys(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Return each legacy table's primary-key columns at the baseline ([] for none)."""
    out: dict[str, list[str]] = {t: [] for t in legacy_columns(conn)}
    for t, c in conn.execute(QUERIES["common.legacy_keys"]):
        out[t].append(c)
    return out


def appeared_tables(conn: psycopg.Connection) -> list[str]:
    """Legacy tables that exist now but did not at the baseline (a script run mid-migration)."""
    known = set(legacy_columns(conn))
    rows = conn.execute(QUERIES["common.present_tables"], (list(LEGACY_TABLES),))
    return sorted(t for (t,) in rows if t not in known)


def refuse_if_tables_appeared(conn: psycopg.Connection, what: str) -> None:
    """Raise StepRefused naming legacy tables that appeared since the baseline: no later step
    knows their rows or objects (rollback would take them for the migration's own)."""
    if appeared := appeared_tables(conn):
        raise StepRefused(
            f"{what} refused: table {', '.join(appeared)} appeared after expand took its baseline"
            " (was the old deployment's notifications script run during the migration?);"
            " run `whstudio legacy expand` again to take it into the baseline"
        )
