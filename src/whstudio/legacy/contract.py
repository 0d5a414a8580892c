"""Contract: remove what only the old application used, so the schema equals a fresh install's.

Everything is derived from the difference with a fresh install at head, like expand. Legacy-only
data (the old columns) is archived in whs_legacy.archive_<table> first, so nothing is lost.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from whstudio.db import catalog as db_catalog
from whstudio.db import migrate
from whstudio.legacy import ddl, objects, steps
from whstudio.legacy.common import (
    LEGACY_TABLES,
    REQUIRED_TABLES,
    StepRefused,
    connect,
    record,
    require,
    set_step,
    with_db,
)
from whstudio.legacy.users import USERNAME
from whstudio.legacy.verify import verify

# Tables the description says the migration must leave intact; the fresh install has none.
KEPT_TABLES = tuple(t for t in LEGACY_TABLES if t not in (*REQUIRED_TABLES, "task_categories"))
LEGACY_UPDATED_AT = "update_updated_at_column()"


@dataclass
class ContractReport:
    done: list[str] = field(default_factory=list)
    archived: dict[str, int] = field(default_factory=dict)
    renamed_users: int = 0
    catalog_diff: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _i(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _run(conn: psycopg.Connection, report: ContractReport, stmt: sql.Composable | str) -> None:
    text = stmt if isinstance(stmt, str) else stmt.as_string(conn)
    ddl.run(conn, text)
    report.done.append(text)


def _refuse_unless_ready(conn: psycopg.Connection, quiet_seconds: float) -> None:
    st = require(conn, ("verified",), "contract")
    if st["read_path"] != "new":
        raise StepRefused("switch the application to the new read path first")
    open_rows = conn.execute("SELECT count(*) FROM whs_legacy.quarantine").fetchone()[0]
    if open_rows:
        raise StepRefused(
            f"{open_rows} row(s) in quarantine: fix them through the old application"
            " (the dual writes migrate a fixed row) before contract"
        )
    before = conn.execute("SELECT last_value FROM whs_legacy.old_path_writes").fetchone()[0]
    time.sleep(quiet_seconds)
    after = conn.execute("SELECT last_value FROM whs_legacy.old_path_writes").fetchone()[0]
    if after != before:
        raise StepRefused(
            f"old-path writes still arrive ({after - before} in {quiet_seconds:g} s):"
            " stop the old application first"
        )


def _archive(conn, report, current: objects.Catalog, fresh: objects.Catalog) -> None:
    for t in sorted(set(current.tables) & set(fresh.tables)):
        gone = [c for c in current.tables[t] if c not in fresh.tables[t]]
        if not gone:
            continue
        archive = f"archive_{t}"
        exists = conn.execute("SELECT to_regclass(%s)", (f"whs_legacy.{archive}",)).fetchone()[0]
        if exists is None:
            cols = sql.SQL(", ").join(_i(c) for c in ["id", *gone])
            conn.execute(
                sql.SQL("CREATE TABLE whs_legacy.{} AS SELECT {} FROM public.{}").format(
                    _i(archive), cols, _i(t)
                )
            )
        report.archived[t] = conn.execute(
            sql.SQL("SELECT count(*) FROM whs_legacy.{}").format(_i(archive))
        ).fetchone()[0]


def _fix_usernames(conn: psycopg.Connection) -> int:
    """Give every user a name the new schema accepts; the old one is kept as display name."""
    n = 0
    rows = conn.execute("SELECT id, username FROM public.users ORDER BY id").fetchall()
    taken = {u for _, u in rows if u}
    for uid, name in rows:
        if name is not None and USERNAME.match(name):
            continue
        base = re.sub(r"[^A-Za-z0-9_.@-]+", "_", name or "").strip("_.@-")[:50] or "user"
        candidate, k = base, 1
        while candidate in taken or not USERNAME.match(candidate):
            candidate = f"{base}_{uid.hex[:6]}" if k == 1 else f"{base}_{uid.hex[:6]}_{k}"
            k += 1
        taken.add(candidate)
        conn.execute(
            "UPDATE public.users SET username = %s, display_name = coalesce(display_name, %s)"
            " WHERE id = %s",
            (candidate, name, uid),
        )
        n += 1
    return n


def contract(
    url: str, *, reference_url: str | None = None, quiet_seconds: float = 5.0
) -> ContractReport:
    """Remove the old columns, triggers and constraints; the result equals a fresh install."""
    started = time.time()
    report = ContractReport()
    with connect(url) as conn:
        _refuse_unless_ready(conn, quiet_seconds)
    if not verify(url, record=False).ok:
        raise StepRefused("verify finds differences: run `whstudio legacy verify`")
    fresh = steps.fresh_catalog(url, reference_url)
    with connect(url) as conn:
        cur = objects.read(conn)
        _archive(conn, report, cur, fresh)
        # The migration's own triggers go first: they read the columns that go next.
        for (t, n), _ in sorted(cur.triggers.items()):
            if n.startswith("whs_legacy_"):
                _run(
                    conn,
                    report,
                    sql.SQL("DROP TRIGGER IF EXISTS {} ON public.{}").format(_i(n), _i(t)),
                )
        with conn.transaction():
            report.renamed_users = _fix_usernames(conn)
        common = sorted(set(cur.tables) & set(fresh.tables))
        for (t, n), _ in sorted(cur.indexes.items()):
            if t in common and (t, n) not in fresh.indexes:
                conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS public.{}").format(_i(n)))
                report.done.append(f"DROP INDEX CONCURRENTLY {n}")
        for (t, n), con in sorted(cur.constraints.items()):
            if t in common and fresh.constraints.get((t, n)) != con:
                want = fresh.constraints.get((t, n))
                if want is not None and (want.kind, want.definition) == (con.kind, con.definition):
                    continue
                _run(
                    conn,
                    report,
                    sql.SQL("ALTER TABLE public.{} DROP CONSTRAINT IF EXISTS {}").format(
                        _i(t), _i(n)
                    ),
                )
        for (t, n), _ in sorted(cur.triggers.items()):
            if t in common and (t, n) not in fresh.triggers and not n.startswith("whs_legacy_"):
                _run(
                    conn,
                    report,
                    sql.SQL("DROP TRIGGER IF EXISTS {} ON public.{}").format(_i(n), _i(t)),
                )
        for t in common:
            gone = [c for c in cur.tables[t] if c not in fresh.tables[t]]
            if gone:
                drops = sql.SQL(", ").join(sql.SQL("DROP COLUMN {}").format(_i(c)) for c in gone)
                _run(conn, report, sql.SQL("ALTER TABLE public.{} {}").format(_i(t), drops))
        for t in common:
            for c, want in fresh.tables[t].items():
                have = cur.tables[t].get(c)
                if have is None:
                    raise StepRefused(f"{t}.{c} is missing: run expand again first")
                if have.type != want.type:
                    raise StepRefused(f"{t}.{c} is {have.type}, a fresh install has {want.type}")
                _align_column(conn, report, t, c, have, want)
        # Constraints of a fresh install that are still missing: NOT VALID, then validated.
        cur = objects.read(conn)
        for (t, n), con in sorted(fresh.constraints.items()):
            if t not in common or (t, n) in cur.constraints:
                continue
            if con.kind in ("u", "p"):
                cols = con.definition.split(" ", 1)[1]
                conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS public.{}").format(_i(n)))
                ddl.create_index_concurrently(
                    conn,
                    f"CREATE UNIQUE INDEX CONCURRENTLY {_i(n).as_string(conn)}"
                    f" ON public.{_i(t).as_string(conn)} {cols}",
                )
                kind = "PRIMARY KEY" if con.kind == "p" else "UNIQUE"
                attach = "ALTER TABLE public.{} ADD CONSTRAINT {} {} USING INDEX {}"
                _run(conn, report, sql.SQL(attach).format(_i(t), _i(n), sql.SQL(kind), _i(n)))
                continue
            _run(
                conn,
                report,
                f"ALTER TABLE public.{_i(t).as_string(conn)} ADD CONSTRAINT"
                f" {_i(n).as_string(conn)} {con.definition} NOT VALID",
            )
            _run(
                conn,
                report,
                sql.SQL("ALTER TABLE public.{} VALIDATE CONSTRAINT {}").format(_i(t), _i(n)),
            )
        # Whatever else a fresh install has (a revision that landed since expand) comes as in
        # expand.
        steps.apply_statements(
            conn, objects.expand_plan(conn, objects.read(conn), fresh), steps.ExpandReport()
        )
        cur = objects.read(conn)
        for (t, n), (_, enabled) in sorted(cur.triggers.items()):
            want = fresh.triggers.get((t, n))
            if want and want[1] != enabled and want[1] == "O":
                _run(
                    conn,
                    report,
                    sql.SQL("ALTER TABLE public.{} ENABLE TRIGGER {}").format(_i(t), _i(n)),
                )
        _retarget_updated_at(conn, report, cur, fresh)
        for sig, body in sorted(fresh.functions.items()):
            if cur.functions.get(sig) not in (None, body):
                _run(conn, report, body)
        for sig in sorted(set(cur.functions) - set(fresh.functions)):
            _run(conn, report, f"DROP FUNCTION IF EXISTS public.{sig}")
        from alembic import command

        command.stamp(migrate._config(url), "head")
        report.catalog_diff = structural_diff(url, reference_url)
        report.seconds = time.time() - started
        with conn.transaction():
            if not report.catalog_diff:
                set_step(conn, "contracted", head=migrate.head_revision())
            record(
                conn,
                "contract",
                started,
                not report.catalog_diff,
                {
                    "statements": len(report.done),
                    "archived": report.archived,
                    "catalog_diff": report.catalog_diff[:50],
                },
            )
    return report


def _align_column(conn, report, t: str, c: str, have, want) -> None:
    tbl, col = _i(t), _i(c)
    if have.default != want.default:
        if want.default is None:
            _run(
                conn,
                report,
                sql.SQL("ALTER TABLE public.{} ALTER COLUMN {} DROP DEFAULT").format(tbl, col),
            )
        else:
            _run(
                conn,
                report,
                f"ALTER TABLE public.{tbl.as_string(conn)} ALTER COLUMN"
                f" {col.as_string(conn)} SET DEFAULT {want.default}",
            )
    if have.not_null and not want.not_null:
        _run(
            conn,
            report,
            sql.SQL("ALTER TABLE public.{} ALTER COLUMN {} DROP NOT NULL").format(tbl, col),
        )
    elif want.not_null and not have.not_null:
        if want.default is not None:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL session_replication_role = replica"))
                conn.execute(
                    sql.SQL("UPDATE public.{} SET {} = DEFAULT WHERE {} IS NULL").format(
                        tbl, col, col
                    )
                )
        check = _i(f"whs_legacy_{c}_not_null"[:63])
        # SET NOT NULL after a validated CHECK skips its own full scan under the strong lock.
        _run(
            conn,
            report,
            sql.SQL(
                "ALTER TABLE public.{} ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID"
            ).format(tbl, check, col),
        )
        _run(
            conn, report, sql.SQL("ALTER TABLE public.{} VALIDATE CONSTRAINT {}").format(tbl, check)
        )
        _run(
            conn,
            report,
            sql.SQL("ALTER TABLE public.{} ALTER COLUMN {} SET NOT NULL").format(tbl, col),
        )
        _run(conn, report, sql.SQL("ALTER TABLE public.{} DROP CONSTRAINT {}").format(tbl, check))


def _retarget_updated_at(conn, report, cur: objects.Catalog, fresh: objects.Catalog) -> None:
    """Kept legacy tables' updated_at triggers call the fresh install's identical function, so
    that the legacy one can go."""
    if LEGACY_UPDATED_AT not in cur.functions or "set_updated_at()" not in fresh.functions:
        return
    for (t, n), (definition, _) in sorted(cur.triggers.items()):
        if t in fresh.tables or "update_updated_at_column()" not in definition:
            continue
        new = definition.replace("update_updated_at_column()", "set_updated_at()")
        _run(
            conn,
            report,
            sql.SQL("DROP TRIGGER {} ON public.{}; ").format(_i(n), _i(t)).as_string(conn) + new,
        )


def structural_diff(url: str, reference_url: str | None = None) -> list[str]:
    """Return the catalog diff with a fresh install, the kept legacy tables left out."""
    skip = ("alembic_version", *KEPT_TABLES)
    if reference_url:
        return db_catalog.diff(reference_url, url, skip_tables=skip)
    dbname = psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "postgres"
    scratch = f"{dbname[:40]}_whsref_{int(time.time())}"
    admin = with_db(url, "postgres")
    with connect(admin) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(_i(scratch)))
    try:
        ref = with_db(url, scratch)
        migrate.upgrade(ref, "head")
        return db_catalog.diff(ref, url, skip_tables=skip)
    finally:
        with connect(admin) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_i(scratch)))
