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
from whstudio.legacy.queries import QUERIES, compose
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
    open_rows = conn.execute(QUERIES["contract.quarantined_rows"]).fetchone()[0]
    if open_rows:
        raise StepRefused(
            f"{open_rows} row(s) in quarantine: fix them through the old application"
            " (the dual writes migrate a fixed row) before contract"
        )
    before = conn.execute(QUERIES["contract.old_path_writes"]).fetchone()[0]
    time.sleep(quiet_seconds)
    after = conn.execute(QUERIES["contract.old_path_writes"]).fetchone()[0]
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
        exists = conn.execute(QUERIES["contract.regclass"], (f"whs_legacy.{archive}",))
        if exists.fetchone()[0] is None:
            cols = sql.SQL(", ").join(_i(c) for c in ["id", *gone])
            conn.execute(
                compose("contract.archive", archive=_i(archive), columns=cols, table=_i(t))
            )
        report.archived[t] = conn.execute(
            compose("contract.archived_rows", archive=_i(archive))
        ).fetchone()[0]


def _fix_usernames(conn: psycopg.Connection) -> int:
    """Give every user a name the new schema accepts; the old one is kept as display name."""
    n = 0
    rows = conn.execute(QUERIES["contract.users"]).fetchall()
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
        conn.execute(QUERIES["contract.rename_user"], (candidate, name, uid))
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
                _run(conn, report, compose("ddl.drop_trigger", name=_i(n), table=_i(t)))
        with conn.transaction():
            report.renamed_users = _fix_usernames(conn)
        common = sorted(set(cur.tables) & set(fresh.tables))
        for (t, n), _ in sorted(cur.indexes.items()):
            if t in common and (t, n) not in fresh.indexes:
                conn.execute(compose("ddl.drop_index", name=_i(n)))
                report.done.append(f"DROP INDEX CONCURRENTLY {n}")
        for (t, n), con in sorted(cur.constraints.items()):
            if t in common and fresh.constraints.get((t, n)) != con:
                want = fresh.constraints.get((t, n))
                if want is not None and (want.kind, want.definition) == (con.kind, con.definition):
                    continue
                _run(conn, report, compose("ddl.drop_constraint", table=_i(t), name=_i(n)))
        for (t, n), _ in sorted(cur.triggers.items()):
            if t in common and (t, n) not in fresh.triggers and not n.startswith("whs_legacy_"):
                _run(conn, report, compose("ddl.drop_trigger", name=_i(n), table=_i(t)))
        for t in common:
            gone = [c for c in cur.tables[t] if c not in fresh.tables[t]]
            if gone:
                drops = sql.SQL(", ").join(
                    compose("contract.drop_column", column=_i(c)) for c in gone
                )
                _run(conn, report, compose("ddl.alter_table", table=_i(t), actions=drops))
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
                conn.execute(compose("ddl.drop_index", name=_i(n)))
                index = compose(
                    "contract.unique_index", name=_i(n), table=_i(t), columns=sql.SQL(cols)
                )
                ddl.create_index_concurrently(conn, index.as_string(conn))
                kind = "PRIMARY KEY" if con.kind == "p" else "UNIQUE"
                attach = compose(
                    "contract.attach_index", table=_i(t), name=_i(n), kind=sql.SQL(kind)
                )
                _run(conn, report, attach)
                continue
            definition = sql.SQL(con.definition)
            _run(
                conn,
                report,
                compose(
                    "contract.add_constraint_not_valid",
                    table=_i(t),
                    name=_i(n),
                    definition=definition,
                ),
            )
            _run(conn, report, compose("contract.validate_constraint", table=_i(t), name=_i(n)))
        # Whatever else a fresh install has (a revision that landed since expand) comes as in
        # expand.
        steps.apply_statements(
            conn, objects.expand_plan(conn, objects.read(conn), fresh), steps.ExpandReport()
        )
        cur = objects.read(conn)
        for (t, n), (_, enabled) in sorted(cur.triggers.items()):
            want = fresh.triggers.get((t, n))
            if want and want[1] != enabled and want[1] == "O":
                _run(conn, report, compose("contract.enable_trigger", table=_i(t), name=_i(n)))
        _retarget_updated_at(conn, report, cur, fresh)
        for sig, body in sorted(fresh.functions.items()):
            if cur.functions.get(sig) not in (None, body):
                _run(conn, report, body)
        for sig in sorted(set(cur.functions) - set(fresh.functions)):
            _run(conn, report, compose("contract.drop_function", signature=sql.SQL(sig)))
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
            _run(conn, report, compose("contract.drop_default", table=tbl, column=col))
        else:
            default = sql.SQL(want.default)
            _run(
                conn,
                report,
                compose("contract.set_default", table=tbl, column=col, default=default),
            )
    if have.not_null and not want.not_null:
        _run(conn, report, compose("contract.drop_not_null", table=tbl, column=col))
    elif want.not_null and not have.not_null:
        if want.default is not None:
            with conn.transaction():
                conn.execute(QUERIES["contract.without_triggers"])
                conn.execute(compose("contract.fill_default", table=tbl, column=col))
        check = _i(f"whs_legacy_{c}_not_null"[:63])
        # SET NOT NULL after a validated CHECK skips its own full scan under the strong lock.
        _run(conn, report, compose("contract.not_null_check", table=tbl, name=check, column=col))
        _run(conn, report, compose("contract.validate_constraint", table=tbl, name=check))
        _run(conn, report, compose("contract.set_not_null", table=tbl, column=col))
        _run(conn, report, compose("contract.drop_check", table=tbl, name=check))


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
            compose("contract.retarget_trigger", name=_i(n), table=_i(t), definition=sql.SQL(new)),
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
        conn.execute(compose("common.create_database", name=_i(scratch)))
    try:
        ref = with_db(url, scratch)
        migrate.upgrade(ref, "head")
        return db_catalog.diff(ref, url, skip_tables=skip)
    finally:
        with connect(admin) as conn:
            conn.execute(compose("common.drop_database", name=_i(scratch)))
